"""A rulebook prepared for evaluation: every fact derived from it, worked out once.

`PreparedRulebook` is immutable and built once per `Rulebook` (`rulebook.prepared`). It is the
only place where rulebook-derived facts are computed: the rules by kind with their typed
outcomes, the periods in which the set of rules in force is constant, the timescales by
urgency, one concern-filter table, the route and flag rules specialised to each decided level,
the reason sentence of every rule, and the rulebook reference. The durable adapter compiles
from it, the compiled evaluator runs on it, and the `FrontDoor` and `Journeys` read their hit
policies' inputs from it. The reference evaluator reads only its rules by kind: it is the
oracle, and stays the plain interpreter of `Rule.when`.
"""

from __future__ import annotations

import bisect
import datetime
import functools
from dataclasses import dataclass
from datetime import date
from typing import get_args

from triage._base import Level
from triage.conditions import All, Any_, ConcernFilter, Condition, LevelIs, concern_filters
from triage.decision import RulebookRef
from triage.facts import ConcernFact, selected
from triage.referral import About
from triage.rulebook import (
    FlagOutcome,
    LevelOutcome,
    RouteOutcome,
    Rule,
    Rulebook,
    StepOutcome,
    Timescale,
    cite,
    concern_words,
)

Counts = tuple[int, ...]  # two counts per numbered concern filter (see `ConcernTable.counts`)
Pair = tuple[str, str]  # (indicator id, about): all a concern filter reads of a concern
LEVELS: tuple[int, ...] = get_args(Level)


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


class ConcernTable:
    """One numbering of the rulebook's distinct concern filters, and what each selects.

    Which filters select a concern depends only on its indicator (whose level and domain the
    rulebook fixes) and whom it is about, so the table holds, for every (indicator, about) of
    the vocabulary, its `ConcernFact` and the numbers of the filters that select it. A child's
    counts are then one tuple per kind of count, read by filter number."""

    def __init__(self, rulebook: Rulebook) -> None:
        number: dict[object, int] = {}
        filters: list[ConcernFilter] = []
        for rule in rulebook.rules:
            for concern_filter in concern_filters(rule.when):
                if concern_filter.key() not in number:
                    number[concern_filter.key()] = len(filters)
                    filters.append(concern_filter)
        self.filters: tuple[ConcernFilter, ...] = tuple(filters)
        self._number = number
        self.fact: dict[Pair, ConcernFact] = {
            (i.id, about.value): ConcernFact(i.id, i.level, i.domain.value, about.value)
            for i in rulebook.indicators
            for about in About
        }
        self.selecting: dict[ConcernFact, tuple[int, ...]] = {
            fact: tuple(n for n, f in enumerate(filters) if selected(fact, f))
            for fact in self.fact.values()
        }
        self.labels: dict[str, str] = {i.id: concern_words(i) for i in rulebook.indicators}
        # Counts depend on the concerns alone, and a population repeats far fewer sets of
        # concerns than it has children (a child's two stages, siblings and later children
        # share them). Measured: about 6.5 us a child uncached against 0.13 us cached, two
        # calls a child on the compiled and durable evaluators.
        self.counts = functools.lru_cache(maxsize=4096)(self._counts)

    def number(self, concern_filter: ConcernFilter) -> int:
        """The number of a filter of this rulebook (equal filters share one)."""
        return self._number[concern_filter.key()]

    def indicator_slot(self, concern_filter: ConcernFilter) -> int:
        """Where `counts` holds the distinct indicators a filter selects."""
        return self.number(concern_filter)

    def domain_slot(self, concern_filter: ConcernFilter) -> int:
        """Where `counts` holds the distinct domains among the concerns a filter selects."""
        return len(self.filters) + self.number(concern_filter)

    def pairs(self, concern_filter: ConcernFilter) -> frozenset[Pair]:
        """The (indicator, about) pairs of the vocabulary that a filter selects."""
        n = self.number(concern_filter)
        return frozenset(
            (fact.indicator, fact.about) for fact, ns in self.selecting.items() if n in ns
        )

    def _counts(self, concerns: tuple[ConcernFact, ...]) -> Counts:
        """Every count a condition can read, for these concerns: per filter, the distinct
        indicators it selects (at `indicator_slot`) and their distinct domains (at
        `domain_slot`)."""
        size = len(self.filters)
        counts = [0] * (2 * size)
        if not concerns:
            return tuple(counts)
        indicators: dict[int, set[str]] = {}
        domains: dict[int, set[str]] = {}
        selecting = self.selecting
        for concern in concerns:
            for n in selecting[concern]:
                indicators.setdefault(n, set()).add(concern.indicator)
                domains.setdefault(n, set()).add(concern.domain)
        for n, values in indicators.items():
            counts[n] = len(values)
            counts[size + n] = len(domains[n])
        return tuple(counts)


