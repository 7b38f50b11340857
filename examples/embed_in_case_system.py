"""Embedding triage in a council's case system: route, log, and act on every decision.

A case system receives the Front Door's single referral form as JSON. For each referral it:

1. routes it with `FrontDoor` (the bundled Kent rulebook), which gives one decision per child;
2. records the decisions in a tamper-evident `DecisionLog` (SQLite, in a temporary directory),
   pseudonymising ids under the key in `TRIAGE_LOG_KEY` (a synthetic default when unset);
3. acts on each decision: opens a task for the team the route names, due by `due_by`, and
   alerts the Front Door manager on `manual_review` (the rules could not decide) and the duty
   team on `emergency_protection` (immediate danger);
4. shows the referrer every problem of an invalid form (field and valid values, never case
   data), and records nothing for it.

It then decides a journey event (a team around the family closing with its outcomes achieved)
with `triage.journey.Journeys`, records it in the same chain with `log.record_transitions`, and
verifies the log. All data is synthetic; the log is written to a temporary directory, removed at
the end.

Run: `.venv/bin/python examples/embed_in_case_system.py`
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import structlog

from triage import Decision, FrontDoor, Problem, ReferralInvalid
from triage.audit import KEY_VARIABLE, DecisionLog, verify_log
from triage.journey import Journeys

# Synthetic, for this example only. A real deployment keeps its key in a secret store, apart
# from the log.
EXAMPLE_KEY = "synthetic-example-pseudonymisation-key"

# Routes that need a person to look at the decision now, not only a task in a queue.
ALERT_ON = {
    "manual_review": "Front Door manager",
    "emergency_protection": "duty social work team and police",
}

# Who picks up a task for each route (a stand-in for the council's team structure).
TEAM_FOR_ROUTE = {
    "universal_services": "Front Door advice line",
    "single_agency_support": "referrer's own agency (District Conversation)",
    "team_around_the_family": "district Early Help team",
    "intensive_early_help": "Early Help Unit",
    "child_and_family_assessment": "social work assessment team",
    "strategy_discussion": "social work assessment team (section 47)",
    "emergency_protection": "duty social work team",
    "allocated_worker": "the child's allocated worker",
    "manual_review": "Front Door manager",
}

# Referral forms as the case system receives them: synthetic children, no names, no free text.
INCOMING = [
    {
        "referral_id": "R-EMB-001",
        "received_at": "2026-04-02T16:30:00+01:00",
        "source": "schools",
        "notification": "early_help_notification",
        "children": [
            {"child_id": "C-EMB-001", "date_of_birth": "2016-04-01"},
            {"child_id": "C-EMB-002", "date_of_birth": "2022-11-20"},
        ],
        "concerns": [
            {"indicator": "occasional_truancy", "about": "child", "child_ids": ["C-EMB-001"]},
            {"indicator": "parental_mental_health", "about": "parent_carer"},
        ],
        "consent": "given",
        "immediate_danger": False,
    },
    {
        "referral_id": "R-EMB-002",
        "received_at": "2026-04-16T22:40:00+01:00",
        "source": "police",
        "notification": "inter_agency_referral",
        "children": [{"child_id": "C-EMB-003", "date_of_birth": "2019-12-12"}],
        "concerns": [
            {"indicator": "physical_abuse", "about": "child"},
            {"indicator": "adult_posing_risk", "about": "household_member"},
        ],
        "consent": "not_sought",
        "immediate_danger": True,
    },
    {
        "referral_id": "R-EMB-003",
        "received_at": "2026-05-15T16:50:00+01:00",
        "source": "anonymous",
        "notification": "inter_agency_referral",
        "children": [{"child_id": "C-EMB-004", "date_of_birth": "2015-12-12"}],
        "concerns": [],
        "consent": "not_sought",
        "immediate_danger": False,
    },
    {  # an invalid form: a misspelt indicator and an unknown consent value
        "referral_id": "R-EMB-004",
        "received_at": "2026-05-18T10:00:00+01:00",
        "source": "gp",
        "notification": "inter_agency_referral",
        "children": [{"child_id": "C-EMB-005", "date_of_birth": "2012-02-02"}],
        "concerns": [{"indicator": "missing_regulary", "about": "child"}],
        "consent": "maybe",
        "immediate_danger": False,
    },
]

# A journey event on an open case: the team around the family closes, outcomes achieved.
JOURNEY_EVENT = {
    "event_id": "E-EMB-001",
    "child_id": "C-EMB-001",
    "occurred_at": "2026-12-10T11:00:00+00:00",
    "event": "closure",
    "service": "team_around_the_family",
    "service_since": "2026-04-09",
    "date_of_birth": "2016-04-01",
    "findings": ["outcomes_achieved"],
    "consent": "given",
    "decided_by": "lead professional",
}


@dataclass(frozen=True)
class Task:
    child_id: str
    team: str
    route: str
    due_by: date
    decision_id: str


@dataclass
class CaseSystem:
    """A stand-in for the council's case management system: a task queue and an alert feed."""

    tasks: list[Task] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    def open_task(self, decision: Decision) -> Task:
        task = Task(
            decision.child_id,
            TEAM_FOR_ROUTE.get(decision.route, "Front Door manager"),
            decision.route,
            decision.due_by,
            decision.decision_id,
        )
        self.tasks.append(task)
        return task

    def alert(self, who: str, decision: Decision) -> str:
        message = (
            f"ALERT to {who}: child {decision.child_id} routed to {decision.route} "
            f"(decision {decision.decision_id}), due {decision.due_by.isoformat()}"
        )
        self.alerts.append(message)
        return message

    def show_to_referrer(self, problem: Problem) -> None:
        """A form error as the referrer sees it: the field, what is wrong, what is allowed."""
        text = f"{problem.location or 'the form'}: {problem.message}"
        if problem.value is not None:
            text += f" (got {problem.value!r})"
        if 0 < len(problem.valid) <= 10:
            text += f"; valid values: {', '.join(problem.valid)}"
        elif problem.valid:
            text += f"; one of {len(problem.valid)} valid values (`triage vocabulary` lists them)"
        print(f"    to the referrer: {text}")


