"""The Front Door manager's decision on a recommendation: accepted, or overridden.

A recommendation is not a decision. The manager's outcome is a `triage_outcome` record in the
same hash chain as the decision it answers, linked to it by the decision id's pseudonym and by
the seq and hash of the decision record:

```python
with DecisionLog("sqlite:///decisions.sqlite", key=secret) as log:
    log.record_outcome(ManagerOutcome(decision_id="d-1", outcome="overridden",
                                      route="strategy_discussion", level=4,
                                      reason="information_not_in_referral", decided_by="fdm-7"))
```

One outcome per decision. An override names a route the decision's rulebook has (the snapshot
in the log: the rulebook the recommendation was made under), a coded reason from that rulebook's
`override_reasons`, and, given a pathway, a route the pathway reaches from its entry and whose
ages include the child. The free-text note is left out of the log unless the log keeps detail;
who decided is pseudonymised under the log's key like every other id.

`OutcomeTally` reads the outcomes back for `replay`: recommendations against outcomes
(accepted, overridden up, down or across the continuum, by route and reason), and for a
what-if, how many overridden recommendations the revised rulebook makes as the manager decided.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Self

from pydantic import Field, JsonValue, ValidationError, model_validator

from triage._base import IsoDateTime, Level, Model
from triage.audit.chain import SNAPSHOT_KIND
from triage.audit.record import (
    GENESIS,
    DecisionRecordV1,
    Privacy,
    Pseudonymiser,
    RecordKind,
    body_of,
    now_utc,
)
from triage.audit.stores import Check, Pending, Store
from triage.decision import RulebookRef
from triage.engine import LIBRARY_VERSION
from triage.errors import LogError, MoveRefused, OutcomeRefused
from triage.facts import age_in_years
from triage.rulebook import Rulebook, SnakeId

if TYPE_CHECKING:
    from triage.audit.replay import ChildOutcome
    from triage.pathway import PathwayGraph

OUTCOME_KIND = RecordKind.TRIAGE_OUTCOME.value
DECISION_KIND = RecordKind.TRIAGE_DECISION.value


class OutcomeKind(StrEnum):
    ACCEPTED = "accepted"
    OVERRIDDEN = "overridden"


class Direction(StrEnum):
    """Where an override moved the child on the continuum of need, by level."""

    UP = "up"
    DOWN = "down"
    ACROSS = "across"  # the same level, another route
    UNDECIDED = "from_undecided"  # the rules decided no level (manual review)


class ManagerOutcome(Model):
    """What the Front Door manager decided on one recommendation."""

    decision_id: str = Field(
        min_length=1, description="The decision's id, or its pseudonym (p-...) as logged."
    )
    outcome: OutcomeKind
    route: SnakeId | None = Field(default=None, description="Overridden: the route decided.")
    level: Level | None = Field(default=None, description="Overridden: the level decided.")
    reason: SnakeId | None = Field(
        default=None, description="Overridden: a code from the rulebook's override_reasons."
    )
    note: str | None = Field(
        default=None,
        max_length=4000,
        description="Free text; kept in the log only when the log keeps detail.",
    )
    decided_by: str = Field(min_length=1, description="Who decided; pseudonymised in the log.")
    decided_at: IsoDateTime | None = Field(default=None, description="Default: when recorded.")

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Self:
        if self.outcome is OutcomeKind.OVERRIDDEN:
            if self.route is None:
                raise ValueError("an override names the route decided (route)")
            if self.reason is None:
                raise ValueError("an override gives a coded reason (reason)")
        elif self.route is not None or self.level is not None or self.reason is not None:
            raise ValueError("an accepted recommendation takes no route, level or reason")
        return self


def parse_outcome(data: object) -> ManagerOutcome:
    """A `ManagerOutcome` from a mapping, or `OutcomeRefused` naming each field wrong (the
    messages never echo what was given: it may be a name or free text)."""
    try:
        return ManagerOutcome.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            ".".join(map(str, item["loc"])) + ": " + item["msg"]
            if item["loc"]
            else item["msg"].removeprefix("Value error, ")
            for item in error.errors(include_url=False, include_input=False)
        )
        raise OutcomeRefused(problems) from None


@dataclass(frozen=True, slots=True)
class _Found:
    seq: int
    hash: str
    record: dict[str, Any]
    decision: dict[str, Any]
    read_to: int  # the highest seq the search read: the check under the lock reads after it


def _needle(pseudonym: str) -> str:
    # Bodies are canonical JSON, so a decision id's pseudonym is always written like this.
    return f'"decision_id":"{pseudonym}"'


def _holding(seq: int, digest: str, body: str, pseudonym: str) -> _Found | None:
    record = json.loads(body)
    for decision in record["output"]:
        if decision["decision_id"] == pseudonym:
            return _Found(seq, digest, record, decision, read_to=0)  # set when the search ends
    return None


def _answers(body: str) -> int:
    """The seq of the decision record an outcome record answers."""
    return int(json.loads(body)["input"]["decision"]["seq"])


def _find(store: Store, pseudonym: str) -> _Found:
    """The latest decision record holding the decision (a referral routed twice under one
    rulebook on one day is logged twice with one decision id: the manager answers the
    recommendation last made), refused when there is none or when that record already has an
    outcome. One pass over the log; `_unchanged` checks the records after it under the lock."""
    needle = _needle(pseudonym)
    found: _Found | None = None
    answered: dict[int, int] = {}  # decision record's seq -> its outcome's seq
    read_to = 0
    for row in store.rows():
        read_to = max(read_to, row.seq)
        if needle not in row.body:
            continue
        if row.kind == DECISION_KIND:
            found = _holding(row.seq, row.hash, row.body, pseudonym) or found
        elif row.kind == OUTCOME_KIND:
            answered.setdefault(_answers(row.body), row.seq)
    if found is None:
        raise OutcomeRefused("no decision record in the log holds that decision id")
    if found.seq in answered:
        raise OutcomeRefused(
            f"the decision already has an outcome, at seq {answered[found.seq]} "
            f"(one per decision record; it answers seq {found.seq})"
        )
    return replace(found, read_to=read_to)


def _unchanged(store: Store, pseudonym: str, found: _Found) -> Check:
    """The check the store runs under its writer lock just before it appends the outcome:
    nothing written since the search answered the decision or logged it again. Search and
    append are then one step, whichever processes write to the log."""
    needle = _needle(pseudonym)

    def check(last: int) -> None:
        if last <= found.read_to:
            return
        # Read whole before judging: a SQL cursor is not left open inside the transaction.
        for row in list(store.rows(found.read_to + 1, last)):
            if needle not in row.body:
                continue
            if row.kind == OUTCOME_KIND and _answers(row.body) == found.seq:
                raise OutcomeRefused(
                    f"the decision already has an outcome, at seq {row.seq} "
                    f"(one per decision record; it answers seq {found.seq})"
                )
            if row.kind == DECISION_KIND:
                raise OutcomeRefused(
                    f"the decision was logged again, at seq {row.seq}, while this outcome was "
                    "being recorded: look at that recommendation and record the outcome again"
                )

    return check


@lru_cache(maxsize=8)
def _rulebook(body: str) -> Rulebook:
    return Rulebook.model_validate(json.loads(body)["snapshot"])


def _decided_under(store: Store, found: _Found) -> Rulebook:
    fingerprint = found.record["rulebook"]["fingerprint"]
    body = store.snapshot(fingerprint, SNAPSHOT_KIND)
    if body is None:
        raise LogError(
            store.target,
            f"record seq {found.seq} names rulebook snapshot {fingerprint[:12]}, not in the log",
        )
    return _rulebook(body)


def _child_age(found: _Found) -> int | None:
    """The child's age in whole years at receipt (None: unborn), from the minimised referral."""
    referral = found.record["input"]["referral"]
    received = date.fromisoformat(str(referral["received_at"])[:10])
    for child in referral["children"]:
        if child["child_id"] == found.decision["child_id"]:
            born = child.get("date_of_birth")
            return None if born is None else age_in_years(date.fromisoformat(born), received)
    return None


