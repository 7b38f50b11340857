"""Group commit: the referrals that arrive while the log is busy are logged together.

Each logged request was its own transaction, and on SQLite with `synchronous=FULL` a commit is
an fsync: about 4 ms on the benchmark machine, which capped a server at about 200 referrals a
second however many clients waited. Here a request joins a queue and then takes the service's
lock; whoever gets the lock routes every referral queued by then and records them all in one
atomic batch (`DecisionLog.record`: one record per referral, one transaction), and each request
gets its own decisions or its own error. A request is answered only after the batch holding it
is committed, so an acknowledged decision is in the log; when the write fails, every request
in the batch gets the error and none is acknowledged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from triage.audit.log import DecisionLog
from triage.decision import Decision
from triage.engine import FrontDoor
from triage.referral import Referral


@dataclass(eq=False)
class _Waiting:
    body: bytes
    decisions: tuple[Decision, ...] = ()
    error: BaseException | None = None
    done: bool = False


@dataclass(eq=False)
class GroupCommit:
    """Routes and logs referrals for concurrent callers, in batches of whoever is waiting."""

    door: FrontDoor
    log: DecisionLog
    lock: threading.Lock  # the service's lock: the engine and the log, one caller at a time
    _queue: list[_Waiting] = field(default_factory=list)
    _queue_lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, body: bytes) -> tuple[Decision, ...]:
        waiting = _Waiting(body)
        with self._queue_lock:
            self._queue.append(waiting)
        with self.lock:
            if not waiting.done:  # else an earlier holder of the lock took it in its batch
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._run(batch)
        if waiting.error is not None:
            raise waiting.error
        return waiting.decisions

    def _run(self, batch: list[_Waiting]) -> None:
        valid: list[tuple[_Waiting, Referral, tuple[Decision, ...]]] = []
        try:
            for waiting in batch:
                try:
                    referral = self.door.validate(waiting.body)
                    valid.append((waiting, referral, self.door.route_validated(referral)))
                except Exception as error:  # noqa: BLE001 (raised again by its own request)
                    waiting.error = error
            try:
                if valid:
                    referrals = [referral for _, referral, _ in valid]
                    self.log.record(self.door, referrals, [decided for _, _, decided in valid])
            except Exception as error:  # noqa: BLE001 (raised again by each request)
                for waiting, _, _ in valid:
                    waiting.error = error  # nothing of the batch was written: none acknowledged
            else:
                for waiting, _, decided in valid:
                    waiting.decisions = decided
        finally:
            for waiting in batch:
                waiting.done = True
