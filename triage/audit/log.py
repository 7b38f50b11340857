"""Writing decisions to a tamper-evident log, and verifying the chain.

```python
with DecisionLog("sqlite:///decisions.sqlite", key=secret) as log:
    decisions = log.route(door, referral_json)       # routed, recorded, returned
print(verify_log("sqlite:///decisions.sqlite"))      # every record, the head, a torn tail
```
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog

from triage._base import trusted
from triage.audit.record import (
    GENESIS,
    DecisionRecordV1,
    Privacy,
    Pseudonymiser,
    RecordKind,
    birth_date_for_age,
    body_fields,
    body_of,
    canonical_sorted,
    chain_hash,
    minimise_decision,
    minimise_referral,
    now_utc,
    record_from,
)
from triage.audit.stores import Pending, Store, TornTail, open_store
from triage.decision import Decision, RulebookRef
from triage.engine import LIBRARY_VERSION, FrontDoor
from triage.errors import LogError
from triage.facts import age_in_years
from triage.journey import JourneyEvent, Journeys, TransitionDecision
from triage.referral import Referral
from triage.rulebook import Rulebook

KEY_VARIABLE = "TRIAGE_LOG_KEY"
_log = structlog.get_logger("triage.audit")


def _key(key: bytes | str | None, target: str) -> bytes:
    if key is None:
        key = os.environ.get(KEY_VARIABLE)
    if not key:
        raise LogError(target, f"no pseudonymisation key: set {KEY_VARIABLE} or pass key=")
    raw = key.encode() if isinstance(key, str) else key
    if len(raw) < 16:
        raise LogError(target, "the pseudonymisation key must be at least 16 bytes")
    return raw


class DecisionLog:
    """A decision log on one store. Not thread-safe: one per thread or process."""

    def __init__(
        self,
        target: str | Path | Store,
        *,
        key: bytes | str | None = None,
        keep_detail: bool = False,
    ) -> None:
        self.store: Store = open_store(target) if isinstance(target, str | Path) else target
        self._pseudonym = Pseudonymiser(_key(key, self.store.target))
        self._keep_detail = keep_detail
        self._snapshots: dict[str, Pending] = {}
        self._refs: dict[str, RulebookRef] = {}

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    def _ref(self, rulebook: Rulebook) -> RulebookRef:
        ref = self._refs.get(rulebook.fingerprint)
        if ref is None:
            ref = RulebookRef(
                id=rulebook.id, version=rulebook.version, fingerprint=rulebook.fingerprint
            )
            self._refs[rulebook.fingerprint] = ref
        return ref

    def _snapshot(self, rulebook: Rulebook) -> Pending:
        pending = self._snapshots.get(rulebook.fingerprint)
        if pending is None:
            ref = RulebookRef(
                id=rulebook.id, version=rulebook.version, fingerprint=rulebook.fingerprint
            )
            record = DecisionRecordV1(
                seq=1,
                record_id=str(uuid.uuid4()),
                recorded_at=now_utc(),
                kind=RecordKind.RULEBOOK_SNAPSHOT,
                rulebook=ref,
                library_version=LIBRARY_VERSION,
                snapshot=rulebook.model_dump(mode="json"),
                prev_hash=GENESIS,
                hash=GENESIS,
            )
            pending = Pending(
                RecordKind.RULEBOOK_SNAPSHOT.value, body_of(record), rulebook.fingerprint
            )
            self._snapshots[rulebook.fingerprint] = pending
        return pending

    def _body(
        self,
        door: FrontDoor,
        referral: Referral,
        decisions: Sequence[Decision],
        as_of: date | None,
        decided_by: str | None,
    ) -> tuple[Pending, dict[str, Any]]:
        """The record's body, and its field values but for the chain (`seq`, `hash`)."""
        minimal, privacy = minimise_referral(referral, self._pseudonym, self._keep_detail)
        # Not validated: every value comes from validated models or their JSON dumps.
        values: dict[str, Any] = {
            "v": 1,
            "seq": 1,
            "record_id": str(uuid.uuid4()),
            "recorded_at": now_utc(),
            "kind": RecordKind.TRIAGE_DECISION,
            "input": {  # keys in sorted order, as every dict of the body: see canonical_sorted
                "as_of": None if as_of is None else as_of.isoformat(),
                "engine": door.evaluator.name,
                "referral": minimal,
            },
            "output": tuple(minimise_decision(d, self._pseudonym) for d in decisions),
            "rules_fired": tuple(d.rules_fired for d in decisions),
            "rulebook": self._ref(door.rulebook),
            "library_version": LIBRARY_VERSION,
            "decided_by": decided_by,
            "privacy": privacy,
            "snapshot": None,
            "prev_hash": GENESIS,
            "hash": GENESIS,
        }
        body = canonical_sorted(body_fields(values))
        return Pending(RecordKind.TRIAGE_DECISION.value, body), values

    def route(
        self,
        door: FrontDoor,
        data: Referral | str | bytes | Mapping[str, Any],
        as_of: date | None = None,
        decided_by: str | None = None,
    ) -> tuple[Decision, ...]:
        """Route one referral and record it in its own batch (flushed before returning)."""
        return self.route_batch(door, [data], as_of=as_of, decided_by=decided_by)[0]

    def route_batch(
        self,
        door: FrontDoor,
        items: Iterable[Referral | str | bytes | Mapping[str, Any]],
        as_of: date | None = None,
        decided_by: str | None = None,
    ) -> list[tuple[Decision, ...]]:
        """Route several referrals and record them in one atomic batch. An invalid referral raises
        before anything of the batch is written: validate first when a batch may hold bad lines."""
        referrals = [door.validate(item) for item in items]
        decided = [door._route_checked(referral, as_of) for referral in referrals]
        self.record(door, referrals, decided, as_of=as_of, decided_by=decided_by)
        return decided

    def record_transitions(
        self,
        journeys: Journeys,
        events: Sequence[JourneyEvent],
        decided: Sequence[TransitionDecision],
    ) -> list[DecisionRecordV1]:
        """Record journey transitions already decided by `journeys`, in one atomic batch."""
        built = []
        for event, decision in zip(events, decided, strict=True):
            data = event.model_dump(mode="json", exclude_none=True)
            data["event_id"] = self._pseudonym(event.event_id)
            data["child_id"] = self._pseudonym(event.child_id)
            generalised: tuple[str, ...] = ()
            if event.date_of_birth is not None:
                age = age_in_years(event.date_of_birth, event.occurred_at.date())
                data["date_of_birth"] = birth_date_for_age(age, event.occurred_at.date())
                generalised = ("date_of_birth",)
            output = decision.model_dump(mode="json")
            for key in ("transition_id", "event_id", "child_id"):
                output[key] = self._pseudonym(str(output[key]))
            record = DecisionRecordV1(
                seq=1,
                record_id=str(uuid.uuid4()),
                recorded_at=now_utc(),
                kind=RecordKind.JOURNEY_TRANSITION,
                input={
                    "event": data,
                    "as_of": decision.as_of.isoformat(),
                    "engine": journeys.evaluator.name,
                    "pathway": decision.pathway.model_dump(),
                },
                output=(output,),
                rules_fired=(decision.rules_fired,),
                rulebook=decision.rulebook,
                library_version=LIBRARY_VERSION,
                decided_by=decision.decided_by,
                privacy=Privacy(
                    pseudonymised=("event_id", "child_id", "output[].transition_id"),
                    generalised=generalised,
                ),
                prev_hash=GENESIS,
                hash=GENESIS,
            )
            built.append((Pending(RecordKind.JOURNEY_TRANSITION.value, body_of(record)), record))
        placed = self.store.append([p for p, _ in built], self._snapshot(journeys.rulebook))
        pairs = zip(placed, built, strict=True)
        return [r.model_copy(update={"seq": s, "hash": h}) for (s, h), (_, r) in pairs]

    def record(
        self,
        door: FrontDoor,
        referrals: Sequence[Referral],
        decided: Sequence[Sequence[Decision]],
        as_of: date | None = None,
        decided_by: str | None = None,
    ) -> list[DecisionRecordV1]:
        """Record decisions already made by `door`, in one atomic batch."""
        built = [
            self._body(door, r, d, as_of, decided_by)
            for r, d in zip(referrals, decided, strict=True)
        ]
        placed = self.store.append([pending for pending, _ in built], self._snapshot(door.rulebook))
        records = [
            trusted(DecisionRecordV1, {**values, "seq": seq, "hash": digest})
            for (seq, digest), (_, values) in zip(placed, built, strict=True)
        ]
        for record in records:
            _log.info(
                "decision_recorded",
                seq=record.seq,
                record_id=record.record_id,
                kind=record.kind.value,
            )
        return records


