"""The HTTP API (`triage serve`): the library's models and calls behind versioned endpoints.

FastAPI on uvicorn: its request and response models are pydantic models, so the library's own
models (`Decision`, `TransitionDecision`, `Indicator`, `DecisionRecordV1`) are the contract and
the OpenAPI document is generated from them. Bodies are read by the application (`_body`), not
by FastAPI's parameter binding, so that a referral is checked by the same `FrontDoor.validate`
as the library's, with the same error codes, paths and valid values.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field, JsonValue
from starlette.concurrency import run_in_threadpool

from triage._base import Model
from triage.audit.log import DecisionLog
from triage.audit.outcome import parse_outcome
from triage.audit.record import DecisionRecordV1
from triage.audit.show import find_record
from triage.audit.stores import open_store
from triage.audit.verify import verify_store
from triage.changes import ChildChanges, what_would_change
from triage.decision import Decision
from triage.engine import LIBRARY_VERSION, FrontDoor
from triage.errors import InputNotJson, LogError, TriageError, UsageError
from triage.journey import JourneyEvent, Journeys, TransitionDecision
from triage.loader import load_rulebook
from triage.pathway import load_pathway
from triage.referral import Referral
from triage.rulebook import Indicator, OverrideReason, Reference, Rulebook
from triage.serve.batching import GroupCommit
from triage.serve.problems import HttpRefusal, error_problem, install
from triage.serve.settings import SETTINGS_VARIABLE, Role, Settings, TokenEntry, role_of
from triage.serve.wiring import SECURITY_HEADERS, add_openapi_components, configure_logging

API_VERSION = "1"
_access = structlog.get_logger("triage.serve.access")


class RouteResult(Model):
    decisions: tuple[Decision, ...]
    explanations: tuple[str, ...] | None = Field(
        default=None, description="Each decision in plain words (`?explain=true`)."
    )
    changes: tuple[ChildChanges, ...] | None = Field(
        default=None,
        description="Per child, the single changes to the facts that would move its level or "
        "route (`?changes=true`); never logged, not decisions.",
    )


class RuleInWords(Model):
    id: str
    kind: str
    title: str = Field(description="The rule in words.")
    outcome: dict[str, JsonValue]
    reference: Reference = Field(description="The guidance, or its editions with dates.")
    local_choice: str | None = Field(
        description="Set when the rulebook, not the guidance, chose this rule: why."
    )
    effective_from: str
    effective_to: str | None


class RulebookSummary(Model):
    id: str
    version: str
    fingerprint: str
    title: str
    reference: str
    rules: tuple[RuleInWords, ...]
    override_reasons: tuple[OverrideReason, ...]


class Health(Model):
    status: str
    version: str = LIBRARY_VERSION


def rulebook_summary(rulebook: Rulebook) -> RulebookSummary:
    return RulebookSummary(
        id=rulebook.id,
        version=rulebook.version,
        fingerprint=rulebook.fingerprint,
        title=rulebook.rulebook.title,
        reference=rulebook.rulebook.reference,
        rules=tuple(
            RuleInWords(
                id=rule.id,
                kind=str(rule.kind),
                title=rule.title,
                outcome=rule.then.model_dump(mode="json", exclude_none=True),
                reference=rule.reference,
                local_choice=rule.local_choice,
                effective_from=rule.effective_from.isoformat(),
                effective_to=None if rule.effective_to is None else rule.effective_to.isoformat(),
            )
            for rule in rulebook.rules
        ),
        override_reasons=rulebook.override_reasons,
    )


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "referral": Referral.model_json_schema,
    "decision": Decision.model_json_schema,
    "rulebook": Rulebook.model_json_schema,
    "record": DecisionRecordV1.model_json_schema,
    "journey_event": JourneyEvent.model_json_schema,
    "transition_decision": TransitionDecision.model_json_schema,
}


class Service:
    """The loaded rulebook, pathway, engine and log. One lock around the log and the engine:
    the log is not thread-safe and durable_rules runs one call at a time anyway."""

    def __init__(self, settings: Settings) -> None:
        settings.check()
        self.settings = settings
        self.tokens: tuple[TokenEntry, ...] = settings.tokens()
        self.rulebook = load_rulebook(settings.rules)
        self.pathway = load_pathway(settings.pathway, rulebook=self.rulebook)
        self.door = FrontDoor(self.rulebook, engine=settings.engine)  # type: ignore[arg-type]
        self.journeys = Journeys(self.rulebook, self.pathway, engine=settings.engine)  # type: ignore[arg-type]
        self.lock = threading.Lock()
        self.log = (
            None
            if settings.log is None
            else DecisionLog(settings.log, keep_detail=settings.keep_detail)
        )
        self.group = None if self.log is None else GroupCommit(self.door, self.log, self.lock)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()

    def route(self, body: bytes) -> tuple[Decision, ...]:
        if self.group is not None:  # logged: with the referrals waiting meanwhile, in one batch
            return self.group.route(body)
        with self.lock:
            return self.door.route(body)

    def changes(self, body: bytes) -> tuple[ChildChanges, ...]:
        with self.lock:  # the engine, not the log: nearby referrals are never logged
            return what_would_change(self.door, body)

    def journey(self, body: bytes) -> TransitionDecision:
        with self.lock:
            event = self.journeys.validate(body)
            decision = self.journeys.decide(event)
            if self.log is not None:
                self.log.record_transitions(self.journeys, [event], [decision])
            return decision

    def needs_log(self) -> DecisionLog:
        if self.log is None:
            raise LogError("(none)", "this server was started without --log")
        return self.log


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def allow(*roles: Role) -> Callable[[Request], Service]:
    """A dependency: the caller's bearer token must name one of `roles`."""

    def check(request: Request) -> Service:
        service = _service(request)
        if not service.tokens:  # loopback without tokens (Settings.check): every role
            return service
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="triage"'}
        if scheme.lower() != "bearer" or not token.strip():
            raise HttpRefusal(401, "send Authorization: Bearer TOKEN", challenge)
        role = role_of(service.tokens, token.strip())
        if role is None:
            raise HttpRefusal(401, "the token is not one this server knows", challenge)
        if role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise HttpRefusal(403, f"this endpoint is for the role(s): {allowed}")
        return service

    return check


