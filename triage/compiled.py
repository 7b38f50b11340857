"""The compiled evaluator: the rulebook's conditions as Python closures, for bulk work.

Each stage's rules in force are then written out as one Python function (`compile_run`): its
counts and `all`/`any` in place, the other kinds calls of their closures.

What `holds` means, decided once per rule instead of per call. The prepared rulebook gives the
route and flag rules specialised to each decided level (most need no test at a given level),
the periods in which the rules in force do not change, and one concern-filter table: a child's
concern counts are worked out once per stage, and each condition reads its count by position.
It serves bulk replay and what-if; property tests hold it equal to the reference evaluator and
to the durable engine (`tests/test_properties.py`, `tests/test_fast_paths.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from triage.conditions import (
    Age,
    All,
    Any_,
    ChildFlags,
    ConcernCount,
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
    OpenInvolvementTest,
    ReferralsLast12Months,
    ServiceIs,
    Unborn,
)
from triage.facts import ChildFacts, JourneyFacts
from triage.prepared import ConcernTable, Counts
from triage.reference import holds
from triage.rulebook import Rulebook

Test = Callable[[ChildFacts, "int | None", Counts], bool]
Run = Callable[[ChildFacts, "int | None", Counts], tuple[str, ...]]


def _within(count: int, low: int, high: int | None) -> bool:
    return count >= low and (high is None or count <= high)


def _counter(slot: int, f: ConcernCount | DomainCount) -> Test:
    low, high = f.min, f.max
    if high is None:
        return lambda facts, level, counts: counts[slot] >= low
    return lambda facts, level, counts: low <= counts[slot] <= high


def _open_involvement(test: OpenInvolvementTest) -> Test:
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


def compile_condition(condition: Condition, table: ConcernTable) -> Test:
    """A closure `(facts, decided level, counts) -> bool` that agrees with `holds` on
    referrals; `counts` are `table.counts` of the child's concerns.

    The vocabularies are StrEnums, which hash and compare as their string values, so tuples
    of them become sets once here."""
    match condition:
        case All(all=parts):
            every = tuple(compile_condition(part, table) for part in parts)

            def all_(facts: ChildFacts, level: int | None, counts: Counts) -> bool:
                for test in every:  # noqa: SIM110 - no generator per call: the hot path
                    if not test(facts, level, counts):
                        return False
                return True

            return all_
        case Any_(any=parts):
            some = tuple(compile_condition(part, table) for part in parts)

            def any_(facts: ChildFacts, level: int | None, counts: Counts) -> bool:
                for test in some:  # noqa: SIM110 - no generator per call: the hot path
                    if test(facts, level, counts):
                        return True
                return False

            return any_
        case Concerns(concerns=c):
            return _counter(table.indicator_slot(c), c)
        case Domains(domains=d):
            return _counter(table.domain_slot(d), d)
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


def _expression(condition: Condition, table: ConcernTable, names: dict[str, object]) -> str:
    """`condition` as a Python expression over `facts`, `level` and `counts`: counts, `all`
    and `any` written out in place, every other kind a call of its closure. Only slot numbers
    and bounds (ints) are written into the text; every other value is a name in `names`."""
    match condition:
        case All(all=parts):
            return "(" + " and ".join(_expression(p, table, names) for p in parts) + ")"
        case Any_(any=parts):
            return "(" + " or ".join(_expression(p, table, names) for p in parts) + ")"
        case Concerns(concerns=c):
            return _bounded(table.indicator_slot(c), c.min, c.max)
        case Domains(domains=d):
            return _bounded(table.domain_slot(d), d.min, d.max)
    name = f"test{len(names)}"
    names[name] = compile_condition(condition, table)
    return f"{name}(facts, level, counts)"


def _bounded(slot: int, low: int, high: int | None) -> str:
    if high is None:
        return f"counts[{int(slot)}] >= {int(low)}"
    return f"{int(low)} <= counts[{int(slot)}] <= {int(high)}"


def compile_run(tests: tuple[tuple[str, Condition | None], ...], table: ConcernTable) -> Run:
    """One function for a stage's rules: `(facts, level, counts) -> ids of the rules that
    hold`, in rule order. Written out as one body of `if`s, it calls no closure per rule:
    each call of a closure cost more than the test it made."""
    names: dict[str, object] = {}
    lines = ["def run(facts, level, counts):", "    held = []"]
    for index, (rule_id, condition) in enumerate(tests):
        names[f"rule{index}"] = rule_id
        test = "True" if condition is None else _expression(condition, table, names)
        lines += [f"    if {test}:", f"        held.append(rule{index})"]
    lines.append("    return tuple(held)")
    exec(compile("\n".join(lines), "<compiled rules>", "exec"), names)  # noqa: S102 - our text
    run: Run = names["run"]  # type: ignore[assignment]
    return run


class CompiledEvaluator:
    """The rulebook compiled to closures over the prepared rulebook: the bulk evaluator."""

    name = "compiled"

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        prepared = rulebook.prepared
        self._counts = prepared.concerns.counts
        self._period = prepared.period
        self._step_rules = prepared.step_rules
        # Per stage and period of constant rules in force: one function of the rules to try
        # (a condition None: the rule holds whatever the facts).
        self._runs: dict[tuple[int | None, int], Run] = {
            (stage, period): compile_run(
                tuple(
                    (rule.id, left) for rule, left in rules if rule.id in prepared.in_force(period)
                ),
                prepared.concerns,
            )
            for stage, rules in prepared.stages.items()
            for period in prepared.periods()
        }

    def level_rules(self, facts: ChildFacts, as_of: date) -> tuple[str, ...]:
        return self._holding(None, facts, as_of)

    def route_rules(self, facts: ChildFacts, level: int, as_of: date) -> tuple[str, ...]:
        return self._holding(level, facts, as_of)

    def _holding(self, stage: int | None, facts: ChildFacts, as_of: date) -> tuple[str, ...]:
        return self._runs[(stage, self._period(as_of))](facts, stage, self._counts(facts.concerns))

    def step_rules(self, facts: JourneyFacts, as_of: date) -> tuple[str, ...]:
        # A journey event tests a few step rules: they are interpreted, as the reference does.
        return tuple(r.id for r in self._step_rules if r.in_force(as_of) and holds(r.when, facts))
