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
    concern_filters,
)
from triage.errors import EngineFault
from triage.facts import ChildFacts, ConcernFact, JourneyFacts
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
    """A rulebook as two durable_rules rulesets over flat facts."""

    level_ruleset: str
    route_ruleset: str
    step_ruleset: str
    rulesets: Json
    count_fields: tuple[tuple[str, Any], ...]  # (field, filter key) for distinct-indicator counts
    domain_fields: tuple[tuple[str, Any], ...]  # (field, filter key) for distinct-domain counts
    filters: dict[Any, Any]  # filter key -> ConcernFilter
    # concern -> keys of the filters that select it: a concern's indicator, level, domain and
    # about decide, so each distinct concern is tested against the filters once.
    selecting: dict[ConcernFact, tuple[Any, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def _keys_selecting(self, c: ConcernFact) -> tuple[Any, ...]:
        keys = self.selecting.get(c)
        if keys is None:
            if len(self.selecting) >= 4096:  # bounded; a vocabulary has far fewer concerns
                self.selecting.clear()
            keys = self.selecting[c] = tuple(
                key
                for key, f in self.filters.items()
                if (f.indicator is None or c.indicator in f.indicator)
                and (f.level is None or c.level in f.level)
                and (f.domain is None or c.domain in f.domain)
                and (f.about is None or c.about in f.about)
            )
        return keys

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
        indicators: dict[Any, set[str]] = {}
        domains: dict[Any, set[str]] = {}
        for concern in facts.concerns:
            for key in self._keys_selecting(concern):
                indicators.setdefault(key, set()).add(concern.indicator)
                domains.setdefault(key, set()).add(concern.domain)
        for name, key in self.count_fields:
            fact[name] = len(indicators.get(key, ()))
        for name, key in self.domain_fields:
            fact[name] = len(domains.get(key, ()))
        if level is not None:
            self.add_level(fact, facts, level)
        return fact

    @staticmethod
    def add_level(fact: Json, facts: ChildFacts, level: int) -> Json:
        """A level-stage fact made a route-stage fact: the decided level and `step_up`."""
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
        for flag in ChildFlag:
            fact[f"flag_{flag.value}"] = flag.value in facts.flags
        return fact


class _Compiler:
    def __init__(self, rulebook: Rulebook) -> None:
        self.filters: dict[Any, Any] = {}
        self.count_fields: dict[Any, str] = {}
        self.domain_fields: dict[Any, str] = {}
        for rule in rulebook.rules:
            for concern_filter in concern_filters(rule.when):
                self.filters.setdefault(concern_filter.key(), concern_filter)

    def _field(self, table: dict[Any, str], prefix: str, key: Any) -> str:
        if key not in table:
            table[key] = f"{prefix}{len(table)}"
        return table[key]

    def condition(self, condition: Condition) -> Json:
        match condition:
            case All(all=parts):
                return {"$and": [self.condition(part) for part in parts]}
            case Any_(any=parts):
                return {"$or": [self.condition(part) for part in parts]}
            case Concerns(concerns=c):
                field = self._field(self.count_fields, "c", c.key())
                return {"$and": _bounds(field, c.min, c.max)}
            case Domains(domains=d):
                field = self._field(self.domain_fields, "d", d.key())
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
    """Compile a validated rulebook; pure, no engine call."""
    compiler = _Compiler(rulebook)
    stem = f"{rulebook.id}_{rulebook.fingerprint[:12]}"
    level_name, route_name, step_name = f"{stem}_level", f"{stem}_route", f"{stem}_step"
    rulesets: Json = {
        level_name: {
            rule.id: compiler.rule(rule) for rule in rulebook.rules if rule.kind == "level"
        },
        route_name: {
            rule.id: compiler.rule(rule)
            for rule in rulebook.rules
            if rule.kind in ("route", "flag")
        },
        step_name: {rule.id: compiler.rule(rule) for rule in rulebook.rules if rule.kind == "step"},
    }
    for ruleset in rulesets.values():
        ruleset[SENTINEL] = copy.deepcopy(_SENTINEL_RULE)
    fields = 9 + len(ChildFlag) + len(compiler.count_fields) + len(compiler.domain_fields) + 4
    if fields > MAX_FIELDS:
        raise EngineFault(
            "durable", f"the rulebook needs {fields} fact fields; the engine takes {MAX_FIELDS}"
        )
    return CompiledRulebook(
        level_ruleset=level_name,
        route_ruleset=route_name,
        step_ruleset=step_name,
        rulesets=rulesets,
        count_fields=tuple((field, key) for key, field in compiler.count_fields.items()),
        domain_fields=tuple((field, key) for key, field in compiler.domain_fields.items()),
        filters=compiler.filters,
    )


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
        self._order = {rule.id: index for index, rule in enumerate(rulebook.rules)}
        # The last level-stage fact: the route stage of the same child adds the level to a
        # copy of it instead of flattening again. One tuple, read once: safe across threads.
        self._last: tuple[ChildFacts | None, date | None, Json] = (None, None, {})

    def _run(self, ruleset: str, fact: Json) -> tuple[str, ...]:
        fired = assert_flat(ruleset, self.compiled.rulesets, fact)
        unknown = [rule_id for rule_id in fired if rule_id not in self.compiled.rulesets[ruleset]]
        if unknown:
            raise EngineFault("durable", "the engine reported a rule that is not in the ruleset")
        return tuple(sorted(fired, key=self._order.__getitem__))

    def level_rules(self, facts: ChildFacts, as_of: date) -> tuple[str, ...]:
        fact = self.compiled.flatten(facts, as_of)
        self._last = (facts, as_of, fact)
        return self._run(self.compiled.level_ruleset, fact)

    def route_rules(self, facts: ChildFacts, level: int, as_of: date) -> tuple[str, ...]:
        last_facts, last_as_of, last_fact = self._last
        if last_facts is facts and last_as_of == as_of:
            fact = self.compiled.add_level(dict(last_fact), facts, level)
        else:
            fact = self.compiled.flatten(facts, as_of, level)
        return self._run(self.compiled.route_ruleset, fact)

    def step_rules(self, facts: JourneyFacts, as_of: date) -> tuple[str, ...]:
        return self._run(self.compiled.step_ruleset, self.compiled.flatten_event(facts, as_of))