async def _body(request: Request, *media: str) -> bytes:
    """The request body, refused when of another media type (415) or over the limit (413),
    counted as it arrives, so a body without a Content-Length is stopped too."""
    given = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if given not in media:
        raise HttpRefusal(415, f"send Content-Type: {' or '.join(media)}")
    limit = _service(request).settings.max_body
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HttpRefusal(413, f"the body is over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpRefusal(413, f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


FrontDoorRole = Annotated[Service, Depends(allow(Role.FRONT_DOOR))]
AuditorRole = Annotated[Service, Depends(allow(Role.AUDITOR))]
AnyRole = Annotated[Service, Depends(allow(Role.FRONT_DOOR, Role.AUDITOR))]
JSON = ("application/json",)
JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}


def _schema_body(name: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def build_routes(app: FastAPI) -> None:
    @app.post(
        "/v1/route",
        response_model=RouteResult,
        openapi_extra=_schema_body("Referral"),
        summary="Route one referral: a decision per child",
    )
    async def route(
        request: Request,
        service: FrontDoorRole,
        explain: Annotated[bool, Query(description="Add each decision in words.")] = False,
        changes: Annotated[bool, Query(description="Add what would change each.")] = False,
    ) -> RouteResult:
        body = await _body(request, *JSON)
        decisions = await run_in_threadpool(service.route, body)
        words = tuple(service.door.explain(d) for d in decisions) if explain else None
        nearby = await run_in_threadpool(service.changes, body) if changes else None
        return RouteResult(decisions=decisions, explanations=words, changes=nearby)

    @app.post(
        "/v1/route/batch",
        summary="Route a batch: JSON Lines in, one JSON line out per referral, streamed",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            }
        },
        response_class=StreamingResponse,
        responses={200: {"content": {"application/x-ndjson": {}}}},
    )
    async def batch(request: Request, service: FrontDoorRole) -> StreamingResponse:
        body = await _body(request, *JSON_LINES)
        lines = body.decode("utf-8", errors="replace").splitlines()

        def answers() -> Iterator[bytes]:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    decisions = service.route(line.encode())
                    result = {
                        "line": number,
                        "decisions": [d.model_dump(mode="json") for d in decisions],
                    }
                except TriageError as error:
                    result = {"line": number, "problem": error_problem(error)}
                yield json.dumps(result).encode() + b"\n"

        return StreamingResponse(answers(), media_type="application/x-ndjson")

    @app.post(
        "/v1/journey",
        response_model=TransitionDecision,
        openapi_extra=_schema_body("JourneyEvent"),
        summary="Decide one journey event against the pathway",
    )
    async def journey(request: Request, service: FrontDoorRole) -> TransitionDecision:
        body = await _body(request, *JSON)
        return await run_in_threadpool(service.journey, body)

    @app.get("/v1/vocabulary", response_model=tuple[Indicator, ...], summary="The indicators")
    def vocabulary(service: AnyRole) -> tuple[Indicator, ...]:
        return service.rulebook.indicators

    @app.get("/v1/rulebook", response_model=RulebookSummary, summary="The rulebook in words")
    def rulebook(service: AnyRole) -> RulebookSummary:
        return rulebook_summary(service.rulebook)

    @app.get("/v1/schemas/{name}", summary="A JSON Schema of the contract")
    def schema(name: str, service: AnyRole) -> dict[str, Any]:
        if name not in SCHEMAS:
            raise UsageError(f"no schema {name!r}; valid values: {', '.join(sorted(SCHEMAS))}")
        return SCHEMAS[name]()

    @app.post(
        "/v1/outcomes",
        response_model=DecisionRecordV1,
        status_code=201,
        openapi_extra=_schema_body("ManagerOutcome"),
        summary="Record the Front Door manager's outcome for a logged decision",
    )
    async def outcome(request: Request, service: FrontDoorRole) -> DecisionRecordV1:
        body = await _body(request, *JSON)
        given = parse_outcome(_json(body))

        def record() -> DecisionRecordV1:
            with service.lock:
                return service.needs_log().record_outcome(given, pathway=service.pathway)

        return await run_in_threadpool(record)

    @app.get("/v1/log/verify", summary="Verify the decision log's chain and head")
    def verify(service: AuditorRole) -> dict[str, Any]:
        with service.lock:
            return verify_store(service.needs_log().store).to_json()

    @app.get(
        "/v1/log/records/{which}",
        response_model=DecisionRecordV1,
        summary="One logged record: by seq, or by a decision id's pseudonym (p-...)",
    )
    def record(which: str, service: AuditorRole) -> DecisionRecordV1:
        with service.lock:
            return find_record(service.needs_log().store, which)

    @app.get("/healthz", response_model=Health, summary="The process answers")
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, summary="Rules loaded and the log reachable")
    def readyz(request: Request) -> Health:
        service = _service(request)
        if service.settings.log is not None:
            store = open_store(service.settings.log)
            store.close()
        return Health(status="ready")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise InputNotJson("the body", error.lineno, error.colno, error.msg) from None
    except UnicodeDecodeError:
        raise InputNotJson("the body", 1, 1, "not UTF-8") from None


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI application. Refuses (`UsageError`) a non-loopback host without tokens."""
    settings = settings or Settings()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        title="triage",
        version=LIBRARY_VERSION,
        summary="Children's services Front Door routing on declarative rules",
        openapi_url="/v1/openapi.json",
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN: not served
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    install(app)
    build_routes(app)
    from triage.serve.pages import install_pages

    # The playground only on a practitioner's own machine (loopback, no tokens); the log's
    # pages wherever there is a log, behind the roles when there are tokens.
    install_pages(app, _service, playground=not service.tokens)

    @app.middleware("http")
    async def headers_and_access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            if name not in response.headers:  # a page sets its own, looser, CSP
                response.headers[name] = value
        route = request.scope.get("route")
        # The route's template, never the path: a path may hold a decision id.
        _access.info(
            "http_request",
            method=request.method,
            route=getattr(route, "path", "(unmatched)"),
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response

    add_openapi_components(app)
    return app


def factory() -> FastAPI:
    """For uvicorn's worker processes: the settings come from the environment."""
    configure_logging()
    return create_app(Settings.from_json(os.environ[SETTINGS_VARIABLE]))


def run(settings: Settings, *, port: int, workers: int = 1) -> None:
    """Serve until stopped. The access log is the application's (route templates, never
    paths): uvicorn's own, which prints paths, is off."""
    import uvicorn

    configure_logging()
    if workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=port, access_log=False)
        return
    # Each worker process builds its own application from the settings in its environment.
    os.environ[SETTINGS_VARIABLE] = settings.to_json()
    uvicorn.run(
        "triage.serve:factory",
        factory=True,
        host=settings.host,
        port=port,
        workers=workers,
        access_log=False,
    )
