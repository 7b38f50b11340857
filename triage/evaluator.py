"""The seam between the FrontDoor and an engine, and the pure-Python reference evaluator.

An evaluator is bound to one rulebook and answers two questions, in rulebook order:
which level rules hold for these facts, and (once the level is decided) which route and flag
rules hold. The hit policies live in `engine.py`, once, for every evaluator.

The reference evaluator interprets the condition language directly over `ChildFacts`. It
shares no code with the durable_rules compiler on purpose: property tests compare the two.
`holds` is the meaning of a condition; for speed the evaluator compiles each rule's condition
once into nested Python closures that do what `holds` does (a property test compares them),
counts every concern filter once per child, and keeps the rules in force per date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Protocol

from triage.conditions import (
    Age,
    All,
    Any_,
    ChildFlags,
    ConcernCount,
    ConcernFilter,
    Concerns,
    Condition,
    ConsentIs,
    DomainCount,
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


# -- compiled conditions: what `holds` means, decided once per rule instead of per call --------

Counts = tuple[int, ...]  # per child: the count of each numbered concern filter (see `_Slots`)
Test = Callable[[ChildFacts, "int | None", Counts], bool]


class _Slots:
    """Numbers every distinct count a rulebook's conditions read: (`concerns` or `domains`,
    concern filter). A child's counts are then one list, read by position."""

    def __init__(self) -> None:
        self.number: dict[tuple[str, Any], int] = {}
        self.filters: list[tuple[bool, ConcernFilter]] = []  # (counts domains?, filter)

    def __call__(self, kind: str, f: ConcernFilter) -> int:
        key = (kind, f.key())
        if key not in self.number:
            self.number[key] = len(self.filters)
            self.filters.append((kind == "domains", f))
        return self.number[key]


def _counter(slot: int, f: ConcernCount | DomainCount) -> Test:
    low, high = f.min, f.max
    if high is None:
        return lambda facts, level, counts: counts[slot] >= low
    return lambda facts, level, counts: low <= counts[slot] <= high


def _open_involvement(test: Any) -> Test:
    wanted_open, step_up = test.open, test.step_up
    services = None if test.service is None else frozenset(test.service)
    levels = None if test.level is None else frozenset(test.level)

    def check(facts: ChildFacts, level: int | None, counts: Counts) -> bool:
        if facts.open_service is None or facts.open_level is None:
            return not wanted_open
        if not wanted_open:
            return False
        if services is not None and facts.open_service not in services:
            return False
        if levels is not None and facts.open_level not in levels:
            return False
        if step_up is not None:
            return level is not None and (level > facts.open_level) == step_up
        return True

    return check


def compile_condition(condition: Condition, slots: _Slots) -> Test:
    """A closure `(facts, decided level, counts) -> bool` that agrees with `holds` on
    referrals; `counts` are the child's concern counts, numbered by `slots`.

    The vocabularies are StrEnums, which hash and compare as their string values, so tuples
    of them become sets once here."""
    match condition:
        case All(all=parts):
            every = tuple(compile_condition(part, slots) for part in parts)

            def all_(facts: ChildFacts, level: int | None, counts: Counts) -> bool:
                for test in every:  # noqa: SIM110 - no generator per call: the hot path
                    if not test(facts, level, counts):
                        return False
                return True

            return all_
        case Any_(any=parts):
            some = tuple(compile_condition(part, slots) for part in parts)

            def any_(facts: ChildFacts, level: int | None, counts: Counts) -> bool:
                for test in some:  # noqa: SIM110 - no generator per call: the hot path
                    if test(facts, level, counts):
                        return True
                return False

            return any_
        case Concerns(concerns=c):
            return _counter(slots("concerns", c), c)
        case Domains(domains=d):
            return _counter(slots("domains", d), d)
        case Age(age=bounds):
            low, high = bounds.min_years, bounds.max_years

            def age(facts: ChildFacts, level: int | None, counts: Counts) -> bool:
                years = facts.age_years
                if years is None:
                    return False
                return (low is None or years >= low) and (high is None or years <= high)

            return age
        case Unborn(unborn=unborn):
            return lambda facts, level, counts: facts.unborn == unborn
        case ConsentIs(consent=values):
            consents = frozenset(values)
            return lambda facts, level, counts: facts.consent in consents
        case ImmediateDanger(immediate_danger=danger):
            return lambda facts, level, counts: facts.immediate_danger == danger
        case OpenInvolvementIs(open_involvement=test):
            return _open_involvement(test)
        case ReferralsLast12Months(referrals_last_12_months=bounds):
            low_count, high_count = bounds.min, bounds.max
            return lambda facts, level, counts: _within(
                facts.referrals_last_12_months, low_count, high_count
            )
        case ChildFlags(child_flags=flags):
            return lambda facts, level, counts: not facts.flags.isdisjoint(flags)
        case LevelIs(level=levels):
            return lambda facts, level, counts: level is not None and level in levels
        case EventIs() | ServiceIs() | FindingsInclude():
            return lambda facts, level, counts: False
    raise TypeError(f"unknown condition kind {type(condition).__name__}")  # pragma: no cover


