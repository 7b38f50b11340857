"""The only module that imports durable_rules: compile a rulebook to JSON rulesets and run them.

Guardrails, each from a measured trap (`shared/durable-rules.md`):

- one `Host` per process, created lazily and again after a fork; it starts two threads that
  never stop, so never one per call;
- one process-wide lock around every engine call (concurrent posts segfault);
- `register_rulesets` gets a deep copy (it deletes the `run` keys of what it is given);
- facts, not events (an event fires only one rule), with a fresh session id and a unique fact
  id per evaluation (distinct facts were once dropped as duplicates);
- values are ints, bools and strings only (the engine coerces strings to numbers), at most 255
  fields;
- firings are recorded from inside the actions; an `"exception"` in the returned state, any
  exception from the engine, or a rule that fired twice is an `EngineFault`;
- the session state is deleted after every evaluation (live sessions slow it 20x and cap at
  1,024); `get_state` is never called after that (it crashed the process when tried);
- every ruleset carries a sentinel rule that matches every fact. Measured here: deleting the
  session of a fact that matched no rule segfaults the process, and skipping the delete fills
  the 1,024 sessions; with the sentinel no fact is ever unmatched, and a sentinel that did not
  fire proves the engine skipped the fact's actions (`EngineFault`). The sentinel tests its own
  field: matching on the engine's `id` field made the engine spin;
- a rule whose `$or` has several true branches fires once per true branch (measured): each
  rule is counted once;
- `post_batch` and posting across rulesets are never used.
"""

from __future__ import annotations

import copy
import itertools
import os
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from durable.engine import Host

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
    ReviewFinding,
    ServiceIs,
    Unborn,
)
from triage.errors import EngineFault
from triage.facts import ChildFacts, JourneyFacts
from triage.prepared import ConcernTable
from triage.referral import ChildFlag
from triage.rulebook import Rule, Rulebook

MAX_FIELDS = 255
SENTINEL = "_evaluated"  # not a valid rule id (rule ids start with a letter)
_SENTINEL_RULE: Json = {"all": [{"m": {"$gte": {"as_of": 0}}}], "run": SENTINEL}
Json = dict[str, Any]


_FLAG_FIELDS = tuple((flag.value, f"flag_{flag.value}") for flag in ChildFlag)


def _day(value: date) -> int:
    return value.year * 10_000 + value.month * 100 + value.day


def _bounds(field: str, low: int, high: int | None) -> list[Json]:
    tests: list[Json] = [{"$gte": {field: low}}]
    if high is not None:
        tests.append({"$lte": {field: high}})
    return tests


def _any_equal(field: str, values: tuple[Any, ...]) -> Json:
    return {"$or": [{field: value} for value in values]}


@dataclass(frozen=True, slots=True)
class CompiledRulebook:
    """A rulebook as three durable_rules rulesets (level, route, step) over flat facts."""

    level_ruleset: str
    route_ruleset: str
    step_ruleset: str
    rulesets: Json
    # (field, position in `ConcernTable.counts`): the distinct-indicator counts of a filter,
    # then the distinct-domain counts, as the conditions read them.
    count_fields: tuple[tuple[str, int], ...]
    domain_fields: tuple[tuple[str, int], ...]
    filter_of: dict[str, ConcernFilter]  # count field -> the concern filter it counts
    table: ConcernTable = field(compare=False, repr=False)

    def flatten(self, facts: ChildFacts, as_of: date, level: int | None = None) -> Json:
        """The flat fact the rulesets match, without `sid` and `id`."""
        fact: Json = {
            "as_of": _day(as_of),
            "unborn": facts.unborn,
            "age": -1 if facts.age_years is None else facts.age_years,
            "consent": facts.consent,
            "danger": facts.immediate_danger,
            "open": facts.open_service is not None,
            "open_service": facts.open_service or "",
            "open_level": facts.open_level or 0,
            "rr12": facts.referrals_last_12_months,
        }
        flags = facts.flags
        for value, name in _FLAG_FIELDS:
            fact[name] = value in flags
        counts = self.table.counts(facts.concerns)
        for name, slot in self.count_fields:
            fact[name] = counts[slot]
        for name, slot in self.domain_fields:
            fact[name] = counts[slot]
        if level is not None:
            fact["level"] = level
            fact["step_up"] = facts.open_level is not None and level > facts.open_level
        return fact

    @staticmethod
    def flatten_event(facts: JourneyFacts, as_of: date) -> Json:
        """The flat fact the step ruleset matches, without `sid` and `id`."""
        fact: Json = {
            "as_of": _day(as_of),
            "event": facts.event,
            "service": facts.service,
            "level": facts.level or 0,
            "unborn": facts.unborn,
            "age": -1 if facts.age_years is None else facts.age_years,
            "consent": facts.consent,
        }
        for finding in ReviewFinding:
            fact[f"finding_{finding.value}"] = finding.value in facts.findings
        for value, name in _FLAG_FIELDS:
            fact[name] = value in facts.flags
        return fact


