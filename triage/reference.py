"""The reference evaluator: the plain, obviously correct interpreter of the condition language.

`holds` is the meaning of a condition over a child's (or a journey event's) facts, and
`ReferenceEvaluator` applies it to each rule in force, in rulebook order. Nothing here is
optimised, and nothing is shared with the durable_rules compiler or the compiled evaluator
(`compiled.py`) beyond the facts and the concern filter's `selected`: it is the oracle that
property tests hold both of them to (`tests/test_properties.py`, `tests/test_fast_paths.py`).
"""

from __future__ import annotations

from datetime import date

from triage.conditions import (
    Age,
    All,
    Any_,
    ChildFlags,
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
from triage.facts import ChildFacts, JourneyFacts, selected
from triage.rulebook import Rulebook


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
    """Interprets the rulebook in pure Python, rule by rule: the oracle of the other two."""

    name = "reference"

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        prepared = rulebook.prepared  # only its rules by kind: the meaning is read from `when`
        self._level_rules = prepared.level_rules
        self._route_rules = prepared.route_rules
        self._step_rules = prepared.step_rules

    def level_rules(self, facts: ChildFacts, as_of: date) -> tuple[str, ...]:
        return tuple(r.id for r in self._level_rules if r.in_force(as_of) and holds(r.when, facts))

    def route_rules(self, facts: ChildFacts, level: int, as_of: date) -> tuple[str, ...]:
        return tuple(
            r.id for r in self._route_rules if r.in_force(as_of) and holds(r.when, facts, level)
        )

    def step_rules(self, facts: JourneyFacts, as_of: date) -> tuple[str, ...]:
        return tuple(r.id for r in self._step_rules if r.in_force(as_of) and holds(r.when, facts))