# -- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    target: str
    records: int
    head: tuple[int, str] | None
    first_bad: tuple[int, str] | None = None  # (position in storage order, what is wrong)
    torn_tail: TornTail | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.first_bad is None and self.torn_tail is None

    def __str__(self) -> str:
        lines = []
        if self.first_bad is not None:
            position, what = self.first_bad
            lines.append(f"FAILED: record at position {position}: {what}")
        if self.torn_tail is not None:
            lines.append(
                f"FAILED: torn tail: {self.torn_tail.length} bytes "
                f"at offset {self.torn_tail.offset} "
                "after the last complete record (a write was cut short); "
                "kept, not repaired"
            )
        lines.extend(self.notes)
        head = "none" if self.head is None else f"seq {self.head[0]}, hash {self.head[1]}"
        verdict = "OK" if self.ok else "NOT OK"
        lines.append(f"{verdict}: {self.records} record(s) verified in {self.target}; head: {head}")
        return "\n".join(lines)


def verify_store(store: Store) -> VerifyReport:
    """Walk the chain in storage order; stop at the first bad record; compare with the head."""
    expected_seq, prev = 1, GENESIS
    count = 0
    for row in store.rows():
        if row.seq < 1:
            return VerifyReport(
                store.target,
                count,
                store.head(),
                (row.position, "not a record in the stored shape"),
            )
        if row.seq != expected_seq:
            what = (
                f"has sequence number {row.seq} where {expected_seq} was expected "
                "(a record was deleted, inserted or moved)"
            )
            return VerifyReport(store.target, count, store.head(), (row.position, what))
        if row.prev_hash != prev:
            return VerifyReport(
                store.target,
                count,
                store.head(),
                (row.position, f"seq {row.seq} does not link to the record before it"),
            )
        if chain_hash(row.seq, row.prev_hash, row.body) != row.hash:
            return VerifyReport(
                store.target,
                count,
                store.head(),
                (row.position, f"seq {row.seq} was edited: its hash does not match its content"),
            )
        prev = row.hash
        expected_seq += 1
        count += 1
    head = store.head()
    notes: list[str] = []
    first_bad = None
    if head is not None:
        if head[0] > count:
            first_bad = (
                count + 1,
                f"the log ends at seq {count} but its head says {head[0]}: "
                "records were removed from the end (truncation)",
            )
        elif head[0] == count and head[1] != prev:
            first_bad = (
                count,
                f"seq {count} differs from the head's hash (the last record was replaced)",
            )
        elif head[0] < count:
            notes.append(
                f"note: {count - head[0]} record(s) after the head (written just before a crash)"
            )
    elif count:
        first_bad = (1, "the log has records but no head")
    return VerifyReport(store.target, count, head, first_bad, store.torn_tail(), tuple(notes))


def verify_log(target: str | Path) -> VerifyReport:
    store = open_store(target)
    try:
        return verify_store(store)
    finally:
        store.close()


def read_records(store: Store) -> Iterable[DecisionRecordV1]:
    for row in store.rows():
        yield record_from(row.seq, row.prev_hash, row.hash, row.body)
