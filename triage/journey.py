"""Journeys: moving a child along the continuum, decided by step rules and checked on the graph.

A journey event (a new referral on an open case, a review with findings, a plan ending, a
birthday, a closure, a service redesign on the day a revision goes live) is about one service
the child is open to. The rulebook's *step rules*
(`then: {step: step_up|step_down|transition|close|redesign, to: NODE}`) decide the move, hit
policy *priority*, on the same evaluator as referrals; the pathway graph must allow it. A
service redesign is decided by `redesign` rules alone, and they decide nothing else. A practitioner
may override with a recorded reason: the override may leave the graph's edges (it is marked as
such) but never crosses a forbidden edge. When no step rule applies, or the engine fails, the
child stays where it is: a journey never moves a child lower by default.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from triage._base import IsoDate, IsoDateTime, Level, Model
from triage._input import load_json
from triage._logging import get_logger
from triage.conditions import All, EventKind, ReviewFinding, ServiceIs
from triage.decision import LIBRARY_VERSION, IdKey, RulebookRef
from triage.errors import (
    EngineFault,
    MoveRefused,
    PathwayInvalid,
    Problem,
    ReferralInvalid,
    RulebookInvalid,
)
from triage.evaluator import EngineName, Evaluator, make_evaluator
from triage.facts import JourneyFacts, age_in_years
from triage.loader import bundled_pathway_file, load_rulebook
from triage.pathway import EdgeKind, PathwayGraph, load_pathway
from triage.policies import by_priority
from triage.referral import ChildFlag, Consent, Identifier, parse_problems
from triage.rulebook import Rule, Rulebook, StepOutcome, TransitionKind

_log = get_logger(__name__)
_EVENTS = {
    TransitionKind.STEP_UP: "case_stepped_up",
    TransitionKind.STEP_DOWN: "case_stepped_down",
    TransitionKind.TRANSITION: "case_transitioned",
    TransitionKind.CLOSE: "case_closed",
    TransitionKind.REDESIGN: "case_moved_by_redesign",
}
_EDGE_OF = {
    TransitionKind.STEP_UP: EdgeKind.STEP_UP,
    TransitionKind.STEP_DOWN: EdgeKind.STEP_DOWN,
    TransitionKind.TRANSITION: EdgeKind.TRANSITION,
    TransitionKind.CLOSE: EdgeKind.EXIT,
    TransitionKind.REDESIGN: EdgeKind.REDESIGN,
}


class Override(Model):
    """A practitioner's decision that replaces the rules', with the reason recorded."""

    to: str = Field(min_length=1, description="A node of the pathway graph.")
    reason: str = Field(min_length=10, description="Why the practitioner decided otherwise.")


class JourneyEvent(Model):
    event_id: Identifier
    child_id: Identifier
    occurred_at: IsoDateTime
    event: EventKind
    service: str = Field(min_length=1, description="The service (pathway node) the event is about.")
    service_since: IsoDate | None = Field(
        default=None, description="When the child's involvement with that service began (for KPIs)."
    )
    date_of_birth: IsoDate | None = None
    expected_date_of_birth: IsoDate | None = None
    findings: tuple[ReviewFinding, ...] = ()
    level: Level | None = Field(
        default=None, description="Level of need of a new referral, if any."
    )
    consent: Consent = Consent.GIVEN
    flags: tuple[ChildFlag, ...] = ()
    decided_by: str | None = Field(
        default=None, description="Who decided (a practitioner's role or id)."
    )
    override: Override | None = None


class PathwayRef(Model):
    id: str
    version: str
    fingerprint: str


StepKind = Literal["step_up", "step_down", "transition", "close", "redesign", "stay"]


class TransitionDecision(Model):
    transition_id: str
    event_id: str
    child_id: str
    from_service: str
    to_service: str
    kind: StepKind
    reasons: tuple[str, ...]
    rules_fired: tuple[str, ...]
    decided_by: str
    decided_at: datetime
    as_of: date
    overridden: bool = False
    rules_proposed: str | None = Field(
        default=None, description="Where the rules would have moved."
    )
    closure_reason: str | None = None
    manual_review: bool = False
    rulebook: RulebookRef
    pathway: PathwayRef
    library_version: str


def _bundled_pathway(rulebook: Rulebook) -> PathwayGraph:
    """The bundled pathway named as the rulebook (`kent_families_first`: the file
    kent-families-first.yaml), else the bundled Kent pathway, as before revisions existed."""
    for name in dict.fromkeys((rulebook.id, rulebook.id.replace("_", "-"))):
        try:
            file = bundled_pathway_file(name)
        except PathwayInvalid:  # none of that name is installed
            continue
        return load_pathway(file, rulebook=rulebook)
    return load_pathway(rulebook=rulebook)


def parse_event(data: JourneyEvent | str | bytes | Mapping[str, Any]) -> JourneyEvent:
    """A journey event checked against its form (not yet against a pathway)."""
    if isinstance(data, JourneyEvent):
        return data
    # The same strict reader as referrals: repeated keys, NaN, BOMs refused.
    raw = load_json(data, "the journey event") if isinstance(data, str | bytes) else data
    try:
        return JourneyEvent.model_validate(raw)
    except ValidationError as error:
        raise ReferralInvalid(parse_problems(error), "the journey event") from None


def _step_services(rule: Rule) -> tuple[str, ...]:
    tests = rule.when.all if isinstance(rule.when, All) else (rule.when,)
    return tuple(s for test in tests if isinstance(test, ServiceIs) for s in test.service)


class Journeys:
    """Decides journey events with one rulebook, one evaluator and one pathway graph.

    `id_key` keys the transition ids as `FrontDoor`'s keys its decision ids (HMAC-SHA256; a
    random key per `Journeys` when none is given)."""

    def __init__(
        self,
        rulebook: Rulebook | None = None,
        pathway: PathwayGraph | None = None,
        engine: EngineName | Evaluator | None = None,
        *,
        id_key: bytes | None = None,
    ) -> None:
        self.rulebook = load_rulebook() if rulebook is None else rulebook
        self.pathway = _bundled_pathway(self.rulebook) if pathway is None else pathway
        self.evaluator = (
            make_evaluator(engine, self.rulebook)
            if engine is None or isinstance(engine, str)
            else engine
        )
        self.prepared = self.rulebook.prepared
        self._ids = IdKey(secrets.token_bytes(32) if id_key is None else id_key)
        self._check_rules_against_graph()

    def _check_rules_against_graph(self) -> None:
        """Every move a step rule can make must be an edge of the graph, of its kind."""
        problems = []
        for rule in self.prepared.step_rules:
            step = self.prepared.step_of[rule.id]
            services = _step_services(rule)
            if not services:
                problems.append(
                    Problem(
                        "when", "a step rule must test `service` at its top level", rule_id=rule.id
                    )
                )
            nodes = {node.id for node in self.pathway.nodes}
            for service in services:
                if service not in nodes or step.to not in nodes:
                    problems.append(
                        Problem(
                            "when",
                            f"names {service} -> {step.to}, not both nodes of the pathway",
                            rule_id=rule.id,
                        )
                    )
                    continue
                edge = self.pathway.edge(service, step.to)
                if edge is None or edge.kind != _EDGE_OF[step.step]:
                    problems.append(
                        Problem(
                            "then",
                            f"moves {service} -> {step.to} ({step.step}), "
                            "which is not an edge of that kind in the pathway",
                            rule_id=rule.id,
                        )
                    )
        if problems:
            raise RulebookInvalid(
                problems, f"step rules of {self.rulebook.id} on pathway {self.pathway.id}"
            )

    def validate(self, data: JourneyEvent | str | bytes | Mapping[str, Any]) -> JourneyEvent:
        event = parse_event(data)
        nodes = tuple(sorted(node.id for node in self.pathway.nodes))
        problems = []
        if event.service not in nodes:
            problems.append(
                Problem("service", "is not a node of the pathway", event.service, nodes)
            )
        if event.override is not None and event.override.to not in nodes:
            problems.append(
                Problem("override.to", "is not a node of the pathway", event.override.to, nodes)
            )
        if (event.date_of_birth is None) == (event.expected_date_of_birth is None):
            problems.append(
                Problem("", "give exactly one of date_of_birth or expected_date_of_birth")
            )
        levels = self.prepared.level_names
        if event.level is not None and event.level not in levels:
            # A level the rulebook does not count would meet none of its step rules' levels:
            # the child would stay where it is, never stepped up.
            valid = tuple(str(level) for level in levels)
            problems.append(
                Problem("level", "is not a level of this rulebook", str(event.level), valid)
            )
        if problems:
            raise ReferralInvalid(problems, "the journey event")
        return event

    def decide(
        self, data: JourneyEvent | str | bytes | Mapping[str, Any], as_of: date | None = None
    ) -> TransitionDecision:
        event = self.validate(data)
        on = event.occurred_at.date() if as_of is None else as_of
        facts = JourneyFacts(
            event=event.event.value,
            service=event.service,
            findings=frozenset(f.value for f in event.findings),
            level=event.level,
            unborn=event.date_of_birth is None,
            age_years=None
            if event.date_of_birth is None
            else age_in_years(event.date_of_birth, event.occurred_at.date()),
            consent=event.consent.value,
            flags=frozenset(f.value for f in event.flags),
        )
        manual = False
        try:
            fired = self.evaluator.step_rules(facts, on)
        except EngineFault as fault:
            _log.error(
                "engine_fault", engine=fault.engine, what=fault.what, rulebook=self.rulebook.id
            )
            fired, manual = (), True
        # Whatever the rulebook says: the go-live event moves a child only to a successor, and
        # only the go-live event does. A step rule that reads no event (Kent's closing of an
        # assessment with no further action) must not close a case on go-live day.
        redesign = event.event is EventKind.SERVICE_REDESIGN
        step_of = self.prepared.step_of
        fired = tuple(r for r in fired if (step_of[r].step is TransitionKind.REDESIGN) == redesign)
        winner = by_priority(fired, self.prepared.priority)
        reasons = [] if winner is None else [self.prepared.reasons[winner]((), on)]
        proposed = None if winner is None else self.prepared.step_of[winner]
        if event.override is not None:
            target, kind, closure = self._overridden(event, proposed)
            _override_fits_age(self.pathway, event, self._next(event.service))
            reasons.insert(
                0, f"Overridden by {event.decided_by or 'a practitioner'}: {event.override.reason}"
            )
        elif proposed is not None:
            target, kind, closure = proposed.to, proposed.step.value, proposed.closure_reason
            self._allowed(event.service, target, proposed.step)
        else:
            target, kind, closure = event.service, "stay", None
            reasons.append(
                "The engine failed, so the child stays where it is until a manager reviews it."
                if manual
                else f"No step rule applies, so the child stays with {event.service}."
            )
        transition_id = self._ids.derive(
            "T-",
            event.event_id,
            event.child_id,
            self.rulebook.fingerprint,
            self.pathway.fingerprint,
            on.isoformat(),
        )
        decision = TransitionDecision(
            transition_id=transition_id,
            event_id=event.event_id,
            child_id=event.child_id,
            from_service=event.service,
            to_service=target,
            kind=kind,
            reasons=tuple(reasons),
            rules_fired=tuple(fired) if winner else (),
            decided_by=event.decided_by or "rules",
            decided_at=event.occurred_at,
            as_of=on,
            overridden=event.override is not None,
            rules_proposed=None if proposed is None else proposed.to,
            closure_reason=closure,
            manual_review=manual,
            rulebook=self.rulebook.ref,
            pathway=PathwayRef(
                id=self.pathway.id,
                version=self.pathway.version,
                fingerprint=self.pathway.fingerprint,
            ),
            library_version=LIBRARY_VERSION,
        )
        _log.info(
            _EVENTS.get(TransitionKind(kind), "case_stayed") if kind != "stay" else "case_stayed",
            transition_id=decision.transition_id,
            from_service=decision.from_service,
            to_service=decision.to_service,
            kind=kind,
            overridden=decision.overridden,
            rules_fired=decision.rules_fired,
        )
        return decision

    def _allowed(self, source: str, target: str, kind: TransitionKind) -> None:
        forbidden = self.pathway.forbidden_edge(source, target)
        if forbidden is not None:
            raise MoveRefused(source, target, f"forbidden: {forbidden.reason}", self._next(source))
        edge = self.pathway.edge(source, target)
        if edge is None or edge.kind != _EDGE_OF[kind]:
            raise MoveRefused(
                source, target, f"not a {kind.value} edge of the pathway", self._next(source)
            )

    def _next(self, source: str) -> tuple[str, ...]:
        return tuple(f"{e.target} ({e.kind.value})" for e in self.pathway.next_steps(source))

    def _overridden(
        self, event: JourneyEvent, proposed: StepOutcome | None
    ) -> tuple[str, str, str | None]:
        assert event.override is not None
        source, target = event.service, event.override.to
        forbidden = self.pathway.forbidden_edge(source, target)
        if forbidden is not None:
            raise MoveRefused(
                source,
                target,
                f"forbidden, even by override: {forbidden.reason}",
                self._next(source),
            )
        edge = self.pathway.edge(source, target)
        if edge is not None and edge.kind is not EdgeKind.ROUTE:
            kind = {v: k for k, v in _EDGE_OF.items()}[edge.kind].value
        else:
            before, after = self.pathway.level_of(source), self.pathway.level_of(target)
            if before is not None and after is not None and after != before:
                kind = "step_up" if after > before else "step_down"
            else:
                kind = "transition"
        closure = (
            proposed.closure_reason if proposed is not None and proposed.to == target else None
        )
        return target, kind, closure


def _override_fits_age(
    pathway: PathwayGraph, event: JourneyEvent, allowed: tuple[str, ...]
) -> None:
    """An override may leave the edges, but never move a child to a node that does not serve
    its age (an 11-year-old to adult services, an unborn child to youth justice)."""
    assert event.override is not None
    target = pathway.node(event.override.to)
    age = (
        None
        if event.date_of_birth is None
        else age_in_years(event.date_of_birth, event.occurred_at.date())
    )
    if not target.age_range.serves(age):
        # The child's age stays out of the message: only the node's range is named.
        raise MoveRefused(
            event.service,
            target.id,
            f"{target.id} serves ages {target.age_range}, which do not include the child's age "
            "on the event date, even by override",
            allowed,
        )


def decide_child(
    journeys: Journeys, events: Iterable[JourneyEvent], child_id: str
) -> tuple[TransitionDecision, ...]:
    """Decide one child's journey events in the order they happened (file order for ties)."""
    mine = sorted(
        (event for event in events if event.child_id == child_id), key=lambda e: e.occurred_at
    )
    return tuple(journeys.decide(event) for event in mine)