class _Compiler:
    """Conditions to the engine's JSON, over fields named for the concern table's filters."""

    def __init__(self, table: ConcernTable) -> None:
        self.table = table
        self.count_fields: dict[str, int] = {}
        self.domain_fields: dict[str, int] = {}
        self.filter_of: dict[str, ConcernFilter] = {}

    def _count(self, kind: str, f: ConcernFilter) -> str:
        name = f"{kind}{self.table.number(f)}"
        if kind == "c":
            self.count_fields[name] = self.table.indicator_slot(f)
        else:
            self.domain_fields[name] = self.table.domain_slot(f)
        self.filter_of[name] = f
        return name

    def condition(self, condition: Condition) -> Json:
        match condition:
            case All(all=parts):
                return {"$and": [self.condition(part) for part in parts]}
            case Any_(any=parts):
                return {"$or": [self.condition(part) for part in parts]}
            case Concerns(concerns=c):
                field = self._count("c", c)
                return {"$and": _bounds(field, c.min, c.max)}
            case Domains(domains=d):
                field = self._count("d", d)
                return {"$and": _bounds(field, d.min, d.max)}
            case Age(age=bounds):
                tests: list[Json] = [{"unborn": False}]
                if bounds.min_years is not None:
                    tests.append({"$gte": {"age": bounds.min_years}})
                if bounds.max_years is not None:
                    tests.append({"$lte": {"age": bounds.max_years}})
                return {"$and": tests}
            case Unborn(unborn=value):
                return {"unborn": value}
            case ConsentIs(consent=values):
                return _any_equal("consent", tuple(v.value for v in values))
            case ImmediateDanger(immediate_danger=value):
                return {"danger": value}
            case OpenInvolvementIs(open_involvement=test):
                if not test.open:
                    return {"open": False}
                tests = [{"open": True}]
                if test.service is not None:
                    tests.append(_any_equal("open_service", test.service))
                if test.level is not None:
                    tests.append(_any_equal("open_level", test.level))
                if test.step_up is not None:
                    tests.append({"step_up": test.step_up})
                return {"$and": tests}
            case ReferralsLast12Months(referrals_last_12_months=bounds):
                return {"$and": _bounds("rr12", bounds.min, bounds.max)}
            case ChildFlags(child_flags=flags):
                return {"$or": [{f"flag_{f.value}": True} for f in flags]}
            case LevelIs(level=levels):
                return _any_equal("level", levels)
            case EventIs(event=kinds):
                return _any_equal("event", tuple(k.value for k in kinds))
            case ServiceIs(service=services):
                return _any_equal("service", services)
            case FindingsInclude(findings=wanted):
                return {"$or": [{f"finding_{f.value}": True} for f in wanted]}
        raise TypeError(f"cannot compile {type(condition).__name__}")  # pragma: no cover

    def rule(self, rule: Rule) -> Json:
        tests: list[Json] = [{"$gte": {"as_of": _day(rule.effective_from)}}]
        if rule.effective_to is not None:
            tests.append({"$lte": {"as_of": _day(rule.effective_to)}})
        tests.append(self.condition(rule.when))
        return {"all": [{"m": {"$and": tests}}], "run": rule.id}


def compile_rulebook(rulebook: Rulebook) -> CompiledRulebook:
    """Compile a validated rulebook from its prepared form; pure, no engine call."""
    prepared = rulebook.prepared
    compiler = _Compiler(prepared.concerns)
    stem = f"{rulebook.id}_{rulebook.fingerprint[:12]}"
    level_name, route_name, step_name = f"{stem}_level", f"{stem}_route", f"{stem}_step"
    rulesets: Json = {
        name: {rule.id: compiler.rule(rule) for rule in rules}
        for name, rules in (
            (level_name, prepared.level_rules),
            (route_name, prepared.route_rules),
            (step_name, prepared.step_rules),
        )
    }
    for ruleset in rulesets.values():
        ruleset[SENTINEL] = copy.deepcopy(_SENTINEL_RULE)
    compiled = CompiledRulebook(
        level_ruleset=level_name,
        route_ruleset=route_name,
        step_ruleset=step_name,
        rulesets=rulesets,
        count_fields=tuple(compiler.count_fields.items()),
        domain_fields=tuple(compiler.domain_fields.items()),
        filter_of=compiler.filter_of,
        table=prepared.concerns,
    )
    # The widest fact: a route-stage fact, plus the session and fact ids the adapter adds.
    fields = len(compiled.flatten(_NO_FACTS, date.min, level=1)) + 2
    if fields > MAX_FIELDS:
        raise EngineFault(
            "durable", f"the rulebook needs {fields} fact fields; the engine takes {MAX_FIELDS}"
        )
    return compiled


