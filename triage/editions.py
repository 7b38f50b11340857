"""A council as a sequence of editions: its rulebook, then each revision from its go-live.

```python
editions = load_editions("rules/kent-families-first")          # kent, then the revision
door = editions.door(id_key=key)                                 # routes on the edition in force
door.route(referral_json)                                        # before go-live: kent's bytes
editions = load_editions("rules/kent-families-first", go_live=date(2026, 9, 1))
```

The edition in force on a date is the latest whose go-live is on or before it; the first is in
force from the beginning. Go-live is a parameter of the council (`go_live=`, `--go-live`), with
the revision's own default (`revision: go_live:`). Each edition is an ordinary `Rulebook`, so a
decision before go-live is the base rulebook's decision, byte for byte (same fingerprint, same
ids under the same key), and the decision log's snapshot per rulebook lets verify and replay
work across go-live unchanged.

The move between two editions is checked when they are loaded (`check_move`): every service of
the earlier edition that the later one retires has exactly one successor, a service of the later
edition at the same level, given by the later edition's one `service_redesign` step rule for
it, which reads nothing but the service and the event, so that every child open to it moves.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

from triage.conditions import All, EventIs, EventKind, ServiceIs
from triage.decision import Decision
from triage.engine import FrontDoor
from triage.errors import Problem, ReferralInvalid, RulebookInvalid, UsageError
from triage.evaluator import EngineName
from triage.journey import JourneyEvent, Journeys, TransitionDecision, parse_event
from triage.loader import load_rulebook, read_revision
from triage.pathway import Edge, EdgeKind, PathwayGraph, load_pathway
from triage.pathway.revision import extended_file
from triage.referral import Referral, parse_referral
from triage.rulebook import Rule, Rulebook, StepOutcome, TransitionKind


@dataclass(frozen=True, slots=True, eq=False)  # one edition is itself: no deep comparison
class Edition:
    """One rulebook of a council (and its pathway, if known), in force from `go_live` (None:
    from the beginning)."""

    rulebook: Rulebook
    go_live: date | None = None
    pathway: PathwayGraph | None = None
    go_live_choice: str | None = None  # why the revision's default go-live (a local choice)


class Editions:
    """A council's editions in the order they go live. Build one with `load_editions`."""

    def __init__(self, editions: Sequence[Edition]) -> None:
        if not editions or editions[0].go_live is not None:
            raise UsageError("the first edition is in force from the beginning (go_live None)")
        for before, after in pairwise(editions):
            if after.go_live is None or (before.go_live and after.go_live <= before.go_live):
                raise UsageError("each later edition goes live after the one before it")
        self.editions = tuple(editions)
        problems = [p for b, a in pairwise(editions) for p in check_move(b, a)]
        if problems:
            raise RulebookInvalid(problems, f"the move from {editions[0].rulebook.id}")

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{e.rulebook.id} {e.rulebook.version}"
            + ("" if e.go_live is None else f" from {e.go_live}")
            for e in self.editions
        )
        return f"<Editions {shown}>"

    def on(self, day: date) -> Edition:
        """The edition in force on a date."""
        return self.editions[self.index_on(day)]

    def index_on(self, day: date) -> int:
        """The position of the edition in force on a date."""
        chosen = 0
        for index, edition in enumerate(self.editions[1:], start=1):
            if edition.go_live is not None and edition.go_live <= day:
                chosen = index
        return chosen

    @property
    def latest(self) -> Edition:
        return self.editions[-1]

    def successors(self, edition: Edition | None = None) -> dict[str, str]:
        """Retired service or pathway node -> its successor, for the move into `edition`
        (default: the latest)."""
        edition = self.latest if edition is None else edition
        found = {
            service: step.to
            for rule, step in _redesign_rules(edition.rulebook)
            for service in _services_of(rule)
        }
        if edition.pathway is not None:
            for edge in edition.pathway.edges:
                if edge.kind is EdgeKind.REDESIGN:
                    found.setdefault(edge.source, edge.target)
        return found

    def retired_on(self, day: date) -> dict[str, tuple[str, Edition]]:
        """Service -> (its successor, the edition that retired it), for every service retired by
        an edition in force on a date (followed on to the last successor)."""
        found: dict[str, tuple[str, Edition]] = {}
        for edition in self.editions[1:]:
            if edition.go_live is None or edition.go_live > day:
                break
            moves = self.successors(edition)
            found = {old: (moves.get(new, new), by) for old, (new, by) in found.items()}
            for old, new in moves.items():
                if old not in edition.rulebook.service_by_id:
                    found.setdefault(old, (new, edition))
        return found

    def carry_over(self, data: Mapping[str, Any], as_of: date | None = None) -> dict[str, Any]:
        """A referral (as JSON-ready data) whose children open to a service retired by the
        edition in force (on `as_of`, default the receipt date) are open to its successor
        instead, as the go-live move left them: for a case system whose form still names the
        old service, and for what-if runs of old referrals on a revision. Explicit, never done
        by the door itself."""
        referral = parse_referral(data)
        retired = self.retired_on(as_of or referral.received_on)
        out = referral.model_dump(mode="json")
        for child in out["children"]:
            involvement = child.get("open_involvement")
            if involvement and involvement.get("service") in retired:
                involvement["service"] = retired[involvement["service"]][0]
        return out

    def door(
        self, engine: EngineName | None = None, *, id_key: bytes | None = None
    ) -> EditionsDoor:
        return EditionsDoor(self, engine, id_key=id_key)

    def journeys(
        self, engine: EngineName | None = None, *, id_key: bytes | None = None
    ) -> EditionsJourneys:
        return EditionsJourneys(self, engine, id_key=id_key)


