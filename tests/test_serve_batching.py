"""Group commit in `triage serve`: referrals that wait for the log are logged in one batch, and
each request gets its own decisions or its own error."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import concerns, make_referral
from triage.audit import verify_log
from triage.decision import Decision
from triage.errors import InputNotJson, LogError
from triage.serve.app import Service
from triage.serve.settings import Settings

KEY = "synthetic-test-key-0001"


def _bodies(count: int) -> list[bytes]:
    return [
        json.dumps(
            make_referral(referral_id=f"R-GC-{n}", concerns=concerns("domestic_abuse"))
        ).encode()
        for n in range(count)
    ] + [b'{"referral_id": ']  # not JSON: its request alone fails


def _route_all_while_the_log_is_busy(service: Service, bodies: list[bytes]) -> list[Any]:
    """Every body routed from its own thread, all queued while the test holds the lock (as a
    slow commit would), so that the next holder of the lock finds them all waiting."""
    results: list[Any] = [None] * len(bodies)

    def call(index: int) -> None:
        try:
            results[index] = service.route(bodies[index])
        except Exception as error:  # noqa: BLE001 (the test looks at it)
            results[index] = error

    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(bodies))]
    assert service.group is not None
    with service.lock:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(service.group._queue) < len(bodies):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    for thread in threads:
        thread.join(30)
    return results


@pytest.fixture(name="service")
def fixture_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.setenv("TRIAGE_LOG_KEY", KEY)
    return Service(Settings(log=f"sqlite:///{tmp_path / 'log.sqlite'}", engine="reference"))


def test_referrals_waiting_for_the_log_are_logged_in_one_batch(service: Service) -> None:
    assert service.log is not None
    batches: list[int] = []
    record = service.log.record

    def counted(*args: Any, **kwargs: Any) -> Any:
        batches.append(len(args[1]))
        return record(*args, **kwargs)

    service.log.record = counted  # type: ignore[method-assign]
    results = _route_all_while_the_log_is_busy(service, _bodies(8))
    assert batches == [8]  # eight referrals, one batch, one transaction
    decided = results[:8]
    assert all(isinstance(r, tuple) and isinstance(r[0], Decision) for r in decided)
    assert len({r[0].decision_id for r in decided}) == 8
    assert isinstance(results[8], InputNotJson)
    target = service.log.store.target
    service.close()
    report = verify_log(target)
    assert report.ok
    assert report.records == 10  # genesis, the rulebook snapshot, eight decisions


def test_a_failed_write_acknowledges_none_of_its_batch(service: Service) -> None:
    assert service.log is not None
    target = service.log.store.target

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise LogError(target, "the database refused: database or disk is full")

    service.log.record = refused  # type: ignore[method-assign]
    results = _route_all_while_the_log_is_busy(service, _bodies(4))
    assert all(isinstance(r, LogError) for r in results[:4])
    assert isinstance(results[4], InputNotJson)  # its own error, not the batch's
