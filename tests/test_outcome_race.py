"""One outcome per decision record, whatever writes to the log at once: two real processes
racing to record one decision's outcome, on each store; and a referral routed twice."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import concerns, make_referral
from tests.test_audit import _new_database
from tests.test_audit import fixture_pg_server as fixture_pg_server
from triage.audit import DecisionLog, verify_log
from triage.audit.outcome import ManagerOutcome
from triage.audit.record import DecisionRecordV1
from triage.audit.stores import open_store
from triage.engine import FrontDoor
from triage.errors import OutcomeRefused

KEY = "synthetic-test-key-0001"
WAIT = 60  # seconds a racer waits for the other at the barrier


@pytest.fixture(name="target", params=["jsonl", "sqlite", "postgresql"])
def fixture_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty log of each kind."""
    if request.param == "jsonl":
        return str(tmp_path / "log.jsonl")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.sqlite'}"
    return _new_database(request.getfixturevalue("pg_server"))


def _accept(decision_id: str, by: str = "fdm-synthetic-7") -> ManagerOutcome:
    return ManagerOutcome(decision_id=decision_id, outcome="accepted", decided_by=by)


def _race(target: str, decision_id: str, barrier: Barrier, results: Any) -> None:
    """One racer: search the log, wait until the other racer has searched it too, append.

    The wait sits in front of the store's own append, so both searches are done before either
    writes: the interleaving that lost an outcome check before it was made one step."""
    with DecisionLog(target, key=KEY) as log:
        store = log.store
        append = store.append

        def after_the_other(*args: Any, **kwargs: Any) -> list[tuple[int, str]]:
            barrier.wait(WAIT)
            return append(*args, **kwargs)

        store.append = after_the_other  # type: ignore[method-assign]
        try:
            record = log.record_outcome(_accept(decision_id))
            results.put(("recorded", record.seq))
        except OutcomeRefused as refused:
            results.put(("refused", refused.message))


def _answered(record: DecisionRecordV1) -> Any:
    """The seq of the decision record an outcome record answers."""
    assert record.input is not None
    link: Any = record.input["decision"]
    return link["seq"]


def _outcomes(target: str) -> list[int]:
    store = open_store(target)
    try:
        return [row.seq for row in store.rows() if row.kind == "triage_outcome"]
    finally:
        store.close()


def test_two_processes_racing_record_one_outcome(target: str, reference: FrontDoor) -> None:
    """Both racers have searched the log and found no outcome before either appends; the
    store's writer lock lets the first append and the second's check, under the same lock,
    finds the first outcome and refuses."""
    with DecisionLog(target, key=KEY) as log:
        (decision,) = log.route(reference, make_referral(concerns=concerns("domestic_abuse")))
    context = multiprocessing.get_context("spawn")  # no engine threads or connections copied
    barrier = context.Barrier(2)
    results = context.Queue()
    racers = [
        context.Process(target=_race, args=(target, decision.decision_id, barrier, results))
        for _ in range(2)
    ]
    for racer in racers:
        racer.start()
    found = sorted((results.get(timeout=WAIT * 2) for _ in racers), key=lambda item: item[0])
    for racer in racers:
        racer.join(WAIT)
        assert racer.exitcode == 0
    assert [kind for kind, _ in found] == ["recorded", "refused"]
    assert "already has an outcome, at seq 4" in str(found[1][1])
    assert _outcomes(target) == [4]  # genesis, snapshot, decision, the one outcome
    assert verify_log(target).ok


def test_an_outcome_answers_the_latest_record_of_a_referral_routed_twice(
    tmp_path: Path, reference: FrontDoor
) -> None:
    """A referral corrected and routed again (same referral id, rulebook and day) is logged
    twice under one decision id: the outcome answers the second record, the one the manager
    saw last, and a second outcome for that record is refused."""
    target = tmp_path / "log.jsonl"
    first = make_referral(concerns=concerns("domestic_abuse"))  # level 3: intensive early help
    corrected = make_referral(concerns=concerns("physical_abuse"))  # level 4: strategy discussion
    with DecisionLog(target, key=KEY) as log:
        (one,) = log.route(reference, first)  # seq 3 (genesis 1, snapshot 2)
        (two,) = log.route(reference, corrected)  # seq 4
        assert one.decision_id == two.decision_id
        record = log.record_outcome(_accept(two.decision_id))
        assert record.seq == 5
        assert _answered(record) == 4
        assert record.output[0]["recommended"] == {"level": 4, "route": "strategy_discussion"}
        with pytest.raises(OutcomeRefused, match="already has an outcome, at seq 5"):
            log.record_outcome(_accept(two.decision_id))
        # Routed a third time after the outcome: a new recommendation, which may be answered.
        (three,) = log.route(reference, first)  # seq 6
        again = log.record_outcome(_accept(three.decision_id))
        assert (again.seq, _answered(again)) == (7, 6)
        assert again.output[0]["recommended"] == {"level": 3, "route": "intensive_early_help"}
    assert verify_log(target).ok


def test_a_decision_logged_again_between_search_and_append_is_refused(
    tmp_path: Path, reference: FrontDoor
) -> None:
    """The check under the lock also sees the decision routed again after the search: the
    outcome would answer a recommendation that is no longer the latest, so it is refused."""
    target = tmp_path / "log.jsonl"
    referral = make_referral(concerns=concerns("domestic_abuse"))
    with DecisionLog(target, key=KEY) as log, DecisionLog(target, key=KEY) as other:
        (decision,) = log.route(reference, referral)
        store = log.store
        append = store.append

        def routed_meanwhile(*args: Any, **kwargs: Any) -> list[tuple[int, str]]:
            other.route(reference, referral)  # seq 4, between the search and the append
            return append(*args, **kwargs)

        store.append = routed_meanwhile  # type: ignore[method-assign]
        with pytest.raises(OutcomeRefused, match="logged again, at seq 4"):
            log.record_outcome(_accept(decision.decision_id))
    assert _outcomes(str(target)) == []
    assert verify_log(target).ok