def load_editions(directory: str | Path, go_live: date | None = None) -> Editions:
    """The editions a rulebook directory ends: the rulebooks it revises, each from its own
    default go-live, then itself from `go_live` (default: its `revision: go_live:`). A
    directory that revises none is one edition."""
    directory = Path(directory)
    revision = read_revision(directory)
    rulebook = load_rulebook(directory)
    if revision is None:
        if go_live is not None:
            raise UsageError(f"{directory} revises no rulebook, so it has no go-live")
        return Editions((Edition(rulebook),))
    header, base_dir = revision
    earlier = list(load_editions(base_dir).editions)
    pathway = None
    if header.pathway is not None:
        file = directory / header.pathway
        pathway = load_pathway(file, rulebook=rulebook)
        if earlier[-1].pathway is None:
            base = earlier[-1]
            earlier[-1] = replace(
                base, pathway=load_pathway(extended_file(file), rulebook=base.rulebook)
            )
    why = header.local_choice if go_live is None else "given by the caller"
    return Editions((*earlier, Edition(rulebook, go_live or header.go_live, pathway, why)))


def _redesign_rules(rulebook: Rulebook) -> list[tuple[Rule, StepOutcome]]:
    return [
        (rule, rule.then)
        for rule in rulebook.rules
        if isinstance(rule.then, StepOutcome) and rule.then.step is TransitionKind.REDESIGN
    ]


def _services_of(rule: Rule) -> tuple[str, ...]:
    tests = rule.when.all if isinstance(rule.when, All) else (rule.when,)
    return tuple(s for test in tests if isinstance(test, ServiceIs) for s in test.service)


def _reads_only_service_and_event(rule: Rule) -> bool:
    tests = rule.when.all if isinstance(rule.when, All) else (rule.when,)
    return all(
        isinstance(test, ServiceIs)
        or (isinstance(test, EventIs) and set(test.event) == {EventKind.SERVICE_REDESIGN})
        for test in tests
    ) and any(isinstance(test, EventIs) for test in tests)


def check_move(before: Edition, after: Edition) -> list[Problem]:
    """Why the move from one edition to the next is unsafe: a service retired with no
    successor, or more than one, or one at another level; a redesign rule that does not move
    every child open to its service, that names a service (or pathway node) not retired, or
    whose move is not a redesign edge of the later edition's pathway."""
    old, new = before.rulebook, after.rulebook
    retired = [s for s in old.services if s.id not in new.service_by_id]
    found: list[Problem] = []
    rules = _redesign_rules(new)
    on = after.go_live or date.min
    for rule, step in rules:
        if not _reads_only_service_and_event(rule):
            found.append(
                Problem(
                    "when",
                    "a redesign rule reads only `service` and `event: "
                    "service_redesign`, so that every child open to the service moves",
                    rule_id=rule.id,
                )
            )
        if not rule.in_force(on):
            found.append(
                Problem("effective_from", f"is not in force on go-live {on}", rule_id=rule.id)
            )
        for named in _services_of(rule):
            if named in new.service_by_id or (
                named not in old.service_by_id
                and not (after.pathway is not None and named in after.pathway.retired)
            ):
                found.append(
                    Problem(
                        "when",
                        f"moves {named}, which is neither a service {new.id} retires from {old.id} "
                        "nor a node its pathway retires",
                        named,
                        tuple(s.id for s in retired),
                        rule_id=rule.id,
                    )
                )
            edge = None if after.pathway is None else _edge(after.pathway, named, step.to)
            if after.pathway is not None and (edge is None or edge.kind is not EdgeKind.REDESIGN):
                found.append(
                    Problem(
                        "then",
                        f"moves {named} -> {step.to}, which is not a redesign "
                        f"edge of pathway {after.pathway.id}",
                        rule_id=rule.id,
                    )
                )
    for service in retired:
        movers = [(rule, step) for rule, step in rules if service.id in _services_of(rule)]
        if len(movers) != 1:
            found.append(
                Problem(
                    "services",
                    f"{service.id} is retired, so exactly one service_redesign step rule must "
                    f"move it to its successor (found {len(movers)})",
                    service.id,
                    subject=f"service {service.id}",
                )
            )
            continue
        rule, step = movers[0]
        successor = new.service_by_id.get(step.to)
        if successor is None or successor.level != service.level:
            level = "no service" if successor is None else f"level {successor.level}"
            found.append(
                Problem(
                    "then.to",
                    f"moves {service.id} (level {service.level}) to {step.to} ({level}); a "
                    "successor is a service of the revision at the same level",
                    step.to,
                    rule_id=rule.id,
                )
            )
    return found


