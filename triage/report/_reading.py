"""One scan of a decision log: the records as `DecisionRecordV1`, the referrals, decisions,
journey events and transitions in them as the library's models, kept only as far as a figure
needs them. A record that does not read as its model is counted as skipped, never half-read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from triage.audit.chain import GENESIS_KIND
from triage.audit.record import DecisionRecordV1, RecordKind, record_from
from triage.audit.stores import Store, open_store
from triage.council import ReportSection
from triage.decision import Decision
from triage.journey import JourneyEvent, TransitionDecision
from triage.referral import Referral
from triage.rulebook import Rulebook


@dataclass(frozen=True)
class ChildDecision:
    child: str
    level: int | None
    route: str
    flags: tuple[str, ...]
    source: str
    received: datetime
    recorded: datetime
    open_service: str | None


@dataclass(frozen=True)
class Move:
    child: str
    source: str
    target: str
    kind: str
    closure_reason: str | None
    occurred: datetime
    since: date | None
    findings: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """A manager's outcome, as its record says: accepted or overridden, and how."""

    outcome: str
    recommended_route: str
    direction: str | None
    reason: str | None


@dataclass
class Scan:
    records: int = 0
    skipped: int = 0
    referrals: int = 0
    decisions: list[ChildDecision] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    route_labels: dict[str, str] = field(default_factory=dict)
    reason_labels: dict[str, str] = field(default_factory=dict)
    # (decision record seq, child pseudonym) of each decision in the period, and the outcome
    # answering it: outcome records come after the decisions they answer, so one scan joins them.
    decided: set[tuple[int, str]] = field(default_factory=set)
    answers: dict[tuple[int, str], Answer] = field(default_factory=dict)
    repeated_answers: int = 0  # outcomes for a decision record already answered (not counted)
    # The report section of the last rulebook snapshot in the log that has one.
    section: ReportSection | None = None
    # The levels of need of the last rulebook snapshot in the log (the form's four before one).
    levels: tuple[int, ...] = (1, 2, 3, 4)


def _within(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


def scan(store: Store, start: date | None, end: date | None) -> Scan:
    found = Scan()
    for row in store.rows():
        found.records += 1
        if row.kind == GENESIS_KIND:
            continue  # it names the log; it records no decision
        try:
            record = record_from(row.seq, row.prev_hash, row.hash, row.body)
            if record.kind is RecordKind.RULEBOOK_SNAPSHOT:
                _read_snapshot(found, record)
            elif record.kind is RecordKind.TRIAGE_DECISION:
                _read_decision(found, record, start, end)
            elif record.kind is RecordKind.JOURNEY_TRANSITION:
                _read_move(found, record, start, end)
            elif record.kind is RecordKind.TRIAGE_OUTCOME:
                _read_outcome(found, record)
        except (ValidationError, ValueError, KeyError, TypeError):
            found.skipped += 1
    return found


def _read_snapshot(found: Scan, record: DecisionRecordV1) -> None:
    rulebook = Rulebook.model_validate(record.snapshot)
    for route in rulebook.routes:
        found.route_labels.setdefault(route.id, route.label)
    for reason in rulebook.override_reasons:
        found.reason_labels.setdefault(reason.id, reason.label)
    if rulebook.report is not None:
        found.section = rulebook.report
    found.levels = tuple(rulebook.level_names)


def _read_decision(
    found: Scan, record: DecisionRecordV1, start: date | None, end: date | None
) -> None:
    referral = Referral.model_validate((record.input or {})["referral"])
    if not _within(referral.received_on, start, end):
        return
    open_services = {
        child.child_id: None if child.open_involvement is None else child.open_involvement.service
        for child in referral.children
    }
    decisions = [Decision.model_validate(output) for output in record.output]
    # Only a record read whole counts: one that fails above is skipped, not half-read.
    found.referrals += 1
    found.decided.update((record.seq, decision.child_id) for decision in decisions)
    found.decisions.extend(
        ChildDecision(
            child=decision.child_id,
            level=decision.level,
            route=decision.route,
            flags=decision.flags,
            source=referral.source.value,
            received=referral.received_at,
            recorded=record.recorded_at,
            open_service=open_services.get(decision.child_id),
        )
        for decision in decisions
    )


def _read_move(found: Scan, record: DecisionRecordV1, start: date | None, end: date | None) -> None:
    event = JourneyEvent.model_validate((record.input or {})["event"])
    if not _within(event.occurred_at.date(), start, end):
        return
    move = TransitionDecision.model_validate(record.output[0])
    found.moves.append(
        Move(
            child=move.child_id,
            source=move.from_service,
            target=move.to_service,
            kind=move.kind,
            closure_reason=move.closure_reason,
            occurred=event.occurred_at,
            since=event.service_since,
            findings=tuple(str(finding) for finding in event.findings),
        )
    )


def _read_outcome(found: Scan, record: DecisionRecordV1) -> None:
    link: Any = (record.input or {})["decision"]
    decided: dict[str, Any] = record.output[0]
    answer = Answer(
        outcome=str(decided["outcome"]),
        recommended_route=str(decided["recommended"]["route"]),
        direction=None if decided["direction"] is None else str(decided["direction"]),
        reason=None if decided["reason"] is None else str(decided["reason"]),
    )
    key = (int(link["seq"]), str(link["child_id"]))
    if key not in found.decided:
        return  # its decision is not in the period (or not in this log)
    if key in found.answers:
        found.repeated_answers += 1
        return
    found.answers[key] = answer


def read_log(
    target: str | Path | Store, start: date | None, end: date | None
) -> tuple[Scan, tuple[int, str] | None, str]:
    """The scan of the log at `target`, its head and its name (a store given is left open)."""
    # A log that does not exist is a LogError, and opening one for reading creates nothing.
    store = target if not isinstance(target, str | Path) else open_store(target)
    try:
        return scan(store, start, end), store.head(), store.target
    finally:
        if isinstance(target, str | Path):
            store.close()