class ReasonTemplate:
    """The reason sentence of one rule: its title, the words of the concerns its filters
    selected (in the order of its filters, then of the concerns), its source and id. A rule
    with dated editions of its source cites the edition in force on the as-of date (`cite`),
    with this rulebook's local choice where it made one."""

    def __init__(self, rule: Rule, table: ConcernTable) -> None:
        self.rule = rule
        self.title = rule.title
        # A plain reference cites the same text on every date: its suffix is made once.
        self.fixed = None if not isinstance(rule.reference, str) else self._suffix(date.min)
        self.filters = tuple(table.pairs(f) for f in concern_filters(rule.when))
        self.labels = table.labels

    def _suffix(self, as_of: date) -> str:
        return f". Source: {cite(self.rule, as_of)} [rule {self.rule.id}]"

    def __call__(self, concerns: tuple[ConcernFact, ...], as_of: date) -> str:
        suffix = self._suffix(as_of) if self.fixed is None else self.fixed
        if not self.filters or not concerns:
            return f"{self.title}{suffix}"
        labels: dict[str, None] = {}
        for pairs in self.filters:
            for concern in concerns:
                if (concern.indicator, concern.about) in pairs:
                    labels.setdefault(self.labels[concern.indicator], None)
        if not labels:
            return f"{self.title}{suffix}"
        return f"{self.title}: {'; '.join(labels)}{suffix}"


# One stage of evaluation: each rule that can hold there, and the condition left to test (None:
# it holds whatever the facts). Stage None is the level rules; 1-4 the route and flag rules at
# that decided level.
Stage = tuple[tuple[Rule, Condition | None], ...]


@dataclass(frozen=True, slots=True)
class RouteChoice:
    """A route rule's outcome, as the hit policy *priority* reads it."""

    rule_id: str
    priority: int
    outcome: RouteOutcome


class PreparedRulebook:
    """Everything derived from one validated rulebook that evaluation needs. Immutable by
    convention (nothing writes to it after `__init__`); build it as `rulebook.prepared`."""

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        self.ref: RulebookRef = rulebook.ref
        rules = rulebook.rules
        self.level_rules = tuple(r for r in rules if isinstance(r.then, LevelOutcome))
        self.route_rules = tuple(r for r in rules if isinstance(r.then, RouteOutcome | FlagOutcome))
        self.step_rules = tuple(r for r in rules if isinstance(r.then, StepOutcome))
        # The outcomes by kind, typed: the hit policies read these.
        self.level_of: dict[str, int] = {}
        self.route_of: dict[str, RouteChoice] = {}
        self.flag_of: dict[str, str] = {}
        self.step_of: dict[str, StepOutcome] = {}
        for rule in rules:
            match rule.then:
                case LevelOutcome(level=level):
                    self.level_of[rule.id] = level
                case RouteOutcome() as outcome:
                    self.route_of[rule.id] = RouteChoice(rule.id, rule.priority, outcome)
                case FlagOutcome(flag=flag):
                    self.flag_of[rule.id] = flag
                case StepOutcome() as step:
                    self.step_of[rule.id] = step
        # The rulebook's levels of need (three for a council that counts three, not the form's
        # four): the engine's highest-level invariant and each decision's level name read them.
        self.level_names: dict[int, str] = rulebook.level_names
        self.highest_level: int = rulebook.highest_level
        self.priority: dict[str, int] = {rule.id: rule.priority for rule in rules}
        self.order: dict[str, int] = {rule.id: index for index, rule in enumerate(rules)}
        self.concerns = ConcernTable(rulebook)
        self.reasons: dict[str, ReasonTemplate] = {
            rule.id: ReasonTemplate(rule, self.concerns) for rule in rules
        }
        self.stages: dict[int | None, Stage] = {None: tuple((r, r.when) for r in self.level_rules)}
        for decided in LEVELS:
            stage: list[tuple[Rule, Condition | None]] = []
            for rule in self.route_rules:
                left = specialise(rule.when, decided)
                if left is not False:
                    stage.append((rule, None if left is True else left))
            self.stages[decided] = tuple(stage)
        self._route_level: dict[str, int] = {}
        for service in rulebook.services:
            known_level = self._route_level.get(service.route, service.level)
            self._route_level[service.route] = max(known_level, service.level)
        self._timescales: dict[str, tuple[Timescale, ...]] = {}
        for timescale in rulebook.timescales:
            known = self._timescales.get(timescale.urgency, ())
            self._timescales[timescale.urgency] = (*known, timescale)
        # The set of rules in force changes only on an `effective_from` or the day after an
        # `effective_to`: between two such days it is the same, so each period's is found once.
        days = {r.effective_from for r in rules}
        days |= {r.effective_to + _DAY for r in rules if r.effective_to and r.effective_to < _LAST}
        self._changes = tuple(sorted(days))
        self._in_force = tuple(
            frozenset(r.id for r in rules if start is not None and r.in_force(start))
            for start in (None, *self._changes)
        )

    def period(self, on: date) -> int:
        """The number of the period of constant rules in force that contains `on`."""
        return bisect.bisect_right(self._changes, on)

    def periods(self) -> range:
        return range(len(self._in_force))

    def in_force(self, period: int) -> frozenset[str]:
        """Ids of the rules in force in a period (see `period`)."""
        return self._in_force[period]

    def timescale(self, urgency: str, on: date) -> Timescale | None:
        """The timescale for an urgency in force on a date, if any (as `Rulebook.timescale`)."""
        for timescale in self._timescales.get(urgency, ()):
            if timescale.in_force(on):
                return timescale
        return None

    def route_level(self, route: str) -> int | None:
        """The highest level of need a route serves an open case at: the highest level of the
        services whose route it is (None: it serves none)."""
        return self._route_level.get(route)


_DAY = datetime.timedelta(days=1)
_LAST = date.max
