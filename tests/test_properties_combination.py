"""Invariants of rulebook 2.0.0's combination rules (issue 12, item 2), over generated synthetic
referrals, on the durable_rules engine and the reference evaluator alike."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage import FrontDoor
from triage.decision import Decision
from triage.fidelity import ROUTE_CLASSES

from .strategies import (
    CENSUS_CODES,
    census_referrals,
    recent_referral_dates,
    referrals,
    unborn_and_baby_referrals,
    vulnerabilities,
)
from .test_vocabulary import CENSUS_FACTORS

ENGINES = ["durable", "reference"]


def _door(engine: str, durable: FrontDoor, reference: FrontDoor) -> FrontDoor:
    return durable if engine == "durable" else reference


def _not_lower(old: Decision, new: Decision) -> None:
    """A decided level is never followed by none or a lower one."""
    if old.level is not None:
        assert new.level is not None
        assert new.level >= old.level


def test_the_census_codes_are_the_full_list() -> None:
    """The property below draws from every census factor code of domain.md section 6."""
    assert set(CENSUS_CODES) >= set(CENSUS_FACTORS)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=200)
@given(pair=unborn_and_baby_referrals())
def test_a_baby_under_one_is_never_below_an_unborn_child(
    pair: tuple[dict[str, Any], dict[str, Any]],
    engine: str,
    durable: FrontDoor,
    reference: FrontDoor,
) -> None:
    """The same concerns about a born baby under one never give a lower level, or a route lower
    on the continuum, than about an unborn child."""
    door = _door(engine, durable, reference)
    unborn_referral, baby_referral = pair
    (unborn,) = door.route(unborn_referral)
    (baby,) = door.route(baby_referral)
    _not_lower(unborn, baby)
    unborn_class = ROUTE_CLASSES.get(unborn.route)
    if unborn_class is not None and baby.route != "manual_review":
        baby_class = ROUTE_CLASSES[baby.route]
        assert baby_class.rank >= unborn_class.rank, (unborn.route, baby.route)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=200)
@given(referral=referrals(max_concerns=6), data=st.data())
def test_a_vulnerability_never_lowers_the_level(
    referral: dict[str, Any],
    data: st.DataObject,
    engine: str,
    durable: FrontDoor,
    reference: FrontDoor,
) -> None:
    door = _door(engine, durable, reference)
    before = door.route(referral)
    child = data.draw(st.sampled_from(referral["children"]))
    flag = data.draw(vulnerabilities(child))
    child["flags"] = sorted({*child.get("flags", ()), flag})
    for old, new in zip(before, door.route(referral), strict=True):
        _not_lower(old, new)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=200)
@given(referral=referrals(max_concerns=6), data=st.data())
def test_a_prior_referral_never_lowers_the_level(
    referral: dict[str, Any],
    data: st.DataObject,
    engine: str,
    durable: FrontDoor,
    reference: FrontDoor,
) -> None:
    door = _door(engine, durable, reference)
    before = door.route(referral)
    received = date.fromisoformat(referral["received_at"][:10])
    child = data.draw(st.sampled_from(referral["children"]))
    earlier = data.draw(recent_referral_dates(child, received))
    child["previous_referrals"] = [*child.get("previous_referrals", ()), earlier]
    for old, new in zip(before, door.route(referral), strict=True):
        _not_lower(old, new)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=200)
@given(case=census_referrals())
def test_every_census_code_reaches_a_level(
    case: tuple[str, dict[str, Any]], engine: str, durable: FrontDoor, reference: FrontDoor
) -> None:
    """A child under 18 reported with any indicator carrying a census factor code gets a level
    and a route, never a manual review, whatever else is known about them."""
    door = _door(engine, durable, reference)
    code, referral = case
    (decision,) = door.route(referral)
    assert decision.level is not None, code
    assert decision.route != "manual_review", code


@settings(max_examples=500)
@given(pair=unborn_and_baby_referrals())
def test_durable_and_reference_agree_on_history_and_flags(
    pair: tuple[dict[str, Any], dict[str, Any]], durable: FrontDoor, reference: FrontDoor
) -> None:
    """Generation with the new flags and history: both evaluators decide the same."""
    for referral in pair:
        ours = [d.model_dump(mode="json", exclude={"engine"}) for d in durable.route(referral)]
        theirs = [
            d.model_dump(mode="json", exclude={"engine"})
            for d in reference.route(copy.deepcopy(referral))
        ]
        assert ours == theirs
