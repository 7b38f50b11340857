"""The KPI report's override rates, against figures worked out by hand (docs/report.md).

Five synthetic referrals of one child each, all received on Mon 2 Mar 2026:
    R1 domestic_abuse -> L3 intensive_early_help   accepted
    R2 domestic_abuse -> L3 intensive_early_help   overridden up: child_and_family_assessment,
                                                   level 4, history_of_concerns
    R3 physical_abuse -> L4 strategy_discussion    overridden down: intensive_early_help,
                                                   level 3, professional_judgement_risk_lower
    R4 domestic_abuse -> L3 intensive_early_help   overridden across: team_around_the_family,
                                                   no level, service_already_involved
    R5 domestic_abuse -> L3 intensive_early_help   no outcome
Four answered, three overridden: 75.0%. Up, down, across and accepted 1 of 4 each: 25.0%.
By route recommended: intensive_early_help 2 overridden of 3 (66.7%), strategy_discussion 1 of
1 (100.0%). By reason: the three used 1 of 4 (25.0%) each, the other three Kent reasons 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import markupsafe
import pytest

from tests.conftest import concerns, make_referral
from triage.audit import DecisionLog
from triage.audit.outcome import ManagerOutcome
from triage.engine import FrontDoor
from triage.report import KpiReport, kpi_report, render_table, to_html, to_json

KEY = "synthetic-test-key-0001"
RECEIVED = "2026-03-02T09:00:00+00:00"


def _outcome(decision_id: str, **fields: Any) -> ManagerOutcome:
    kind = "overridden" if fields else "accepted"
    return ManagerOutcome(
        decision_id=decision_id, outcome=kind, decided_by="fdm-synthetic-7", **fields
    )


@pytest.fixture(name="report", scope="module")
def fixture_report(tmp_path_factory: pytest.TempPathFactory) -> KpiReport:
    door = FrontDoor(engine="reference")
    path = tmp_path_factory.mktemp("overrides") / "log.jsonl"
    indicators = ("domestic_abuse", "domestic_abuse", "physical_abuse", "domestic_abuse")
    outcomes: list[dict[str, Any]] = [
        {},
        {"route": "child_and_family_assessment", "level": 4, "reason": "history_of_concerns"},
        {
            "route": "intensive_early_help",
            "level": 3,
            "reason": "professional_judgement_risk_lower",
        },
        {"route": "team_around_the_family", "reason": "service_already_involved"},
    ]
    with DecisionLog(path, key=KEY) as log:
        ids = []
        for number, indicator in enumerate((*indicators, "domestic_abuse"), start=1):
            referral = make_referral(
                referral_id=f"R-OV-{number}",
                received_at=RECEIVED,
                concerns=concerns(indicator),
            )
            (decision,) = log.route(door, referral)
            ids.append(decision.decision_id)
        for decision_id, fields in zip(ids, outcomes, strict=False):
            log.record_outcome(_outcome(decision_id, **fields))
    return kpi_report(path)


def test_override_rates_by_direction_route_and_reason(report: KpiReport) -> None:
    direction = report.figure("overrides_by_direction")
    assert (direction.numerator, direction.denominator, direction.value) == (3, 4, 75.0)
    assert [(r.key, r.count, r.percent) for r in direction.rows] == [
        ("accepted", 1, 25.0),
        ("up", 1, 25.0),
        ("down", 1, 25.0),
        ("across", 1, 25.0),
        ("from_undecided", 0, 0.0),
    ]
    assert direction.notes[0] == "4 of 5 decisions in the period have an outcome."
    route = report.figure("overrides_by_route")
    assert route.denominator == 4
    assert [(r.key, r.count, r.percent) for r in route.rows] == [
        ("intensive_early_help", 2, 66.7),
        ("strategy_discussion", 1, 100.0),
    ]
    assert route.rows[0].label == "Intensive early help (Early Help Unit), of 3 outcomes"
    reason = report.figure("overrides_by_reason")
    assert {r.key: (r.count, r.percent) for r in reason.rows} == {
        "information_not_in_referral": (0, 0.0),
        "history_of_concerns": (1, 25.0),
        "professional_judgement_risk_higher": (0, 0.0),
        "professional_judgement_risk_lower": (1, 25.0),
        "family_circumstances_changed": (0, 0.0),
        "service_already_involved": (1, 25.0),
    }
    # labelled as in the rulebook
    assert reason.rows[1].label == "The child's or family's history raises or lowers the concern"


def test_every_rendering_shows_the_override_rates(report: KpiReport) -> None:
    table = " ".join(render_table(report).split())
    assert "RECOMMENDATIONS OVERRIDDEN, BY DIRECTION 75.0% (3 of 4)" in table
    assert "Overridden down the continuum 1 25.0%" in table
    assert "of 1 outcome 1 100.0%" in table
    data = {f["key"]: f for f in json.loads(to_json(report))["figures"]}
    assert data["overrides_by_direction"]["value"] == 75.0
    assert data["overrides_by_route"]["rows"][0] == {
        "key": "intensive_early_help",
        "label": "Intensive early help (Early Help Unit), of 3 outcomes",
        "count": 2,
        "percent": 66.7,
    }
    page = to_html(report)
    for key in ("overrides_by_direction", "overrides_by_route", "overrides_by_reason"):
        figure = report.figure(key)
        assert f'id="{key}"' in page
        assert str(markupsafe.escape(figure.definition)) in page
    assert "2 · 66.7%" in page  # the intensive early help bar


def test_a_log_without_outcomes_says_so(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with DecisionLog(path, key=KEY) as log:
        log.route(FrontDoor(engine="reference"), make_referral(concerns=concerns("domestic_abuse")))
    report = kpi_report(path)
    direction = report.figure("overrides_by_direction")
    assert (direction.value, direction.denominator) == (None, 0)
    assert direction.value_text == "no outcomes recorded in the period"
    assert report.figure("overrides_by_route").rows == ()
    assert "0 of 1 decision in the period have an outcome." in direction.notes