def specialise(condition: Condition, level: int) -> Condition | bool:
    """The condition at a known decided level: True or False when the level settles it,
    otherwise the condition that is left to test, its `level` parts taken out. For every facts,
    `holds(condition, facts, level)` equals the result (or `holds` of the result): a property
    test checks it. Route rules are mostly gated by the level, so at one level most of them
    need no test at all."""
    match condition:
        case LevelIs(level=levels):
            return level in levels
        case All(all=parts) | Any_(any=parts):
            settles = isinstance(condition, Any_)  # one part of this value settles the whole
            left: list[Condition] = []
            for part in parts:
                known = specialise(part, level)
                if known is settles:
                    return settles
                if not isinstance(known, bool):
                    left.append(known)
            if not left:
                return not settles
            if len(left) == 1:
                return left[0]
            return Any_(any=tuple(left)) if settles else All(all=tuple(left))
    return condition


_BOUNDED = 4096  # entries kept per cache: more than ten years of dates, or of distinct concerns


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
        self._slots = _Slots()
        # Per stage (None: the level rules; 1-4: the route and flag rules at that decided
        # level), each rule that can hold there and its test (None: it holds whatever the facts).
        self._stages: dict[int | None, tuple[tuple[Rule, Test | None], ...]] = {
            None: tuple((r, compile_condition(r.when, self._slots)) for r in self._level_rules)
        }
        for level in (1, 2, 3, 4):
            tests: list[tuple[Rule, Test | None]] = []
            for rule in self._route_rules:
                left = specialise(rule.when, level)
                if left is True:
                    tests.append((rule, None))
                elif left is not False:
                    tests.append((rule, compile_condition(left, self._slots)))
            self._stages[level] = tuple(tests)
        # A concern -> the slots it adds its indicator to, and those it adds its domain to.
        self._selecting: dict[ConcernFact, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._in_force: dict[tuple[int | None, date], tuple[tuple[str, Test | None], ...]] = {}
        self._by_concerns: dict[tuple[ConcernFact, ...], Counts] = {}

    def _rules_in_force(
        self, stage: int | None, as_of: date
    ) -> tuple[tuple[str, Test | None], ...]:
        found = self._in_force.get((stage, as_of))
        if found is None:
            if len(self._in_force) >= _BOUNDED:
                self._in_force.clear()
            found = tuple((r.id, test) for r, test in self._stages[stage] if r.in_force(as_of))
            self._in_force[(stage, as_of)] = found
        return found

    def _slots_of(self, concern: ConcernFact) -> tuple[tuple[int, ...], tuple[int, ...]]:
        found = self._selecting.get(concern)
        if found is None:
            if len(self._selecting) >= _BOUNDED:
                self._selecting.clear()
            chosen = [
                (slot, by_domain)
                for slot, (by_domain, f) in enumerate(self._slots.filters)
                if selected(concern, f)
            ]
            found = (
                tuple(slot for slot, by_domain in chosen if not by_domain),
                tuple(slot for slot, by_domain in chosen if by_domain),
            )
            self._selecting[concern] = found
        return found

    def _counts(self, facts: ChildFacts) -> Counts:
        """Every count the conditions read, for this child's concerns (`selected` decides, once
        per distinct concern). The counts depend on the concerns alone, so they are kept per
        distinct set of concerns: a child's two stages, its siblings and most later children
        (a population repeats far fewer sets of concerns than children) reuse them."""
        found = self._by_concerns.get(facts.concerns)
        if found is not None:
            return found
        distinct: dict[int, set[str]] = {}
        for concern in facts.concerns:
            indicator_slots, domain_slots = self._slots_of(concern)
            for slot in indicator_slots:
                distinct.setdefault(slot, set()).add(concern.indicator)
            for slot in domain_slots:
                distinct.setdefault(slot, set()).add(concern.domain)
        counts = [0] * len(self._slots.filters)
        for slot, values in distinct.items():
            counts[slot] = len(values)
        if len(self._by_concerns) >= _BOUNDED:
            self._by_concerns.clear()
        found = self._by_concerns[facts.concerns] = tuple(counts)
        return found

    def level_rules(self, facts: ChildFacts, as_of: date) -> tuple[str, ...]:
        return self._holding(None, facts, as_of)

    def route_rules(self, facts: ChildFacts, level: int, as_of: date) -> tuple[str, ...]:
        return self._holding(level, facts, as_of)

    def _holding(self, stage: int | None, facts: ChildFacts, as_of: date) -> tuple[str, ...]:
        counts = self._counts(facts)
        held = []
        for rule_id, test in self._rules_in_force(stage, as_of):
            if test is None or test(facts, stage, counts):
                held.append(rule_id)
        return tuple(held)

    def step_rules(self, facts: JourneyFacts, as_of: date) -> tuple[str, ...]:
        return tuple(r.id for r in self._step_rules if r.in_force(as_of) and holds(r.when, facts))
