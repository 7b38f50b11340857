"""The playground: server-rendered pages for practitioners to try a case (issue 14, item 5).

Jinja2 templates with autoescape on, one stylesheet served from here, no script, font or image
from anywhere: the pages work with scripts off. The form is built from the rulebook's
vocabulary (concerns grouped by domain, in their plain labels); a problem is shown beside its
field. A referral tried here is routed, never logged, and the form's POST is refused from
another origin, so another site cannot make a browser route through it.

The playground is served only by a server without tokens, which `Settings.check` allows only on
a loopback host: a practitioner's own machine. Bearer tokens are for case systems, not browsers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader
from starlette.concurrency import run_in_threadpool

from triage.changes import what_would_change
from triage.errors import ReferralInvalid
from triage.referral import SOURCE_ALIASES, Consent, Notification

HERE = Path(__file__).resolve().parent
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
FORM = "application/x-www-form-urlencoded"
# Where a referral's problem is shown on the form (the form has one child).
FIELDS = {
    "received_at": "received_on",
    "source": "source",
    "notification": "notification",
    "children[0].date_of_birth": "date_of_birth",
    "children[0].expected_date_of_birth": "expected_date_of_birth",
    "children[0]": "date_of_birth",
    "children[0].open_involvement.service": "open_service",
    "children[0].previous_referrals": "previous_referrals",
    "consent": "consent",
}
DEFAULTS: dict[str, Any] = {
    "received_on": "",
    "source": "police",
    "notification": Notification.INTER_AGENCY_REFERRAL.value,
    "date_of_birth": "",
    "expected_date_of_birth": "",
    "open_service": "",
    "previous_referrals": "0",
    "concerns": [],
    "consent": Consent.GIVEN.value,
    "immediate_danger": False,
}

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=True, auto_reload=False
)


def _field(location: str) -> str:
    if location in FIELDS:
        return FIELDS[location]
    if location.startswith("concerns"):
        return "concerns"
    return FIELDS.get(location.split(".")[0], "received_on")


def _same_site(request: Request) -> bool:
    """A form POST from this server's own page: the browser's Sec-Fetch-Site, else the Origin
    (the pages' referrer policy keeps it for same-origin requests)."""
    fetched = request.headers.get("sec-fetch-site")
    if fetched is not None:
        return fetched in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def referral_from_form(values: dict[str, Any]) -> dict[str, Any]:
    """The referral a filled-in form describes: one child, synthetic ids."""
    child: dict[str, Any] = {"child_id": "PLAYGROUND-CHILD-1"}
    for name in ("date_of_birth", "expected_date_of_birth"):
        if values[name]:
            child[name] = values[name]
    if values["open_service"]:
        child["open_involvement"] = {"service": values["open_service"]}
    count = values["previous_referrals"]
    received = values["received_on"]
    if count.isdigit() and int(count) and received:
        try:
            day = date.fromisoformat(received)
        except ValueError:
            day = None
        if day is not None:  # spread over the 12 months before receipt
            child["previous_referrals"] = [
                (day - timedelta(days=30 * (i + 1))).isoformat() for i in range(min(int(count), 11))
            ]
    return {
        "referral_id": "PLAYGROUND-1",
        "received_at": f"{received}T09:00:00+00:00" if received else "",
        "source": values["source"],
        "notification": values["notification"],
        "children": [child],
        "concerns": [{"indicator": c, "about": "child"} for c in values["concerns"]],
        "consent": values["consent"],
        "immediate_danger": bool(values["immediate_danger"]),
    }


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(
        html,
        status_code=status,
        headers={"Content-Security-Policy": PAGE_POLICY, "Referrer-Policy": "same-origin"},
    )


def install_pages(app: FastAPI, service_of: Callable[[Request], Any]) -> None:
    from triage.serve.app import rulebook_summary

    def common(request: Request) -> dict[str, Any]:
        rulebook = service_of(request).rulebook
        indicators = sorted(rulebook.indicators, key=lambda i: (i.domain.value, i.level))
        return {
            "rulebook": rulebook,
            "domains": [(d, list(g)) for d, g in groupby(indicators, key=lambda i: i.domain.value)],
            "sources": sorted(SOURCE_ALIASES),
            "notifications": [n.value for n in Notification],
            "consents": [c.value for c in Consent],
            "routes": {r.id: r.label for r in rulebook.routes} | {"manual_review": "Manual review"},
        }

    @app.get("/", include_in_schema=False)
    def form(request: Request) -> HTMLResponse:
        return _page("form.html", values=DEFAULTS, errors={}, **common(request))

    @app.post("/", include_in_schema=False)
    async def route(request: Request) -> HTMLResponse:
        if not _same_site(request):
            return _page(
                "form.html",
                403,
                values=DEFAULTS,
                errors={"received_on": "refused: the form came from another site"},
                **common(request),
            )
        if request.headers.get("content-type", "").split(";")[0].strip() != FORM:
            return _page("form.html", 415, values=DEFAULTS, errors={}, **common(request))
        body = (await request.body())[: service_of(request).settings.max_body]
        given = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        values = {
            **DEFAULTS,
            **{k: v[-1] for k, v in given.items() if k in DEFAULTS and k != "concern"},
            "concerns": given.get("concern", []),
            "immediate_danger": "immediate_danger" in given,
        }
        service = service_of(request)
        referral = referral_from_form(values)

        def decide() -> list[tuple[Any, str, Any]]:
            with service.lock:  # routed, never logged
                decisions = service.door.route(referral)
                nearby = what_would_change(service.door, referral)
            return [(d, service.door.explain(d), n) for d, n in zip(decisions, nearby, strict=True)]

        try:
            results = await run_in_threadpool(decide)
        except ReferralInvalid as invalid:
            errors: dict[str, str] = {}
            for problem in invalid.problems:
                errors.setdefault(_field(problem.location), problem.message)
            return _page("form.html", 422, values=values, errors=errors, **common(request))
        return _page("decision.html", results=results, **common(request))

    @app.get("/thresholds", include_in_schema=False)
    def thresholds(request: Request) -> HTMLResponse:
        summary = rulebook_summary(service_of(request).rulebook)
        return _page("thresholds.html", summary=summary, **common(request))

    @app.get("/playground.css", include_in_schema=False)
    def stylesheet() -> Response:
        css = (HERE / "templates" / "playground.css").read_text(encoding="utf-8")
        return Response(css, media_type="text/css")
