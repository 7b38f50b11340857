"""The KPI report, figure by figure, against values computed by hand from a small synthetic log.

The log (every id synthetic) holds eight referrals and fifteen journey events. The period under
test is March 2026 (1-31, inclusive); one referral (R8) and two events (J11, J12) fall outside
it. March 2026 has no bank holiday, so a working day is any Monday to Friday.

Referrals (received, source, children -> level and route; recorded):
    R1 Mon 2 Mar  police 6          A: physical_abuse -> L4 strategy_discussion; same day
    R2 Tue 3 Mar  schools 2A        B: two level-2 domains -> L2 team_around_the_family; Wed 4
    R3 Fri 6 Mar  health 3B         C: missing_regularly -> L3 intensive_early_help; Mon 9
    R4 Tue 10 Mar individuals 1A    D, E: homeless_child -> L3 child_and_family_assessment
                                    (D referred 2025-09-01 before: re-referral); Fri 13
    R5 Fri 20 Mar anonymous 9       F: a level-1 need -> L1 universal_services; same day
    R6 Tue 24 Mar police 6          A again (referred 2 Mar: re-referral): suicidal_ideation
                                    -> L4 child_and_family_assessment; Thu 26
    R7 Mon 30 Mar schools 2A        G, open to team_around_the_family: occasional_truancy
                                    -> L2, the open service's route team_around_the_family;
                                    same day (not a start: already open)
    R8 Mon 16 Feb police 6          H: -> L2 team_around_the_family (outside the period)

Journey events (occurred, child, service -> to, kind):
    J1  5 Mar  A strategy_discussion -> child_protection_plan (override; a plan)
    J2  25 Mar D child_and_family_assessment -> child_in_need_plan (override; a plan)
    J3  12 Mar X child_protection_plan -> intensive_early_help (step_down rule, RC9)
    J4  16 Mar Y child_in_need_plan -> closure (override, close)
    J5  18 Mar Z child_and_family_assessment -> closure (no_further_action rule, close, RC8)
    J6  19 Mar W child_protection_plan -> child_in_need_plan (step_down, consent refused)
    J7  27 Mar B TAF outcomes_achieved, since 2025-04-01 (under 12 months) -> universal
    J8  10 Mar V TAF outcomes_achieved, since 2024-12-01 (over 12 months) -> universal
    J9  11 Mar U TAF outcomes_achieved, no service_since (unknown) -> universal
    J10 11 Mar T TAF outcomes_achieved, since 2025-03-11 (exactly 12 months) -> universal
    J11 2 Apr  S child_protection_plan -> intensive_early_help (RC9; outside the period)
    J12 20 Feb R TAF outcomes_achieved, no service_since (outside the period)
    J13 23 Mar Q child_in_need_plan -> team_around_the_family (override; no RC9)
    J14 26 Mar P child_and_family_assessment -> universal_services (override, step_down)
    J15 17 Mar O team_around_the_family -> intensive_early_help (override, step_up)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import markupsafe
import pytest
from hypothesis import given

from triage import FrontDoor, load_rulebook
from triage.audit import DecisionLog
from triage.errors import LogError, RulebookInvalid, UsageError
from triage.journey import Journeys
from triage.report import (
    NEEDS_POPULATION,
    NOT_MEASURABLE,
    KpiReport,
    kpi_report,
    render_table,
    to_html,
    to_json,
)
from triage.report._reading import ChildDecision
from triage.report.figures import _timeliness

from .conftest import concerns, make_referral
from .strategies import recorded_decisions

KEY = "synthetic-test-key-0001"
START, END = date(2026, 3, 1), date(2026, 3, 31)  # the period under test
TRIAGE = Path(sys.executable).with_name("triage")


def at(day: int, hour: int = 15, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def child(child_id: str, born: str = "2019-05-01", **more: Any) -> dict[str, Any]:
    return {"child_id": child_id, "date_of_birth": born, **more}


# (referral, when it was recorded)
REFERRALS: list[tuple[dict[str, Any], datetime]] = [
    (
        make_referral(
            referral_id="R1",
            received_at="2026-03-02T09:30:00+00:00",
            source="police",
            children=[child("C-A")],
            concerns=concerns("physical_abuse"),
        ),
        at(2),
    ),
    (
        make_referral(
            referral_id="R2",
            received_at="2026-03-03T10:00:00+00:00",
            source="2A",
            children=[child("C-B")],
            concerns=concerns("occasional_truancy", "neglect_emerging"),
        ),
        at(4),
    ),
    (
        make_referral(
            referral_id="R3",
            received_at="2026-03-06T16:00:00+00:00",
            source="3B",
            children=[child("C-C")],
            concerns=concerns("missing_regularly"),
        ),
        at(9),
    ),
    (
        make_referral(
            referral_id="R4",
            received_at="2026-03-10T11:00:00+00:00",
            source="1A",
            children=[
                child("C-D", "2009-06-01", previous_referrals=["2025-09-01"]),
                child("C-E", "2016-06-01"),
            ],
            concerns=concerns("homeless_child"),
        ),
        at(13),
    ),
    (
        make_referral(
            referral_id="R5",
            received_at="2026-03-20T09:00:00+00:00",
            source="anonymous",
            children=[child("C-F")],
            concerns=concerns("healthy_development_checks_up_to_date"),
        ),
        at(20),
    ),
    (
        make_referral(
            referral_id="R6",
            received_at="2026-03-24T09:00:00+00:00",
            source="police",
            children=[child("C-A", previous_referrals=["2026-03-02"])],
            concerns=concerns("suicidal_ideation"),
        ),
        at(26),
    ),
    (
        make_referral(
            referral_id="R7",
            received_at="2026-03-30T09:00:00+00:00",
            source="school",
            children=[
                child(
                    "C-G",
                    open_involvement={"service": "team_around_the_family", "since": "2025-11-01"},
                )
            ],
            concerns=concerns("occasional_truancy"),
        ),
        at(30),
    ),
    (
        make_referral(
            referral_id="R8",
            received_at="2026-02-16T09:00:00+00:00",
            source="police",
            children=[child("C-H")],
            concerns=concerns("occasional_truancy", "neglect_emerging"),
        ),
        at(16, month=2),
    ),
]

OVERRIDE = "Synthetic test: the practitioner decided this move."


def event(event_id: str, child_id: str, occurred: str, service: str, **more: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "child_id": child_id,
        "occurred_at": f"{occurred}T10:00:00+00:00",
        "event": "review",
        "service": service,
        "date_of_birth": "2015-01-01",
        **more,
    }


def override(to: str) -> dict[str, Any]:
    return {"override": {"to": to, "reason": OVERRIDE}, "decided_by": "team manager"}


TAF = "team_around_the_family"
DONE = ["outcomes_achieved"]
EVENTS: list[tuple[dict[str, Any], str, str]] = [  # (event, expected to_service, expected kind)
    (
        event(
            "J1", "C-A", "2026-03-05", "strategy_discussion", **override("child_protection_plan")
        ),
        "child_protection_plan",
        "transition",
    ),
    (
        event(
            "J2",
            "C-D",
            "2026-03-25",
            "child_and_family_assessment",
            **override("child_in_need_plan"),
        ),
        "child_in_need_plan",
        "transition",
    ),
    (
        event(
            "J3",
            "C-X",
            "2026-03-12",
            "child_protection_plan",
            event="plan_ended",
            findings=["concerns_reduced"],
        ),
        "intensive_early_help",
        "step_down",
    ),
    (
        event("J4", "C-Y", "2026-03-16", "child_in_need_plan", **override("closure")),
        "closure",
        "close",
    ),
    (
        event(
            "J5", "C-Z", "2026-03-18", "child_and_family_assessment", findings=["no_further_action"]
        ),
        "closure",
        "close",
    ),
    (
        event(
            "J6",
            "C-W",
            "2026-03-19",
            "child_protection_plan",
            event="plan_ended",
            findings=["concerns_reduced"],
            consent="refused",
        ),
        "child_in_need_plan",
        "step_down",
    ),
    (
        event("J7", "C-B", "2026-03-27", TAF, findings=DONE, service_since="2025-04-01"),
        "universal_services",
        "step_down",
    ),
    (
        event("J8", "C-V", "2026-03-10", TAF, findings=DONE, service_since="2024-12-01"),
        "universal_services",
        "step_down",
    ),
    (event("J9", "C-U", "2026-03-11", TAF, findings=DONE), "universal_services", "step_down"),
    (
        event("J10", "C-T", "2026-03-11", TAF, findings=DONE, service_since="2025-03-11"),
        "universal_services",
        "step_down",
    ),
    (
        event(
            "J11",
            "C-S",
            "2026-04-02",
            "child_protection_plan",
            event="plan_ended",
            findings=["concerns_reduced"],
        ),
        "intensive_early_help",
        "step_down",
    ),
    (event("J12", "C-R", "2026-02-20", TAF, findings=DONE), "universal_services", "step_down"),
    (
        event(
            "J13",
            "C-Q",
            "2026-03-23",
            "child_in_need_plan",
            findings=["concerns_reduced"],
            **override(TAF),
        ),
        TAF,
        "step_down",
    ),
    (
        event(
            "J14",
            "C-P",
            "2026-03-26",
            "child_and_family_assessment",
            **override("universal_services"),
        ),
        "universal_services",
        "step_down",
    ),
    (
        event(
            "J15",
            "C-O",
            "2026-03-17",
            TAF,
            findings=["concerns_unchanged"],
            **override("intensive_early_help"),
        ),
        "intensive_early_help",
        "step_up",
    ),
]


@pytest.fixture(name="log_path", scope="module")
def fixture_log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "decisions.sqlite"
    rulebook = load_rulebook()
    door, journeys = FrontDoor(rulebook), Journeys(rulebook)
    with pytest.MonkeyPatch.context() as patch, DecisionLog(path, key=KEY) as log:
        for referral, recorded in REFERRALS:
            patch.setattr("triage.audit.log.now_utc", lambda when=recorded: when)
            log.route(door, referral)
        for data, to_service, kind in EVENTS:
            decided = journeys.decide(data)
            assert (decided.to_service, decided.kind) == (to_service, kind), data["event_id"]
            log.record_transitions(journeys, [journeys.validate(data)], [decided])
    return path


@pytest.fixture(name="march", scope="module")
def fixture_march(log_path: Path) -> KpiReport:
    return kpi_report(log_path, population=4000, start=START, end=END)


def counts(report: KpiReport, key: str) -> dict[str, tuple[int, float | None]]:
    return {row.key: (row.count, row.percent) for row in report.figure(key).rows}


def test_the_log_routes_the_referrals_as_the_hand_computation_assumes(log_path: Path) -> None:
    door = FrontDoor(load_rulebook())
    routes = [
        [(d.level, d.route, "re_referral_within_12_months" in d.flags) for d in door.route(r)]
        for r, _ in REFERRALS
    ]
    assert routes == [
        [(4, "strategy_discussion", False)],
        [(2, "team_around_the_family", False)],
        [(3, "intensive_early_help", False)],
        [(3, "child_and_family_assessment", True), (3, "child_and_family_assessment", False)],
        [(1, "universal_services", False)],
        [(4, "child_and_family_assessment", True)],
        [(2, "team_around_the_family", False)],
        [(2, "team_around_the_family", False)],
    ]


def test_what_was_read(march: KpiReport) -> None:
    # 1 genesis + 1 rulebook snapshot + 1 pathway snapshot (the journeys' first record) + 8
    # referral records + 15 transition records = 26.
    # In March: R1-R7 = 7 referrals; decisions 1+1+1+2+1+1+1 = 8; events 15 - J11 - J12 = 13.
    assert (march.records, march.referrals, march.decisions, march.transitions) == (26, 7, 8, 13)
    assert march.skipped == 0
    assert march.head is not None
    assert march.head[0] == 26


def test_referrals_by_referring_agency(march: KpiReport) -> None:
    # Per child: police R1 A + R6 A = 2; schools R2 B + R7 G = 2; health R3 C = 1;
    # individuals R4 D + E = 2; anonymous R5 F = 1; total 8.
    # 2/8 = 25.0%, 1/8 = 12.5%.
    assert counts(march, "referrals_by_agency") == {
        "police": (2, 25.0),
        "schools": (2, 25.0),
        "education_services": (0, 0.0),
        "health": (1, 12.5),
        "housing": (0, 0.0),
        "la_services": (0, 0.0),
        "individuals": (2, 25.0),
        "other_legal_agency": (0, 0.0),
        "other": (0, 0.0),
        "anonymous": (1, 12.5),
        "unknown": (0, 0.0),
    }
    assert march.figure("referrals_by_agency").denominator == 8


def test_decisions_by_level_and_route(march: KpiReport) -> None:
    # Levels: L1 F = 1 (12.5%); L2 B, G = 2 (25%); L3 C, D, E = 3 (37.5%); L4 A, A = 2 (25%).
    assert counts(march, "decisions_by_level") == {
        "1": (1, 12.5),
        "2": (2, 25.0),
        "3": (3, 37.5),
        "4": (2, 25.0),
    }
    # Routes: universal F = 1; TAF B, G = 2; IEH C = 1; CFA D, E, A(R6) = 3; SD A(R1) = 1.
    routes = counts(march, "decisions_by_route")
    assert routes == {
        "universal_services": (1, 12.5),
        "single_agency_support": (0, 0.0),
        "team_around_the_family": (2, 25.0),
        "intensive_early_help": (1, 12.5),
        "child_and_family_assessment": (3, 37.5),
        "strategy_discussion": (1, 12.5),
        "emergency_protection": (0, 0.0),
        "allocated_worker": (0, 0.0),
        "manual_review": (0, 0.0),
    }


def test_starts_per_10000_under_18s(march: KpiReport) -> None:
    # TAF: routed B (G was already open to a TAF: not a start) = 1; moved in J13 = 1; 2 starts.
    # 2 * 10,000 / 4,000 = 5.0 per 10,000.
    taf = march.figure("team_around_the_family_starts")
    assert (taf.numerator, taf.value) == (2, 5.0)
    assert [row.count for row in taf.rows] == [1, 1]
    # Intensive early help: routed C = 1; moved in J3, J15 = 2 (J11 is in April); 3 starts.
    # 3 * 10,000 / 4,000 = 7.5 per 10,000.
    early_help = march.figure("intensive_early_help_starts")
    assert (early_help.numerator, early_help.value) == (3, 7.5)
    assert [row.count for row in early_help.rows] == [1, 2]
    assert early_help.value_text == "7.5 per 10,000 under-18s"


def test_starts_without_a_population_say_they_need_it(log_path: Path) -> None:
    report = kpi_report(log_path, start=START, end=END)
    for key in ("team_around_the_family_starts", "intensive_early_help_starts"):
        figure = report.figure(key)
        assert figure.value is None
        assert figure.value_text == NEEDS_POPULATION
        assert "needs --population" in figure.value_text
    assert report.figure("team_around_the_family_starts").numerator == 2


def test_closures_stepped_down_to_early_help(march: KpiReport) -> None:
    # Moves out of social care in March: to early help J3 (CP -> IEH, RC9), J13 (CIN -> TAF,
    # override, no RC9) = 2; to universal services J14 = 1; closed J4, J5 = 2. Not closures:
    # J1 (from a strategy discussion), J2 and J6 (still in social care). 2 / (2 + 1 + 2) = 40%.
    figure = march.figure("closures_stepped_down_to_early_help")
    assert (figure.numerator, figure.denominator, figure.value) == (2, 5, 40.0)
    assert counts(march, "closures_stepped_down_to_early_help") == {
        "early_help": (2, 40.0),
        "universal": (1, 20.0),
        "closed": (2, 40.0),
    }
    assert figure.notes == ("1 of the 2 step-downs to early help carries RC9.",)


def test_teams_around_the_family_open_12_months_or_less(march: KpiReport) -> None:
    # J7 2025-04-01 -> 2026-03-27: under 12 months; J10 2025-03-11 -> 2026-03-11: exactly 12
    # months, counted as 12 or less; J8 2024-12-01 -> 2026-03-10: over; J9 no service_since:
    # unknown (J12, also unknown, is in February). Known 3; 2 / 3 = 66.7%.
    figure = march.figure("tafs_open_12_months_or_less")
    assert (figure.numerator, figure.denominator, figure.value) == (2, 3, 66.7)
    assert counts(march, "tafs_open_12_months_or_less") == {
        "12_months_or_less": (2, 66.7),
        "over_12_months": (1, 33.3),
        "unknown": (1, None),
    }
    assert figure.notes == (
        "1 record without a usable service_since is counted as unknown and left out of "
        "the percentage.",
    )


def test_re_referrals_within_12_months(march: KpiReport) -> None:
    # Children referred in March: A, B, C, D, E, F, G = 7. Flagged: D (R4, referred 2025-09-01)
    # and A (R6, referred 2026-03-02) = 2 children. 2 / 7 = 28.57% -> 28.6%.
    figure = march.figure("re_referrals_within_12_months")
    assert (figure.numerator, figure.denominator, figure.value) == (2, 7, 28.6)
    assert figure.notes == ("2 of 8 decisions carry the flag.",)


def test_decisions_within_one_working_day(march: KpiReport) -> None:
    # Same day: R1 A, R5 F, R7 G = 3. Next working day: R2 (Tue -> Wed) B, R3 (Fri -> Mon) C
    # = 2. Later: R4 (Tue -> Fri) D and E, R6 (Tue -> Thu) A = 3. Within one: 3 + 2 = 5 of 8
    # = 62.5%.
    figure = march.figure("decided_within_1_working_day")
    assert (figure.numerator, figure.denominator, figure.value) == (5, 8, 62.5)
    assert counts(march, "decided_within_1_working_day") == {
        "same_working_day": (3, 37.5),
        "next_working_day": (2, 25.0),
        "later": (3, 37.5),
    }


def test_contact_assessment_plan_funnel(march: KpiReport) -> None:
    # Referred: 7 children. Assessment: A (SD, then CFA), D, E = 3 -> 3/7 = 42.9%.
    # Plan: A (J1 to a protection plan), D (J2 to a child in need plan) = 2 -> 2/3 = 66.7%.
    # Headline 2/7 = 28.6%. W (J6) moved onto a plan without being in the funnel: a note.
    figure = march.figure("contact_assessment_plan_funnel")
    assert counts(march, "contact_assessment_plan_funnel") == {
        "referred": (7, 100.0),
        "assessment": (3, 42.9),
        "plan": (2, 66.7),
    }
    assert figure.value == 28.6
    assert len(figure.notes) == 1
    assert figure.notes[0].startswith("1 child moved onto a plan")
    assert figure.notes[0].endswith("is not in the funnel.")


def test_the_period_filter_is_inclusive_and_optional(log_path: Path) -> None:
    everything = kpi_report(log_path, population=4000)
    # R8 and J11, J12 come in: 9 decisions, 8 referrals, 15 moves.
    assert (everything.referrals, everything.decisions, everything.transitions) == (8, 9, 15)
    # TAF starts: routed B, H = 2, moved J13 = 1: 3 -> 3 * 10,000 / 4,000 = 7.5.
    assert everything.figure("team_around_the_family_starts").value == 7.5
    # Closures: J11 (CP -> IEH, RC9) joins: 3 / 6 = 50%.
    closures = everything.figure("closures_stepped_down_to_early_help")
    assert (closures.numerator, closures.denominator, closures.value) == (3, 6, 50.0)
    # TAF open times: J12 (no service_since) joins the unknowns: 2.
    assert counts(everything, "tafs_open_12_months_or_less")["unknown"] == (2, None)
    # Inclusive ends: only 2 March holds R1 (1 decision) and nothing else.
    one_day = kpi_report(log_path, start=date(2026, 3, 2), end=date(2026, 3, 2))
    assert (one_day.referrals, one_day.decisions, one_day.transitions) == (1, 1, 0)
    # From 30 March on: R7 (G) and J11 (2 April).
    tail = kpi_report(log_path, start=date(2026, 3, 30))
    assert (tail.referrals, tail.decisions, tail.transitions) == (1, 1, 1)


def test_late_and_early_records_are_noted_on_a_json_lines_log(tmp_path: Path) -> None:
    """Any store will do: two referrals in a JSON Lines log, one recorded before its receipt
    (a clock error), one recorded 45 days after it (a backfill)."""
    path = tmp_path / "decisions.jsonl"
    door = FrontDoor(load_rulebook())
    early = make_referral(referral_id="R-EARLY", received_at="2026-03-10T09:00:00+00:00")
    late = make_referral(referral_id="R-LATE", received_at="2026-03-02T09:00:00+00:00")
    with pytest.MonkeyPatch.context() as patch, DecisionLog(path, key=KEY) as log:
        patch.setattr("triage.audit.log.now_utc", lambda: at(9))
        log.route(door, early)
        patch.setattr("triage.audit.log.now_utc", lambda: at(16, month=4))
        log.route(door, late)
    figure = kpi_report(path).figure("decided_within_1_working_day")
    # The early one is left out; the late one is the only one left, and more than half (1 of
    # 1) were recorded over 30 days after receipt: not a red 0%, but not measurable.
    assert (figure.numerator, figure.denominator, figure.value) == (None, 1, None)
    assert figure.value_text == NOT_MEASURABLE == "not measurable on this log"
    assert counts(kpi_report(path), "decided_within_1_working_day")["later"] == (1, 100.0)
    assert figure.notes == (
        "1 decision recorded before the referral's received_at (a clock error or a "
        "back-dated referral) is left out.",
        "1 of 2 decisions was recorded more than 30 days after receipt: the log was written "
        "after the fact, so it cannot say how soon the Front Door decided.",
    )


def test_a_few_late_records_leave_timeliness_measured(tmp_path: Path) -> None:
    """One decision of three recorded 45 days late is not a log written after the fact: the
    figure stands (2 same-day of 3 = 66.7%) and the late one is noted."""
    path = tmp_path / "decisions.jsonl"
    door = FrontDoor(load_rulebook())
    with pytest.MonkeyPatch.context() as patch, DecisionLog(path, key=KEY) as log:
        for number, recorded in enumerate((at(2), at(2), at(16, month=4)), start=1):
            patch.setattr("triage.audit.log.now_utc", lambda when=recorded: when)
            log.route(door, make_referral(referral_id=f"R-{number}"))
    figure = kpi_report(path).figure("decided_within_1_working_day")
    assert (figure.numerator, figure.denominator, figure.value) == (2, 3, 66.7)
    assert figure.notes == (
        "1 of 3 decisions was recorded more than 30 days after receipt: those records were "
        "probably written after the fact.",
    )


def test_every_figure_has_a_definition_and_every_output_shows_it(march: KpiReport) -> None:
    table, page, data = render_table(march), to_html(march), json.loads(to_json(march))
    assert len(march.figures) == 13
    flat = " ".join(table.split())
    for figure in march.figures:
        assert len(figure.definition) > 80
        assert " ".join(figure.definition.split()) in flat
        assert to_html_text(figure.definition) in page
    assert [f["definition"] for f in data["figures"]] == [f.definition for f in march.figures]


def to_html_text(text: str) -> str:
    """Text as an autoescaping template writes it (an apostrophe is &#39;)."""
    return str(markupsafe.escape(text))


def test_bad_arguments_and_a_missing_log(log_path: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        kpi_report(log_path, population=0)
    with pytest.raises(UsageError):
        kpi_report(log_path, start=date(2026, 4, 1), end=date(2026, 3, 1))
    with pytest.raises(LogError):
        kpi_report(tmp_path / "nothing.sqlite")
    assert not (tmp_path / "nothing.sqlite").exists()


# -- the command line ----------------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRIAGE), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_table(log_path: Path) -> None:
    result = run("report", str(log_path), "--from", "2026-03-01", "--to", "2026-03-31")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "REFERRALS BY REFERRING AGENCY" in out
    assert "62.5%   (5 of 8)" in out
    assert "40.0%   (2 of 5)" in out
    assert "needs --population" in out
    assert "period: 2026-03-01 to 2026-03-31 (inclusive)" in out


def test_cli_json(log_path: Path, march: KpiReport) -> None:
    result = run(
        "report",
        str(log_path),
        "--population",
        "4000",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == json.loads(to_json(march))
    values = {f["key"]: f["value"] for f in data["figures"]}
    assert values["intensive_early_help_starts"] == 7.5
    assert values["tafs_open_12_months_or_less"] == 66.7


def test_cli_html_is_one_self_contained_page(log_path: Path, tmp_path: Path) -> None:
    page_path = tmp_path / "kpi.html"
    result = run(
        "report",
        str(log_path),
        "--population",
        "4000",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
        "--html",
        str(page_path),
    )
    assert result.returncode == 0, result.stderr
    assert str(page_path) in result.stderr
    page = page_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    for outside in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert outside not in page
    assert page.count("<svg") == 13
    march = kpi_report(log_path, population=4000, start=START, end=END)
    for figure in march.figures:
        assert to_html_text(figure.definition) in page


def test_cli_errors_exit_2(log_path: Path, tmp_path: Path) -> None:
    missing = run("report", str(tmp_path / "none.sqlite"))
    assert missing.returncode == 2
    assert "error [log_unusable]" in missing.stderr
    backwards = run("report", str(log_path), "--from", "2026-04-01", "--to", "2026-03-01")
    assert backwards.returncode == 2
    assert "after" in backwards.stderr


# -- council data, not code ----------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent


def test_route_labels_and_groups_come_from_the_rulebook_snapshot(march: KpiReport) -> None:
    """The route rows are the snapshot's routes, in its order, with its labels; the levels
    carry the labels of the report section."""
    kent = load_rulebook()
    rows = march.figure("decisions_by_route").rows
    assert [(row.key, row.label) for row in rows] == [(r.id, r.label) for r in kent.routes]
    assert rows[0].label == "Universal services (information, advice and signposting)"
    levels = [row.label for row in march.figure("decisions_by_level").rows]
    assert levels == [
        "Level 1 Universal",
        "Level 2 Additional",
        "Level 3 Intensive",
        "Level 4 Specialist",
    ]


def test_another_councils_report_section_is_used_as_it_is(tmp_path: Path) -> None:
    """A copy of Kent whose report section renames a route and counts starts of another
    service: the report follows the data, with no code change."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules" / "kent", rules)
    (rules / "rulebook.yaml").write_text(
        (rules / "rulebook.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "label: Universal services (information, advice and signposting)", "label: Signposting"
        ),
        encoding="utf-8",
    )
    (rules / "report.yaml").write_text(
        (rules / "report.yaml")
        .read_text(encoding="utf-8")
        .replace("  title: Front Door KPI report", "  title: Synthetic Council KPIs")
        .replace(
            "      - service: team_around_the_family\n", "      - service: single_agency_support\n"
        ),
        encoding="utf-8",
    )
    rulebook = load_rulebook(rules)
    path = tmp_path / "decisions.jsonl"
    with DecisionLog(path, key=KEY) as log:
        log.route(FrontDoor(rulebook), REFERRALS[1][0])  # R2: team around the family
    report = kpi_report(path)
    assert report.title == "Synthetic Council KPIs"
    assert report.figure("decisions_by_route").rows[0].label == "Signposting"
    assert report.figure("single_agency_support_starts").numerator == 0
    with pytest.raises(KeyError):
        report.figure("team_around_the_family_starts")
    assert to_html(report).count("Synthetic Council KPIs") == 2  # the title and the heading


def test_a_log_whose_rulebook_has_no_report_section_needs_one_given(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules" / "kent", rules)
    (rules / "report.yaml").unlink()
    path = tmp_path / "decisions.jsonl"
    with DecisionLog(path, key=KEY) as log:
        log.route(FrontDoor(load_rulebook(rules)), REFERRALS[0][0])
    with pytest.raises(UsageError, match="no report section"):
        kpi_report(path)
    report = kpi_report(path, rulebook=load_rulebook())  # what `--rules` does
    assert report.figure("decisions_by_level").rows[3].count == 1


def test_the_report_package_names_no_council() -> None:
    """Kent's route and service ids (and the flag the report counts) are data: none appears in
    the report's code or its template."""
    kent = load_rulebook()
    ids = {r.id for r in kent.routes} | {s.id for s in kent.services}
    ids |= {"re_referral_within_12_months", "adolescent_support", "children_in_care"}
    ids -= {"manual_review"}  # the fail-safe route every rulebook declares
    package = REPO / "triage" / "report"
    files = [*package.glob("*.py"), *(package / "templates").glob("*")]
    assert len(files) >= 8
    for path in files:
        text = path.read_text(encoding="utf-8")
        words = set(re.findall(r"[a-z][a-z0-9_]+", text))
        assert not words & ids, f"{path.name} names {sorted(words & ids)}"
        assert "Kent" not in text, path.name


def test_no_plural_tokens_in_any_output(march: KpiReport) -> None:
    for output in (render_table(march), to_html(march), to_json(march)):
        assert "(s)" not in output
        assert "(ren)" not in output
    assert "read: 26 records; 7 referrals, 8 decisions and 13 journey moves" in render_table(march)


def test_the_page_escapes_what_it_shows(march: KpiReport) -> None:
    """Autoescaping: a log name with markup in it reaches the page as text."""
    import dataclasses

    page = to_html(dataclasses.replace(march, log="<b>x</b>&"))
    assert "&lt;b&gt;x&lt;/b&gt;&amp;" in page
    assert "<b>x</b>" not in page


# Added to a copy of the page for the test only (the page itself has no script): the browser
# writes what it laid out into the DOM, which --dump-dom prints.
MEASURE = """<script>
const width = document.documentElement.clientWidth;
const wide = [...document.querySelectorAll("section.card")].filter(
  (card) => card.getBoundingClientRect().right > width + 0.5).length;
const clipped = [...document.querySelectorAll("svg")].filter((svg) => {
  const box = svg.getBoundingClientRect(), column = svg.parentElement.getBoundingClientRect();
  return box.right > column.right + 0.5 || box.width < 200;
}).length;
const asides = [...document.querySelectorAll("aside")].map((a) => a.getBoundingClientRect().width);
document.body.dataset.measured = JSON.stringify({
  scroll: document.documentElement.scrollWidth, width, wide, clipped,
  narrowest_aside: Math.min(...asides)});
</script></body>"""


@pytest.mark.parametrize("width", [800, 1280])
def test_the_page_fits_the_window_in_a_real_browser(
    march: KpiReport, tmp_path: Path, width: int
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("needs Debian's chromium")
    page = tmp_path / "report.html"
    page.write_text(to_html(march).replace("</body>", MEASURE), encoding="utf-8")
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={width},2000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r"data-measured=\"([^\"]+)\"", result.stdout)
    assert found is not None, result.stdout[-2000:]
    measured = json.loads(html_unescape(found.group(1)))
    assert measured["scroll"] <= measured["width"], measured  # no sideways scrolling
    assert measured["wide"] == 0, measured
    assert measured["clipped"] == 0, measured
    # A definition never collapses to a word a line (the review's 800 px screenshot).
    assert measured["narrowest_aside"] >= 200, measured


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


@given(pairs=recorded_decisions())
def test_timeliness_is_a_percentage_only_when_the_log_was_written_as_decisions_were_made(
    pairs: list[tuple[datetime, datetime]],
) -> None:
    """Invariant: the figure is not measurable exactly when more than half of the decisions
    not recorded before receipt were recorded over 30 days after it; otherwise it is the
    same-or-next-working-day share, and the rows always count every such decision."""
    decisions = [
        ChildDecision("C-1", 2, "any_route", (), "6", received, recorded, None)
        for received, recorded in pairs
    ]
    text = load_rulebook().report
    assert text is not None
    figure = _timeliness(text.figures.decided_within_1_working_day, decisions)
    valid = [(a, b) for a, b in pairs if b >= a]
    stale = sum(1 for a, b in pairs if (b - a).days > 30)
    assert sum(row.count for row in figure.rows) == len(valid) == figure.denominator
    if valid and 2 * stale > len(valid):
        assert (figure.value, figure.value_text) == (None, NOT_MEASURABLE)
    elif valid:
        assert figure.value is not None
        assert 0 <= figure.value <= 100
        assert figure.numerator == figure.rows[0].count + figure.rows[1].count
    else:
        assert figure.value is None


def test_cli_rules_gives_the_report_section_to_a_log_without_one(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules" / "kent", rules)
    (rules / "report.yaml").unlink()
    path = tmp_path / "decisions.jsonl"
    with DecisionLog(path, key=KEY) as log:
        log.route(FrontDoor(load_rulebook(rules)), REFERRALS[0][0])

    without = run("report", str(path))
    given_rules = run("report", str(path), "--rules", str(REPO / "rules" / "kent"))

    assert without.returncode == 2
    assert "no report section" in without.stderr
    assert given_rules.returncode == 0, given_rules.stderr
    assert "Level 4 Specialist" in given_rules.stdout


def test_a_report_section_naming_an_unknown_flag_or_route_is_a_load_problem(
    edited_rules: Callable[..., Path],
) -> None:
    rules = edited_rules(
        ("report.yaml", "flag: re_referral_within_12_months", "flag: re_referred"),
        ("report.yaml", "- service: intensive_early_help", "- service: early_help_hub"),
    )
    with pytest.raises(RulebookInvalid) as raised:
        load_rulebook(rules)
    found = {(p.location, p.value): p for p in raised.value.problems}
    assert set(found) == {
        ("report.figures.starts[1].service", "early_help_hub"),
        ("report.figures.re_referrals_within_12_months.flag", "re_referred"),
    }
    flag = found[("report.figures.re_referrals_within_12_months.flag", "re_referred")]
    assert flag.file is not None
    assert flag.file.endswith("report.yaml")
    lines = (rules / "report.yaml").read_text(encoding="utf-8").splitlines()
    assert flag.line is not None
    assert lines[flag.line - 1].strip() == "flag: re_referred"
