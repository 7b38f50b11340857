"""Never fail low: anything undecidable goes to manual_review, with the reason."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from triage import EngineFault, FrontDoor, Rulebook, load_rulebook
from triage.facts import ChildFacts, JourneyFacts

from .conftest import concerns, make_referral


class BrokenEvaluator:
    """An evaluator whose engine fails, as durable_rules can."""

    name = "broken"

    def __init__(self, rulebook: Rulebook, fail_at: str) -> None:
        self.rulebook = rulebook
        self.fail_at = fail_at

    def level_rules(self, facts: ChildFacts, as_of: date) -> tuple[str, ...]:
        if self.fail_at == "level":
            raise EngineFault(self.name, "a rule action raised inside the engine")
        return ("single_level_4_indicator",)

    def route_rules(self, facts: ChildFacts, level: int, as_of: date) -> tuple[str, ...]:
        raise EngineFault(self.name, "the engine raised MemoryError")

    def step_rules(self, facts: JourneyFacts, as_of: date) -> tuple[str, ...]:
        raise EngineFault(self.name, "the engine raised MemoryError")


@pytest.mark.parametrize("fail_at", ["level", "route"])
def test_an_engine_fault_routes_to_manual_review(fail_at: str, kent: Rulebook) -> None:
    door = FrontDoor(kent, engine=BrokenEvaluator(kent, fail_at))
    (decision,) = door.route(make_referral(concerns=concerns("physical_abuse")))
    assert decision.route == "manual_review"
    assert "evaluator failed" in decision.reasons[0]
    assert decision.urgency == "same_day"


def test_no_level_rule_routes_to_manual_review(durable: FrontDoor) -> None:
    (decision,) = durable.route(make_referral())
    assert (decision.level, decision.route) == (None, "manual_review")
    assert "No level rule applies" in decision.reasons[0]


def test_no_route_rule_keeps_the_level_and_goes_to_manual_review(
    edited_rules: Callable[..., Path],
) -> None:
    """Remove the level-3 early help route: a level-3 child is reviewed, not sent lower."""
    rules = edited_rules(
        ("rules.yaml", "priority: 40\n    when: {level: 3}", "priority: 40\n    when: {level: 4}")
    )
    door = FrontDoor(load_rulebook(rules), engine="durable")
    (decision,) = door.route(make_referral(concerns=concerns("missing_regularly")))
    assert (decision.level, decision.route) == (3, "manual_review")
    assert "single_level_3_indicator" in decision.rules_fired


def test_a_timescale_out_of_force_goes_to_manual_review(edited_rules: Callable[..., Path]) -> None:
    rules = edited_rules(
        ("rulebook.yaml", "working_days: 1\n", "working_days: 1\n    effective_to: 2020-12-31\n")
    )
    door = FrontDoor(load_rulebook(rules), engine="reference")
    (decision,) = door.route(make_referral(concerns=concerns("missing_regularly")))
    assert decision.route == "manual_review"
    assert decision.level == 3
    assert "within_1_working_day" in decision.reasons[0]


def _indicator_of_level(rulebook: Rulebook, level: int) -> str:
    return next(i.id for i in rulebook.indicators if i.level == level)


def test_a_level_4_child_is_never_passed_to_a_current_service_below_level_4(
    durable: FrontDoor, reference: FrontDoor, compiled: FrontDoor
) -> None:
    """For every open service and every level (a child and a young adult, in danger or not): a
    route to the current service stands, except at level 4 to a service whose route holds
    open cases only below level 4 (early help): then a manager reviews it, as soon as the rule
    asked. Kent's own rule sends a young adult in immediate danger to any service they are open
    to, early help included (reliability review, D6)."""
    rulebook = reference.rulebook
    holds_level = {
        route: max(s.level for s in rulebook.services if s.route == route)
        for route in {s.route for s in rulebook.services}
    }
    current = {r.id for r in rulebook.rules if getattr(r.then, "route", None) == "current_service"}
    stood, reviewed = set(), set()
    for level, born, danger, service in itertools.product(
        (1, 2, 3, 4), ("2019-05-01", "2006-01-01"), (False, True), rulebook.services
    ):
        open_case = {
            "child_id": "C-1",
            "date_of_birth": born,
            "open_involvement": {"service": service.id},
        }
        referral = make_referral(
            immediate_danger=danger,
            children=[open_case],
            concerns=concerns(_indicator_of_level(rulebook, level)),
        )
        decisions = [door.route(referral)[0] for door in (durable, reference, compiled)]
        assert len({(d.level, d.route, d.urgency, d.rules_fired) for d in decisions}) == 1
        decision = decisions[0]
        if not current & set(decision.rules_fired):
            continue
        if decision.level == 4 and holds_level[service.route] < 4:
            assert decision.route == "manual_review", service.id
            assert "below the decided level 4" in decision.reasons[0]
            assert decision.urgency == "immediate"  # as the rule asked: sooner than same_day
            assert decision.due_by == date(2026, 3, 2)
            reviewed.add(service.id)
        else:
            assert decision.route == service.route, service.id
            stood.add((decision.level, service.id))
    # Worked out from rules/kent: the young adult in danger open to each early help service is
    # reviewed; open early help cases at levels 1-3 and social care cases at levels 1-3 stand.
    assert reviewed == {"single_agency_support", "team_around_the_family", "intensive_early_help"}
    # Since rulebook 2.0.0 an open case is never shown below its service's level, and every
    # Kent service is at level 2 or above, so no open case stands at level 1.
    assert {level for level, _ in stood} == {2, 3, 4}
