"""Writing decisions to a tamper-evident log (verifying it is `triage.audit.verify`).

```python
with DecisionLog("sqlite:///decisions.sqlite", key=secret, witness="heads.jsonl") as log:
    decisions = log.route(door, referral_json)       # routed, recorded, returned
print(verify_log("sqlite:///decisions.sqlite", witness="heads.jsonl"))
```

The first append to a new log writes its genesis record (the log's id and a fingerprint of the
key); an append under another key than the one a log was begun with is refused, so that one
child never has two pseudonyms in one log.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

from triage._base import trusted
from triage._logging import get_logger
from triage.audit.chain import GENESIS_KIND, Genesis
from triage.audit.outcome import ManagerOutcome, build_outcome
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
    minimise_decision,
    minimise_referral,
    now_utc,
    record_from,
)
from triage.audit.stores import Check, Pending, Store, open_store
from triage.audit.witness import Witness
from triage.decision import Decision, RulebookRef
from triage.editions import EditionsDoor, EditionsJourneys
from triage.engine import LIBRARY_VERSION, FrontDoor
from triage.errors import LogError
from triage.facts import age_in_years
from triage.journey import JourneyEvent, Journeys, TransitionDecision
from triage.pathway import PathwayGraph
from triage.referral import Referral
from triage.rulebook import Rulebook

KEY_VARIABLE = "TRIAGE_LOG_KEY"
_log = get_logger("triage.audit")


MAKE_A_KEY = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'


def _key(key: bytes | str | None, target: str) -> bytes:
    if key is None:
        key = os.environ.get(KEY_VARIABLE)
    if not key:
        raise LogError(
            target, f"no pseudonymisation key: set {KEY_VARIABLE} (the API: key=); {MAKE_A_KEY}"
        )
    raw = key.encode() if isinstance(key, str) else key
    if len(raw) < 16:
        raise LogError(target, f"the pseudonymisation key must be at least 16 bytes; {MAKE_A_KEY}")
    if len(set(raw)) == 1:
        raise LogError(target, f"the pseudonymisation key is one character repeated; {MAKE_A_KEY}")
    return raw


class DecisionLog:
    """A decision log on one store. Not thread-safe: one per thread or process."""

    def __init__(
        self,
        target: str | Path | Store,
        *,
        key: bytes | str | None = None,
        keep_detail: bool = False,
        witness: str | Path | None = None,
    ) -> None:
        # The key first: a refused write creates no file.
        raw = _key(key, target.target if not isinstance(target, str | Path) else str(target))
        self._witness = None if witness is None else Witness(witness)
        self.store: Store = (
            open_store(target, create=True) if isinstance(target, str | Path) else target
        )
        self._pseudonym = Pseudonymiser(raw)
        self._genesis = Genesis.new(raw, now_utc(), LIBRARY_VERSION)
        self._genesis_pending = Pending(GENESIS_KIND, self._genesis.body())
        self._key_checked = False
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

    def _append(
        self,
        pending: Sequence[Pending],
        snapshots: Sequence[Pending],
        check: Check | None = None,
    ) -> list[tuple[int, str]]:
        """Append under this log's key (refused under another), then tell the witness."""
        self._check_key()
        placed = self.store.append(pending, snapshots, self._genesis_pending, check)
        if self._witness is not None and placed:
            stored = self.store.genesis()
            assert stored is not None  # the append wrote it, or found it
            self._witness.add(stored.log_id, *placed[-1])
        return placed

    def _check_key(self) -> None:
        if not self._key_checked:
            stored = self.store.genesis()
            if stored is not None and stored.key_fingerprint != self._genesis.key_fingerprint:
                raise LogError(
                    self.store.target,
                    f"this log was begun under another key (fingerprint "
                    f"{stored.key_fingerprint}, this key's is {self._genesis.key_fingerprint}): "
                    "appending would give the same child two pseudonyms; use the log's key",
                )
            self._key_checked = True

    @property
    def key_fingerprint(self) -> str:
        """Names this log's key without revealing it (the genesis record holds the same)."""
        return self._genesis.key_fingerprint

    def _ref(self, rulebook: Rulebook) -> RulebookRef:
        ref = self._refs.get(rulebook.fingerprint)
        if ref is None:
            ref = RulebookRef(
                id=rulebook.id, version=rulebook.version, fingerprint=rulebook.fingerprint
            )
            self._refs[rulebook.fingerprint] = ref
        return ref

    def _snapshot(self, rulebook: Rulebook, pathway: PathwayGraph | None = None) -> Pending:
        """The snapshot record of a rulebook, or (given one) of a pathway used with it: stored
        the first time its fingerprint is used, so replay decides again on exactly it."""
        fingerprint = rulebook.fingerprint if pathway is None else pathway.fingerprint
        pending = self._snapshots.get(fingerprint)
        if pending is None:
            kind = RecordKind.RULEBOOK_SNAPSHOT if pathway is None else RecordKind.PATHWAY_SNAPSHOT
            record = DecisionRecordV1(
                seq=1,
                record_id=str(uuid.uuid4()),
                recorded_at=now_utc(),
                kind=kind,
                rulebook=self._ref(rulebook),
                library_version=LIBRARY_VERSION,
                snapshot=(
                    rulebook.model_dump(mode="json")
                    if pathway is None
                    else pathway.definition.model_dump(mode="json", by_alias=True)
                ),
                prev_hash=GENESIS,
                hash=GENESIS,
            )
            pending = Pending(kind.value, body_of(record), fingerprint)
            self._snapshots[fingerprint] = pending
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
        door: FrontDoor | EditionsDoor,
        data: Referral | str | bytes | Mapping[str, Any],
        as_of: date | None = None,
        decided_by: str | None = None,
    ) -> tuple[Decision, ...]:
        """Route one referral and record it in its own batch (flushed before returning)."""
        return self.route_batch(door, [data], as_of=as_of, decided_by=decided_by)[0]

    def route_batch(
        self,
        door: FrontDoor | EditionsDoor,
        items: Iterable[Referral | str | bytes | Mapping[str, Any]],
        as_of: date | None = None,
        decided_by: str | None = None,
    ) -> list[tuple[Decision, ...]]:
        """Route several referrals and record them in one atomic batch. An invalid referral raises
        before anything of the batch is written: validate first when a batch may hold bad lines."""
        if isinstance(door, EditionsDoor):
            referrals = [door.validate(item, as_of) for item in items]
            decided = [door.route(referral, as_of) for referral in referrals]
        else:
            referrals = [door.validate(item) for item in items]
            decided = [door.route_validated(referral, as_of) for referral in referrals]
        self.record(door, referrals, decided, as_of=as_of, decided_by=decided_by)
        return decided

    def record_transitions(
        self,
        journeys: Journeys | EditionsJourneys,
        events: Sequence[JourneyEvent],
        decided: Sequence[TransitionDecision],
    ) -> list[DecisionRecordV1]:
        """Record journey transitions already decided by `journeys`, in one atomic batch."""
        built = []
        used: dict[str, Journeys] = {}
        for event, decision in zip(events, decided, strict=True):
            one = (
                journeys.journeys_for(decision.as_of)
                if isinstance(journeys, EditionsJourneys)
                else journeys
            )
            used.setdefault(one.rulebook.fingerprint, one)
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
                    "engine": one.evaluator.name,
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
        snapshots = [
            snapshot
            for one in used.values()
            for snapshot in (
                self._snapshot(one.rulebook),
                self._snapshot(one.rulebook, one.pathway),
            )
        ]
        placed = self._append([p for p, _ in built], snapshots)
        pairs = zip(placed, built, strict=True)
        return [r.model_copy(update={"seq": s, "hash": h}) for (s, h), (_, r) in pairs]

    def record_outcome(
        self, outcome: ManagerOutcome, pathway: PathwayGraph | None = None
    ) -> DecisionRecordV1:
        """Record the Front Door manager's outcome for one logged decision (`triage.audit.
        outcome`), answering the latest record of it: refused for an unknown decision, a second
        outcome, or an override the decision's rulebook or (given) the pathway does not allow.
        The last look for an outcome and the append are one step under the store's writer
        lock, so two processes recording one decision's outcome at once record one."""
        self._check_key()  # before the search: under another key no pseudonym would match
        pending, record, check = build_outcome(
            self.store, self._pseudonym, outcome, pathway=pathway, keep_detail=self._keep_detail
        )
        ((seq, digest),) = self._append([pending], (), check)
        _log.info("outcome_recorded", seq=seq, record_id=record.record_id, kind=pending.kind)
        return record.model_copy(update={"seq": seq, "hash": digest})

    def record(
        self,
        door: FrontDoor | EditionsDoor,
        referrals: Sequence[Referral],
        decided: Sequence[Sequence[Decision]],
        as_of: date | None = None,
        decided_by: str | None = None,
    ) -> list[DecisionRecordV1]:
        """Record decisions already made by `door`, in one atomic batch (with editions, each
        referral's by the door of the edition in force on its as-of date)."""
        doors = [
            door.door_for(as_of or r.received_on) if isinstance(door, EditionsDoor) else door
            for r in referrals
        ]
        built = [
            self._body(one, r, d, as_of, decided_by)
            for one, r, d in zip(doors, referrals, decided, strict=True)
        ]
        books = {one.rulebook.fingerprint: one.rulebook for one in doors}
        snapshots = [self._snapshot(rulebook) for rulebook in books.values()]
        placed = self._append([pending for pending, _ in built], snapshots)
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


def read_records(store: Store) -> Iterable[DecisionRecordV1]:
    """Every decision, snapshot and journey record of a log, in storage order (the genesis
    record, which names the log rather than recording a decision, is left out)."""
    for row in store.rows():
        if row.kind != GENESIS_KIND:
            yield record_from(row.seq, row.prev_hash, row.hash, row.body)
