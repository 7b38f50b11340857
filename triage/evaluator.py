"""The seam between the FrontDoor and an engine, and the pure-Python reference evaluator.

An evaluator is bound to one rulebook and answers two questions, in rulebook order:
which level rules hold for these facts, and (once the level is decided) which route and flag
rules hold. The hit policies live in `engine.py`, once, for every evaluator.

The reference evaluator interprets the condition language directly over `ChildFacts`. It
shares no code with the durable_rules compiler on purpose: property tests compare the two.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from triage.conditions import (
    Age,
    All,
    Any_,
    ChildFlags,
    ConcernFilter,
    Concerns,
    Condition,
    ConsentIs,
    Domains,
    EventIs,
    FindingsInclude,
    ImmediateDanger,
    LevelIs,
    OpenInvolvementIs,
    ReferralsLast12Months,
    ServiceIs,
    Unborn,
)
from triage.facts import ChildFacts, ConcernFact, JourneyFacts
from triage.rulebook import Rule, Rulebook


class Evaluator(Protocol):
    """What the FrontDoor needs from an engine."""

    name: str
    rulebook: Rulebook

    def level_rules(self, facts: ChildFacts, as_of: date) -> tuple[str, ...]:
        """Ids of the level rules in force on `as_of` whose conditions hold, in rulebook order."""
        ...

    def route_rules(self, facts: ChildFacts, level: int, as_of: date) -> tuple[str, ...]:
        """Ids of the route and flag rules in force that hold at the decided level, in order."""
        ...

    def step_rules(self, facts: JourneyFacts, as_of: date) -> tuple[str, ...]:
        """Ids of the step rules in force that hold for a journey event, in rulebook order."""
        ...


def selected(concern: ConcernFact, f: ConcernFilter) -> bool:
    return (
        (f.indicator is None or concern.indicator in f.indicator)
        and (f.level is None or concern.level in f.level)
        and (f.domain is None or concern.domain in f.domain)
        and (f.about is None or concern.about in f.about)
    )


def _within(count: int, low: int, high: int | None) -> bool:
    return count >= low and (high is None or count <= high)


def holds(condition: Condition, facts: ChildFacts | JourneyFacts, level: int | None = None) -> bool:
    """The meaning of a condition: does it hold for these facts (at this decided level)?

    Referral conditions never hold for a journey event and journey conditions never hold for a
    referral (the rulebook refuses such rules at load; this keeps the meaning total)."""
    if isinstance(facts, JourneyFacts):
        return _holds_for_event(condition, facts)
    match condition:
        case All(all=parts):
            return all(holds(part, facts, level) for part in parts)
        case Any_(any=parts):
            return any(holds(part, facts, level) for part in parts)
        case Concerns(concerns=c):
            count = len({x.indicator for x in facts.concerns if selected(x, c)})
            return _within(count, c.min, c.max)
        case Domains(domains=d):
            count = len({x.domain for x in facts.concerns if selected(x, d)})
            return _within(count, d.min, d.max)
        case Age(age=bounds):
            if facts.age_years is None:
                return False
            return (bounds.min_years is None or facts.age_years >= bounds.min_years) and (
                bounds.max_years is None or facts.age_years <= bounds.max_years
            )
        case Unborn(unborn=value):
            return facts.unborn == value
        case ConsentIs(consent=values):
            return facts.consent in values
        case ImmediateDanger(immediate_danger=value):
            return facts.immediate_danger == value
        case OpenInvolvementIs(open_involvement=test):
            if facts.open_service is None or facts.open_level is None:
                return not test.open
            if not test.open:
                return False
            if test.service is not None and facts.open_service not in test.service:
                return False
            if test.level is not None and facts.open_level not in test.level:
                return False
            if test.step_up is not None:
                if level is None:
                    return False
                return (level > facts.open_level) == test.step_up
            return True
        case ReferralsLast12Months(referrals_last_12_months=bounds):
            return _within(facts.referrals_last_12_months, bounds.min, bounds.max)
        case ChildFlags(child_flags=flags):
            return any(flag in facts.flags for flag in flags)
        case LevelIs(level=levels):
            return level is not None and level in levels
        case EventIs() | ServiceIs() | FindingsInclude():
            return False
    raise TypeError(f"unknown condition kind {type(condition).__name__}")  # pragma: no cover


def _holds_for_event(condition: Condition, facts: JourneyFacts) -> bool:
    match condition:
        case All(all=parts):
            return all(_holds_for_event(part, facts) for part in parts)
        case Any_(any=parts):
            return any(_holds_for_event(part, facts) for part in parts)
        case EventIs(event=kinds):
            return facts.event in kinds
        case ServiceIs(service=services):
            return facts.service in services
        case FindingsInclude(findings=wanted):
            return any(finding in facts.findings for finding in wanted)
        case LevelIs(level=levels):
            return facts.level is not None and facts.level in levels
        case Age() | Unborn() | ConsentIs() | ChildFlags():
            return holds(condition, _as_child(facts))
    return False  # referral conditions: refused at load for step rules


def _as_child(facts: JourneyFacts) -> ChildFacts:
    """The child's own facts of an event, for the conditions both kinds of rule can read."""
    return ChildFacts(
        concerns=(),
        unborn=facts.unborn,
        age_years=facts.age_years,
        consent=facts.consent,
        immediate_danger=False,
        open_service=None,
        open_level=None,
        referrals_last_12_months=0,
        flags=facts.flags,
    )


class ReferenceEvaluator:
    """Interprets the rulebook in pure Python. Slower than nothing, faster than the engine."""

    name = "reference"

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        self._level_rules: tuple[Rule, ...] = rulebook.rules_of("level")
        self._route_rules: tuple[Rule, ...] = tuple(
            r for r in rulebook.rules if r.kind in ("route", "flag")
        )
        self._step_rules: tuple[Rule, ...] = rulebook.rules_of("step")

    def level_rules(self, facts: ChildFacts, as_of: date) -> tuple[str, ...]:
        return tuple(r.id for r in self._level_rules if r.in_force(as_of) and holds(r.when, facts))

    def route_rules(self, facts: ChildFacts, level: int, as_of: date) -> tuple[str, ...]:
        return tuple(
            r.id for r in self._route_rules if r.in_force(as_of) and holds(r.when, facts, level)
        )

    def step_rules(self, facts: JourneyFacts, as_of: date) -> tuple[str, ...]:
        return tuple(r.id for r in self._step_rules if r.in_force(as_of) and holds(r.when, facts))