def _check_pathway(pathway: PathwayGraph, route: str, age: int | None) -> None:
    entry = pathway.entry
    nodes = {node.id for node in pathway.nodes}
    allowed = tuple(edge.target for edge in pathway.next_steps(entry))
    if route not in nodes:
        raise MoveRefused(entry, route, f"{route} is not a node of pathway {pathway.id}", allowed)
    forbidden = pathway.forbidden_edge(entry, route)
    if forbidden is not None:
        raise MoveRefused(entry, route, f"the pathway forbids it: {forbidden.reason}", allowed)
    if pathway.edge(entry, route) is None:
        raise MoveRefused(entry, route, "the pathway has no route to it from its entry", allowed)
    target = pathway.node(route)
    if not target.age_range.serves(age):
        # The child's age stays out of the message: only the node's range is named.
        raise MoveRefused(
            entry,
            route,
            f"{route} serves ages {target.age_range}, which do not include the child's age",
            allowed,
        )


def _direction(recommended: int | None, decided: int | None) -> Direction:
    if recommended is None:
        return Direction.UNDECIDED
    if decided is None or decided == recommended:
        return Direction.ACROSS
    return Direction.UP if decided > recommended else Direction.DOWN


def build_outcome(
    store: Store,
    pseudonym: Pseudonymiser,
    outcome: ManagerOutcome,
    *,
    pathway: PathwayGraph | None = None,
    keep_detail: bool = False,
) -> tuple[Pending, DecisionRecordV1, Check]:
    """The outcome record, checked against the log, the decision's rulebook and the pathway,
    and the check for the store to run under its writer lock before it appends the record."""
    decision_id = outcome.decision_id
    decision_pseudonym = decision_id if decision_id.startswith("p-") else pseudonym(decision_id)
    found = _find(store, decision_pseudonym)
    rulebook = _decided_under(store, found)
    recommended_level, recommended_route = found.decision["level"], found.decision["route"]
    route, level = recommended_route, recommended_level
    direction: Direction | None = None
    if outcome.outcome is OutcomeKind.OVERRIDDEN:
        assert outcome.route is not None  # the model checks both
        assert outcome.reason is not None
        routes = tuple(sorted(rulebook.route_ids))
        if outcome.route not in rulebook.route_ids:
            raise OutcomeRefused(f"route {outcome.route!r} is not in the rulebook", routes)
        reasons = tuple(reason.id for reason in rulebook.override_reasons)
        if outcome.reason not in reasons:
            why = (
                f"reason {outcome.reason!r} is not in the rulebook's override_reasons"
                if reasons
                else "the rulebook defines no override_reasons, so no override can be coded"
            )
            raise OutcomeRefused(why, reasons)
        route = outcome.route
        level = outcome.level
        if level is None and pathway is not None and route in {n.id for n in pathway.nodes}:
            level = pathway.level_of(route)
        if route == recommended_route and level in (None, recommended_level):
            raise OutcomeRefused("the override decides what was recommended: accept it instead")
        if pathway is not None:
            _check_pathway(pathway, route, _child_age(found))
        direction = _direction(recommended_level, level)
    decided: dict[str, JsonValue] = {
        "outcome": outcome.outcome.value,
        "recommended": {"level": recommended_level, "route": recommended_route},
        "route": route,
        "level": level,
        "direction": None if direction is None else direction.value,
        "reason": outcome.reason,
        "decided_at": (outcome.decided_at or now_utc()).isoformat(),
    }
    removed: tuple[str, ...] = ()
    if outcome.note is not None:
        if keep_detail:
            decided["note"] = outcome.note
        else:
            removed = ("output[].note",)
    given: dict[str, JsonValue] = {
        "decision": {
            "decision_id": decision_pseudonym,
            "child_id": found.decision["child_id"],
            "seq": found.seq,
            "hash": found.hash,
        },
        "pathway": None
        if pathway is None
        else {"id": pathway.id, "version": pathway.version, "fingerprint": pathway.fingerprint},
    }
    record = DecisionRecordV1(
        seq=1,
        record_id=str(uuid.uuid4()),
        recorded_at=now_utc(),
        kind=RecordKind.TRIAGE_OUTCOME,
        input=given,
        output=(decided,),
        rulebook=RulebookRef.model_validate(found.record["rulebook"]),
        library_version=LIBRARY_VERSION,
        decided_by=pseudonym(outcome.decided_by),
        privacy=Privacy(
            pseudonymised=("input.decision.decision_id", "input.decision.child_id", "decided_by"),
            removed=removed,
        ),
        prev_hash=GENESIS,
        hash=GENESIS,
    )
    return (
        Pending(OUTCOME_KIND, body_of(record)),
        record,
        _unchanged(store, decision_pseudonym, found),
    )


