"""The decision log in the browser: the Front Door manager's outcome, and the auditor's page.

- `GET /log/record?which=SEQ|p-PSEUDONYM`: one logged decision record as the log holds it
  (pseudonyms, levels, routes, reasons), each child's recorded outcome, or the outcome form.
- `POST /log/outcome`: the form, recorded by `DecisionLog.record_outcome` (checked against the
  decision's rulebook snapshot and the server's pathway); a refusal is shown beside its field.
- `GET /log`: the auditor's page: `verify` of the log, a faithful replay, and the managers'
  outcomes against the recommendations as replay reports them.

Without tokens (loopback only) they are open, as the playground is. With tokens they are the
only pages served, and the browser presents a token (`_rendering`): the record page takes
either role, the outcome the `front_door` role, the auditor's page the `auditor` role.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from triage.audit import replay_log, verify_store
from triage.audit.outcome import OUTCOME_KIND, ManagerOutcome
from triage.audit.show import find_record
from triage.errors import MoveRefused, OutcomeRefused, TriageError
from triage.serve.pages._rendering import (
    FORM,
    ServiceOf,
    bounded_body,
    common,
    media_type,
    page,
    refusal,
    same_site,
)
from triage.serve.settings import Role

OUTCOME_FIELDS = ("decision_id", "seq", "outcome", "route", "level", "reason", "note", "decided_by")


def outcomes_of(store: Any, pseudonyms: set[str]) -> dict[str, dict[str, Any]]:
    """The recorded outcome of each of these decisions that has one, by pseudonym."""
    found: dict[str, dict[str, Any]] = {}
    for row in store.rows():
        if row.kind != OUTCOME_KIND:
            continue
        record = json.loads(row.body)
        pseudonym = record["input"]["decision"]["decision_id"]
        if pseudonym in pseudonyms:
            found[pseudonym] = {"seq": row.seq, **record["output"][0]}
    return found


def _field_of(error: TriageError) -> str:
    """The form field a refusal is about, to show it beside that field."""
    if isinstance(error, MoveRefused):
        return "route"
    why = getattr(error, "why", "")
    if why.startswith("reason") or "override_reasons" in why:
        return "reason"
    if why.startswith("route") or "decides what was recommended" in why:
        return "route"
    return "decision_id"


def parse_form(values: dict[str, str]) -> tuple[ManagerOutcome | None, dict[str, str]]:
    """The outcome a form describes, or the problems beside each field."""
    data: dict[str, Any] = {
        "decision_id": values.get("decision_id", ""),
        "outcome": values.get("outcome", ""),
        "decided_by": values.get("decided_by", "").strip(),
    }
    if values.get("note", "").strip():
        data["note"] = values["note"].strip()
    errors: dict[str, str] = {}
    if data["outcome"] == "overridden":
        for name in ("route", "reason"):
            if values.get(name):
                data[name] = values[name]
            else:
                errors[name] = f"an override names the {name} decided"
        level = values.get("level", "")
        if level:
            data["level"] = int(level) if level.isdigit() else level
    elif data["outcome"] != "accepted":
        errors["outcome"] = "choose accept or override"
    if not data["decided_by"]:
        errors["decided_by"] = "say who decided (a staff id; it is pseudonymised in the log)"
    if errors:
        return None, errors
    try:
        return ManagerOutcome.model_validate(data), {}
    except ValidationError as error:
        for item in error.errors(include_url=False, include_input=False):
            name = str(item["loc"][0]) if item["loc"] else "outcome"
            errors.setdefault(name, item["msg"].removeprefix("Value error, "))
        return None, errors


def install(app: FastAPI, service_of: ServiceOf) -> None:
    def record_page(service: Any, which: str, status: int = 200, **extra: Any) -> HTMLResponse:
        context: dict[str, Any] = {
            "which": which,
            "record": None,
            "outcomes": {},
            "outcome_errors": {},
            "outcome_values": {},
            "keep_detail": service.settings.keep_detail,
            "reasons": service.rulebook.override_reasons,
            "problem": None,
            "just_recorded": False,
        } | extra
        if service.log is None:
            context["problem"] = "this server was started without --log"
            return page("record.html", 404, **context, **common(service))
        if not which:  # the lookup form alone, or a refusal that names no record
            return page("record.html", status, **context, **common(service))
        try:
            with service.lock:
                record = find_record(service.log.store, which)
                pseudonyms = {str(d.get("decision_id")) for d in record.output}
                context["outcomes"] = outcomes_of(service.log.store, pseudonyms)
        except TriageError as error:
            context["problem"] = error.message
            return page("record.html", 404, **context, **common(service))
        if record.kind.value != "triage_decision":
            context["problem"] = f"record {record.seq} is a {record.kind.value}, not a decision"
            return page("record.html", 404, **context, **common(service))
        context["record"] = record
        stray = [
            m
            for k, e in context["outcome_errors"].items()
            if k not in pseudonyms
            for m in e.values()
        ]
        if stray:  # about a decision this record does not hold (an unknown one)
            context["problem"] = "; ".join(stray)
        return page("record.html", status, **context, **common(service))

    @app.get("/log/record", include_in_schema=False)
    def show(request: Request, which: str = "", recorded: str = "") -> Response:
        service = service_of(request)
        refused = refusal(request, service, Role.FRONT_DOOR, Role.AUDITOR)
        if refused is not None:
            return refused
        return record_page(service, which.strip(), just_recorded=recorded == "1")

    @app.post("/log/outcome", include_in_schema=False)
    async def outcome(request: Request) -> Response:
        service = service_of(request)
        refused = refusal(request, service, Role.FRONT_DOOR)
        if refused is not None:
            return refused
        if not same_site(request) or media_type(request) != FORM:
            return record_page(service, "", 403, problem="refused: the form came from elsewhere")
        body = await bounded_body(request, service.settings.max_body)
        if body is None:
            return record_page(service, "", 413, problem="the form is over the size limit")
        given = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        values = {k: v[-1] for k, v in given.items() if k in OUTCOME_FIELDS}
        which = values.get("seq", "")
        wanted, errors = parse_form(values)
        if wanted is None:
            return record_page(
                service,
                which,
                422,
                outcome_errors={values.get("decision_id"): errors},
                outcome_values=values,
            )
        log = service.log
        if log is None:
            return record_page(service, which, 404)

        def record() -> None:
            with service.lock:
                log.record_outcome(wanted, pathway=service.pathway)

        try:
            await run_in_threadpool(record)
        except (OutcomeRefused, MoveRefused) as error:
            errors = {_field_of(error): error.message}
            return record_page(
                service,
                which,
                409,
                outcome_errors={values.get("decision_id"): errors},
                outcome_values=values,
            )
        # After a POST, a GET: reloading the page does not send the outcome twice.
        return RedirectResponse(f"/log/record?which={quote(which)}&recorded=1", status_code=303)

    @app.get("/log", include_in_schema=False)
    async def auditor(request: Request) -> Response:
        service = service_of(request)
        refused = refusal(request, service, Role.AUDITOR)
        if refused is not None:
            return refused
        if service.log is None:
            return page("log.html", 404, verified=None, report=None, **common(service))
        target = service.settings.log

        def work() -> tuple[Any, Any]:
            with service.lock:  # the service's own connection to the log
                verified = verify_store(service.log.store)
            # Replay reads through its own connection: routing goes on meanwhile.
            report = replay_log(target, engine="compiled") if verified.chain_ok else None
            return verified, report

        try:
            verified, report = await run_in_threadpool(work)
        except TriageError as error:
            return page(
                "log.html",
                503,
                verified=None,
                report=None,
                problem=error.message,
                **common(service),
            )
        return page("log.html", verified=verified, report=report, problem=None, **common(service))
