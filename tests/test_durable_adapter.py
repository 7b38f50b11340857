"""The durable_rules adapter's guardrails, each against the real engine."""

from __future__ import annotations

import copy
import threading
from datetime import date
from typing import Any

import pytest

from triage import EngineFault, FrontDoor, Rulebook, _durable
from triage.facts import ChildFacts

from .conftest import concerns, make_referral


def facts(**overrides: Any) -> ChildFacts:
    base: dict[str, Any] = {
        "concerns": (),
        "unborn": False,
        "age_years": 6,
        "consent": "given",
        "immediate_danger": False,
        "open_service": None,
        "open_level": None,
        "referrals_last_12_months": 0,
        "flags": frozenset(),
    }
    base.update(overrides)
    return ChildFacts(**base)


def test_compiling_does_not_mutate_and_registering_gets_a_copy(kent: Rulebook) -> None:
    """register_rulesets deletes `run` keys of what it is given: ours keep theirs."""
    evaluator = _durable.DurableEvaluator(kent)
    before = copy.deepcopy(evaluator.compiled.rulesets)
    evaluator.level_rules(facts(), date(2026, 3, 2))
    assert evaluator.compiled.rulesets == before
    assert all("run" in rule for rules in before.values() for rule in rules.values())


def test_every_ruleset_has_the_sentinel(kent: Rulebook) -> None:
    compiled = _durable.compile_rulebook(kent)
    for rules in compiled.rulesets.values():
        assert _durable.SENTINEL in rules


def test_an_unmatched_fact_neither_crashes_nor_leaks_sessions(kent: Rulebook) -> None:
    """A fact no real rule matches, 1,500 times: past the engine's 1,024 live-session cap."""
    evaluator = _durable.DurableEvaluator(kent)
    for _ in range(1500):
        assert evaluator.level_rules(facts(), date(2026, 3, 2)) == ()


def test_many_evaluations_keep_deciding_correctly(durable: FrontDoor) -> None:
    """Unique fact ids keep the engine from dropping distinct facts as duplicates."""
    referral = make_referral(concerns=concerns("physical_abuse"))
    routes = {durable.route(referral)[0].route for _ in range(3000)}
    assert routes == {"strategy_discussion"}


def test_a_rule_action_that_raises_is_an_engine_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine swallows action exceptions into the state; the adapter must not."""

    def boom(self: Any, action_name: str) -> Any:
        def action(c: Any) -> None:
            raise RuntimeError("action failed")

        return action

    monkeypatch.setattr(_durable._RecordingHost, "get_action", boom)
    rulesets = {
        "test_raising_action": {
            "r": {"all": [{"m": {"$gte": {"as_of": 0}}}], "run": "r"},
            _durable.SENTINEL: copy.deepcopy(_durable._SENTINEL_RULE),
        }
    }
    with pytest.raises(EngineFault, match="action raised"):
        _durable.assert_flat("test_raising_action", rulesets, {"as_of": 20260302})


def test_a_fact_whose_actions_did_not_run_is_an_engine_fault() -> None:
    """No sentinel firing means the engine skipped the fact: never read as 'no rule applies'."""
    rulesets = {"test_no_sentinel": {"r": {"all": [{"m": {"$gte": {"as_of": 0}}}], "run": "r"}}}
    with pytest.raises(EngineFault, match="did not run"):
        _durable.assert_flat("test_no_sentinel", rulesets, {"as_of": 20260302})


def test_concurrent_threads_get_the_same_decisions(
    durable: FrontDoor, reference: FrontDoor
) -> None:
    """The engine segfaults under concurrent posts; the adapter's lock serialises them."""
    referral = make_referral(concerns=concerns("domestic_abuse", "missing_regularly"))
    expected = reference.route(referral)[0]
    results: list[tuple[int | None, str]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                decision = durable.route(referral)[0]
                results.append((decision.level, decision.route))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert set(results) == {(expected.level, expected.route)}
    assert len(results) == 1200


def test_the_fact_has_no_more_fields_than_the_engine_takes(kent: Rulebook) -> None:
    compiled = _durable.compile_rulebook(kent)
    fact = compiled.flatten(facts(), date(2026, 3, 2), level=3)
    assert len(fact) + 2 <= _durable.MAX_FIELDS  # + sid and id
    assert all(isinstance(value, bool | int | str) for value in fact.values())


def test_a_rule_with_several_true_or_branches_counts_once(kent: Rulebook) -> None:
    """The engine fires an `$or` rule once per true branch; a decision lists it once."""
    rulesets = {
        "test_or_branches": {
            "r": {"all": [{"m": {"$or": [{"a": True}, {"b": True}]}}], "run": "r"},
            _durable.SENTINEL: copy.deepcopy(_durable._SENTINEL_RULE),
        }
    }
    assert _durable.assert_flat(
        "test_or_branches", rulesets, {"as_of": 1, "a": True, "b": True}
    ) == ("r",)