@dataclass
class OutcomeTally:
    """The managers' outcomes of a log, set against the decisions replay makes again."""

    outcomes: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    whatif: bool = False
    accepted: int = 0
    overridden: Counter[str] = field(default_factory=Counter)  # by direction
    by_route: Counter[str] = field(default_factory=Counter)  # overrides, by route decided
    by_reason: Counter[str] = field(default_factory=Counter)
    as_manager_decided: int = 0  # what-if: overrides the revised rulebook now makes
    accepted_changed: int = 0  # what-if: accepted recommendations it changes

    def collect(self, kind: str, body: str) -> None:
        """Keep an outcome record's link and decision (given every record; others ignored)."""
        if kind != OUTCOME_KIND:
            return
        record = json.loads(body)
        link = record["input"]["decision"]
        self.outcomes[(link["seq"], link["child_id"])] = record["output"][0]

    def add(self, child: ChildOutcome) -> None:
        decided = self.outcomes.get((child.seq, child.child))
        if decided is None:
            return
        if decided["outcome"] == OutcomeKind.ACCEPTED:
            self.accepted += 1
            self.accepted_changed += not child.identical
            return
        self.overridden[decided["direction"]] += 1
        self.by_route[decided["route"]] += 1
        self.by_reason[decided["reason"]] += 1
        self.as_manager_decided += child.new_route == decided["route"] and (
            decided["level"] is None or child.new_level == decided["level"]
        )

    @property
    def total(self) -> int:
        return self.accepted + sum(self.overridden.values())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "outcomes": self.total,
            "accepted": self.accepted,
            "overridden": sum(self.overridden.values()),
            "overridden_by_direction": {d.value: self.overridden[d.value] for d in Direction},
            "overridden_by_route": dict(sorted(self.by_route.items())),
            "overridden_by_reason": dict(sorted(self.by_reason.items())),
        }
        if self.whatif:
            data["overrides_now_as_manager_decided"] = self.as_manager_decided
            data["accepted_now_changed"] = self.accepted_changed
        return data

    def lines(self) -> list[str]:
        over = sum(self.overridden.values())
        found = [
            f"managers' outcomes: {self.total}   accepted: {self.accepted}   overridden: {over} "
            f"(up {self.overridden[Direction.UP]}, down {self.overridden[Direction.DOWN]}, "
            f"across {self.overridden[Direction.ACROSS]}, "
            f"from undecided {self.overridden[Direction.UNDECIDED]})"
        ]
        if self.by_reason:
            found.append(
                "  overrides by reason: "
                + ", ".join(f"{k} {n}" for k, n in sorted(self.by_reason.items()))
            )
        if self.by_route:
            found.append(
                "  overrides by route decided: "
                + ", ".join(f"{k} {n}" for k, n in sorted(self.by_route.items()))
            )
        if self.whatif:
            found.append(
                f"  the revised rulebook decides {self.as_manager_decided} of the {over} "
                f"overridden recommendation(s) as the manager did, and changes "
                f"{self.accepted_changed} of the {self.accepted} accepted"
            )
        return found
