"""The referral form (`/`) and the decision page it answers with.

The form is built from the rulebook's vocabulary (concerns grouped by domain, in their plain
labels); a problem is shown beside its field. A referral tried here is routed and not logged,
unless the server has a log and the practitioner asks for it to be recorded: then it is logged
under fresh synthetic ids, and the decision page offers the Front Door manager's outcome form
for each child (`records.py` records it). The decision page draws the part of the pathway
around the child's route (`picture.py`).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from triage.changes import what_would_change
from triage.errors import ReferralInvalid
from triage.referral import Consent, Notification
from triage.serve.pages._rendering import (
    FORM,
    ServiceOf,
    bounded_body,
    common,
    media_type,
    page,
    same_site,
)
from triage.serve.pages.picture import Pictures

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
    "record": False,
}


def _field(location: str) -> str:
    if location in FIELDS:
        return FIELDS[location]
    if location.startswith("concerns"):
        return "concerns"
    return FIELDS.get(location.split(".")[0], "received_on")


def referral_from_form(values: dict[str, Any], ids: str = "PLAYGROUND") -> dict[str, Any]:
    """The referral a filled-in form describes: one child, synthetic ids made from `ids`."""
    child: dict[str, Any] = {"child_id": f"{ids}-CHILD-1"}
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
        "referral_id": f"{ids}-1",
        "received_at": f"{received}T09:00:00+00:00" if received else "",
        "source": values["source"],
        "notification": values["notification"],
        "children": [child],
        "concerns": [{"indicator": c, "about": "child"} for c in values["concerns"]],
        "consent": values["consent"],
        "immediate_danger": bool(values["immediate_danger"]),
    }


def form_values(body: bytes) -> dict[str, Any]:
    given = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {
        **DEFAULTS,
        **{k: v[-1] for k, v in given.items() if k in DEFAULTS and k != "concern"},
        "concerns": given.get("concern", []),
        "immediate_danger": "immediate_danger" in given,
        "record": "record" in given,
    }


def install(app: FastAPI, service_of: ServiceOf) -> None:
    pictures = Pictures()

    @app.get("/", include_in_schema=False)
    def form(request: Request) -> HTMLResponse:
        return page("form.html", values=DEFAULTS, errors={}, **common(service_of(request)))

    @app.post("/", include_in_schema=False)
    async def route(request: Request) -> HTMLResponse:
        service = service_of(request)
        if not same_site(request):
            return page(
                "form.html",
                403,
                values=DEFAULTS,
                errors={"received_on": "refused: the form came from another site"},
                **common(service),
            )
        if media_type(request) != FORM:
            return page("form.html", 415, values=DEFAULTS, errors={}, **common(service))
        body = await bounded_body(request, service.settings.max_body)
        if body is None:
            too_big = {"received_on": "refused: the form is over the size limit"}
            return page("form.html", 413, values=DEFAULTS, errors=too_big, **common(service))
        values = form_values(body)
        recording = values["record"] and service.log is not None
        # A recorded referral gets ids of its own: the log holds one decision per id.
        ids = f"PLAYGROUND-{uuid.uuid4().hex[:12].upper()}" if recording else "PLAYGROUND"
        referral = referral_from_form(values, ids)

        def decide() -> list[dict[str, Any]]:
            with service.lock:
                checked = service.door.validate(referral)
                decisions = service.door.route_validated(checked)
                nearby = what_would_change(service.door, referral)  # never logged
                records = (
                    service.log.record(service.door, [checked], [decisions]) if recording else []
                )
            logged = [
                {"seq": records[0].seq, "decision_id": str(output["decision_id"])}
                for output in (records[0].output if records else ())
            ]
            return [
                {
                    "decision": decision,
                    "words": service.door.explain(decision),
                    "nearby": changes,
                    "picture": pictures.around(service.pathway, decision.route),
                    "logged": logged[index] if logged else None,
                }
                for index, (decision, changes) in enumerate(zip(decisions, nearby, strict=True))
            ]

        try:
            results = await run_in_threadpool(decide)
        except ReferralInvalid as invalid:
            errors: dict[str, str] = {}
            for problem in invalid.problems:
                errors.setdefault(_field(problem.location), problem.message)
            return page("form.html", 422, values=values, errors=errors, **common(service))
        return page(
            "decision.html",
            results=results,
            outcome_errors={},
            outcome_values={},
            keep_detail=service.settings.keep_detail,
            reasons=service.rulebook.override_reasons,
            **common(service),
        )