_NO_FACTS = ChildFacts((), False, None, "given", False, None, None, 0, frozenset())


class _RecordingHost(Host):  # type: ignore[misc]
    """A Host whose actions record which rule fired for which session id."""

    def __init__(self) -> None:
        super().__init__()
        self.firings: dict[str, list[str]] = {}
        self.registered: set[str] = set()

    def get_action(self, action_name: str) -> Any:
        def record(c: Any) -> None:
            self.firings.setdefault(str(c.m["sid"]), []).append(action_name)

        return record


_LOCK = threading.Lock()
_HOST: _RecordingHost | None = None
_IDS = itertools.count(1)


def _host() -> _RecordingHost:
    """The process's one host, made on first use."""
    global _HOST
    if _HOST is None:
        _HOST = _RecordingHost()
    return _HOST


def _forget_after_fork() -> None:
    """In a forked child: the host's threads did not survive the fork, and neither did any
    thread holding the lock. The child makes its own (hooked, not checked per call)."""
    global _HOST, _LOCK
    _HOST = None
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def assert_flat(ruleset: str, rulesets: Json, fact: Json) -> tuple[str, ...]:
    """Assert one flat fact in a fresh session and return the rule ids that fired.

    The floor the benchmarks measure, and the one place an engine call happens.
    """
    with _LOCK:
        host = _host()
        if ruleset not in host.registered:
            try:
                host.register_rulesets(copy.deepcopy({ruleset: rulesets[ruleset]}))
            except Exception as error:  # noqa: BLE001 - the engine raises anything; a fault either way
                raise EngineFault(
                    "durable", f"registering {ruleset} failed ({type(error).__name__})"
                ) from None
            host.registered.add(ruleset)
        number = next(_IDS)
        sid = str(number)
        try:
            state = host.assert_fact(ruleset, {**fact, "sid": sid, "id": number})
        except Exception as error:  # noqa: BLE001 - rejected duplicates, memory limits, ...
            host.firings.pop(sid, None)
            # The session is not deleted: deleting one the engine refused crashed the process.
            raise EngineFault("durable", f"the engine raised {type(error).__name__}") from None
        fired = host.firings.pop(sid, [])
        try:
            host.delete_state(ruleset, sid)
        except Exception as error:  # noqa: BLE001
            raise EngineFault(
                "durable", f"deleting session state failed ({type(error).__name__})"
            ) from None
    if isinstance(state, dict) and "exception" in state:
        # The engine's text can quote the fact; only say that an action failed.
        raise EngineFault("durable", "a rule action raised inside the engine")
    # Measured: a rule whose `$or` has several true branches fires once per true branch, so a
    # rule counts once. The sentinel has no `$or`: it fires exactly once, or the fact went wrong.
    if fired.count(SENTINEL) != 1:
        raise EngineFault(
            "durable", "the engine did not run the actions for this fact exactly once"
        )
    return tuple(dict.fromkeys(rule_id for rule_id in fired if rule_id != SENTINEL))


class DurableEvaluator:
    """The production evaluator: the rulebook compiled onto durable_rules."""

    name = "durable"

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        self.compiled = compile_rulebook(rulebook)
        self._order = rulebook.prepared.order

    def _run(self, ruleset: str, fact: Json) -> tuple[str, ...]:
        fired = assert_flat(ruleset, self.compiled.rulesets, fact)
        unknown = [rule_id for rule_id in fired if rule_id not in self.compiled.rulesets[ruleset]]
        if unknown:
            raise EngineFault("durable", "the engine reported a rule that is not in the ruleset")
        return tuple(sorted(fired, key=self._order.__getitem__))

    def level_rules(self, facts: ChildFacts, as_of: date) -> tuple[str, ...]:
        return self._run(self.compiled.level_ruleset, self.compiled.flatten(facts, as_of))

    def route_rules(self, facts: ChildFacts, level: int, as_of: date) -> tuple[str, ...]:
        return self._run(self.compiled.route_ruleset, self.compiled.flatten(facts, as_of, level))

    def step_rules(self, facts: JourneyFacts, as_of: date) -> tuple[str, ...]:
        return self._run(self.compiled.step_ruleset, self.compiled.flatten_event(facts, as_of))
