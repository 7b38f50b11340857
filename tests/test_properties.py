"""Invariants over generated synthetic referrals (Hypothesis)."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from triage import FrontDoor, TriageError
from triage.decision import Decision
from triage.facts import age_in_years
from triage.rulebook import RouteOutcome

from .strategies import (
    INDICATORS,
    json_values,
    malformed_referrals,
    open_case_referrals,
    referrals,
)


def _comparable(decision: Decision) -> dict[str, Any]:
    data = decision.model_dump(mode="json")
    del data["engine"]
    return data


@settings(max_examples=5000)
@given(referral=referrals())
def test_durable_reference_and_compiled_evaluators_agree(
    referral: dict[str, Any], durable: FrontDoor, reference: FrontDoor, compiled: FrontDoor
) -> None:
    """The three evaluators give identical decisions (all but the engine's name): durable and
    compiled are both held to the reference, the plain interpreter."""
    theirs = [_comparable(d) for d in reference.route(referral)]
    assert [_comparable(d) for d in durable.route(referral)] == theirs
    assert [_comparable(d) for d in compiled.route(referral)] == theirs


@settings(max_examples=1000)
@given(referral=open_case_referrals())
def test_a_child_at_the_highest_level_is_never_passed_to_a_lower_current_service(
    referral: dict[str, Any], durable: FrontDoor, reference: FrontDoor, compiled: FrontDoor
) -> None:
    """Whatever the rules say: a level-4 child whose winning route rule names the current
    service goes to manual review unless that service's route holds level-4 open cases; at
    every other level the current service's route stands. Over every level and open service."""
    rulebook = reference.rulebook
    holds_level = {
        route.id: max((s.level for s in rulebook.services if s.route == route.id), default=0)
        for route in rulebook.routes
    }
    by_child = {kid["child_id"]: kid for kid in referral["children"]}
    for door in (durable, reference, compiled):
        for decision in door.route(referral):
            winners = [
                rulebook.rule_by_id[i]
                for i in decision.rules_fired
                if isinstance(rulebook.rule_by_id[i].then, RouteOutcome)
            ]
            if not winners or winners[0].then.route != "current_service":  # type: ignore[union-attr]
                continue
            service = rulebook.service_by_id[
                by_child[decision.child_id]["open_involvement"]["service"]
            ]
            if decision.level == 4 and holds_level[service.route] < 4:
                assert decision.route == "manual_review"
                assert decision.urgency == winners[0].then.urgency  # type: ignore[union-attr]
            else:
                assert decision.route == service.route


@given(referral=referrals())
def test_same_referral_same_decision(referral: dict[str, Any], durable: FrontDoor) -> None:
    """Determinism: routing twice, or from JSON text, gives the same decisions."""
    first = durable.route(referral)
    assert durable.route(copy.deepcopy(referral)) == first
    assert durable.route(json.dumps(referral)) == first


@given(
    referral=referrals(max_concerns=6),
    extra=st.sampled_from(INDICATORS),
    about=st.sampled_from(["child", "parent_carer", "household_member"]),
)
def test_adding_a_concern_never_lowers_the_level(
    referral: dict[str, Any], extra: str, about: str, reference: FrontDoor
) -> None:
    """More concerns never mean less need; an undecided child is never decided lower."""
    before = reference.route(referral)
    referral["concerns"] = [*referral["concerns"], {"indicator": extra, "about": about}]
    after = reference.route(referral)
    for old, new in zip(before, after, strict=True):
        if old.level is not None:
            assert new.level is not None
            assert new.level >= old.level


@given(referral=referrals())
def test_immediate_danger_always_routes_to_immediate_protection(
    referral: dict[str, Any], durable: FrontDoor
) -> None:
    """A born child under 18 goes to emergency protection; an unborn child to a strategy
    discussion now (no EPO before birth); a young adult at once to the worker of the service
    they are open to, or to manual review. Always level 4, immediate or same day."""
    referral["immediate_danger"] = True
    received = date.fromisoformat(referral["received_at"][:10])
    for decision, child in zip(durable.route(referral), referral["children"], strict=True):
        born = child.get("date_of_birth")
        if born is not None and age_in_years(date.fromisoformat(born), received) < 18:
            assert decision.route == "emergency_protection"
        elif born is None:
            assert decision.route == "strategy_discussion"
        else:  # a young adult: at once to the worker of the service they are open to, or review
            involvement = child.get("open_involvement")
            open_route = (
                durable.rulebook.service_by_id[involvement["service"]].route
                if involvement
                else None
            )
            assert decision.route in {open_route, "manual_review"}
        assert decision.level == 4
        assert decision.urgency in {"immediate", "same_day"}


@given(referral=referrals())
def test_every_route_is_a_rulebook_route(referral: dict[str, Any], durable: FrontDoor) -> None:
    routes = {route.id for route in durable.rulebook.routes}
    received = date.fromisoformat(referral["received_at"][:10])
    for decision in durable.route(referral):
        assert decision.route in routes
        assert decision.due_by >= received
        assert decision.reasons


@given(referral=malformed_referrals())
def test_malformed_input_is_an_error_never_a_crash(
    referral: dict[str, Any], durable: FrontDoor
) -> None:
    """A damaged form is either still valid or refused with a TriageError, never anything else."""
    try:
        decisions = durable.route(referral)
    except TriageError as error:
        assert error.code in {"referral_invalid", "input_not_json"}
    else:
        assert decisions


@given(text=st.text(max_size=200) | json_values.map(json.dumps))
def test_arbitrary_text_is_an_error_never_a_crash(text: str, durable: FrontDoor) -> None:
    try:
        durable.route(text)
    except TriageError as error:
        assert error.code in {"referral_invalid", "input_not_json"}
