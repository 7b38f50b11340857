"""Never fail low: anything undecidable goes to manual_review, with the reason."""

from __future__ import annotations

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
