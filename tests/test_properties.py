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

from .strategies import INDICATORS, json_values, malformed_referrals, referrals


def _comparable(decision: Decision) -> dict[str, Any]:
    data = decision.model_dump(mode="json")
    del data["engine"]
    return data


@settings(max_examples=5000)
@given(referral=referrals())
def test_durable_and_reference_evaluators_agree(
    referral: dict[str, Any], durable: FrontDoor, reference: FrontDoor
) -> None:
    """Both evaluators give identical decisions (all but the engine's name)."""
    ours = [_comparable(d) for d in durable.route(referral)]
    theirs = [_comparable(d) for d in reference.route(referral)]
    assert ours == theirs


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