def on_referral(door: FrontDoor, log: DecisionLog, cases: CaseSystem, form_json: str) -> None:
    """What the case system does when a referral form arrives."""
    try:
        decisions = log.route(door, form_json)  # routed, recorded, returned
    except ReferralInvalid as error:
        print("  the form is invalid; nothing was routed or recorded:")
        for problem in error.problems:  # field path and valid values; never case data
            cases.show_to_referrer(problem)
        return
    for decision in decisions:  # one per child
        task = cases.open_task(decision)
        level = "not decided" if decision.level is None else decision.level
        print(
            f"  child {decision.child_id}: level {level}, route {decision.route}: "
            f"task for {task.team}, due by {task.due_by.isoformat()} "
            f"({decision.due_by.strftime('%A')})"
        )
        if decision.flags:
            print(f"    flags: {', '.join(decision.flags)}")
        if decision.route in ALERT_ON:
            print(f"    {cases.alert(ALERT_ON[decision.route], decision)}")


def main() -> int:
    # The library logs with structlog and never configures it; a case system does. Here only
    # warnings and errors are shown, so that the output is this script's own.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    key = os.environ.get(KEY_VARIABLE) or EXAMPLE_KEY
    door = FrontDoor()  # create once, reuse for every referral
    journeys = Journeys(door.rulebook)
    cases = CaseSystem()
    with tempfile.TemporaryDirectory(prefix="triage-embed-") as folder:
        target = f"sqlite:///{Path(folder) / 'decisions.sqlite'}"
        print(f"decision log: {target} (a temporary directory, removed at the end)")
        with DecisionLog(target, key=key) as log:
            for form in INCOMING:
                print(f"referral {form['referral_id']} received:")
                on_referral(door, log, cases, json.dumps(form))

            event = journeys.validate(JOURNEY_EVENT)
            transition = journeys.decide(event)
            log.record_transitions(journeys, [event], [transition])
            print(
                f"journey event {event.event_id}: child {transition.child_id} "
                f"{transition.from_service} -> {transition.to_service} ({transition.kind}), "
                f"decided by {transition.decided_by}"
            )
            for reason in transition.reasons:
                print(f"    - {reason}")

        report = verify_log(target)
        print(report)
        if not report.ok:
            return 1
    print(
        f"done: {len(cases.tasks)} task(s) opened, {len(cases.alerts)} alert(s) raised, "
        f"1 journey transition recorded"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