def _edge(pathway: PathwayGraph, source: str, target: str) -> Edge | None:
    nodes = {node.id for node in pathway.nodes}
    return pathway.edge(source, target) if {source, target} <= nodes else None


class EditionsDoor:
    """Routes each referral on the edition in force on its as-of date (default: the receipt
    date), with one `FrontDoor` per edition under one id key: before go-live, the base
    rulebook's decisions exactly."""

    def __init__(
        self, editions: Editions, engine: EngineName | None = None, *, id_key: bytes | None = None
    ) -> None:
        key = secrets.token_bytes(32) if id_key is None else id_key
        self.editions = editions
        self.doors = tuple(FrontDoor(e.rulebook, engine, id_key=key) for e in editions.editions)

    def door_for(self, day: date) -> FrontDoor:
        """The door of the edition in force on a date."""
        return self.doors[self.editions.index_on(day)]

    def validate(
        self, data: Referral | str | bytes | Mapping[str, Any], as_of: date | None = None
    ) -> Referral:
        """A referral checked against the form, then against the vocabulary of the edition in
        force on `as_of` (default: its receipt date)."""
        referral = data if isinstance(data, Referral) else parse_referral(data)
        day = as_of or referral.received_on
        retired = self.editions.retired_on(day)
        problems = []
        for index, child in enumerate(referral.children):
            service = None if child.open_involvement is None else child.open_involvement.service
            if service in retired:
                successor, by = retired[service]
                problems.append(
                    Problem(
                        f"children[{index}].open_involvement.service",
                        f"was retired on {by.go_live} by {by.rulebook.id}, when every child "
                        f"open to it moved to {successor}: send that (or Editions.carry_over)",
                        service,
                        (successor,),
                    )
                )
        if problems:
            raise ReferralInvalid(problems, "the referral")
        return self.door_for(day).validate(referral)

    def route(
        self, data: Referral | str | bytes | Mapping[str, Any], as_of: date | None = None
    ) -> tuple[Decision, ...]:
        referral = self.validate(data, as_of)
        return self.door_for(as_of or referral.received_on).route_validated(referral, as_of)

    def explain(self, decision: Decision) -> str:
        return self.door_for(decision.as_of).explain(decision)


class EditionsJourneys:
    """Decides each journey event on the edition in force on its date (the go-live event of a
    revision on the revision): one `Journeys` per edition with a pathway, under one id key."""

    def __init__(
        self, editions: Editions, engine: EngineName | None = None, *, id_key: bytes | None = None
    ) -> None:
        key = secrets.token_bytes(32) if id_key is None else id_key
        missing = [e.rulebook.id for e in editions.editions if e.pathway is None]
        if missing:
            raise UsageError(f"no pathway is known for {', '.join(missing)}")
        self.editions = editions
        self.journeys = tuple(
            Journeys(e.rulebook, e.pathway, engine, id_key=key) for e in editions.editions
        )

    def journeys_for(self, day: date) -> Journeys:
        return self.journeys[self.editions.index_on(day)]

    def validate(
        self, data: JourneyEvent | str | bytes | Mapping[str, Any], as_of: date | None = None
    ) -> JourneyEvent:
        """A journey event checked against its form, then against the pathway of the edition in
        force on `as_of` (default: the day it occurred)."""
        event = parse_event(data)
        return self.journeys_for(as_of or event.occurred_at.date()).validate(event)

    def decide(
        self, data: JourneyEvent | str | bytes | Mapping[str, Any], as_of: date | None = None
    ) -> TransitionDecision:
        event = self.validate(data, as_of)
        return self.journeys_for(as_of or event.occurred_at.date()).decide(event, as_of)
