"""Lines (a) to (d): the engine floor, routing on each evaluator, routing with the SQLite log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.lines import Line, line, timed
from triage._durable import CompiledRulebook, assert_flat, compile_rulebook
from triage.audit import DecisionLog
from triage.compiled import CompiledEvaluator
from triage.engine import FrontDoor
from triage.facts import child_facts
from triage.policies import level_policy
from triage.rulebook import Rulebook

Referral = dict[str, Any]
Json = dict[str, Any]
Facts = list[list[tuple[Json, Json | None]]]  # per referral, per child: level and route fact
KEY = "benchmark-pseudonymisation-key"  # synthetic data only; any key of 16 bytes or more
SEGMENTS = 10


def flat_facts(
    rulebook: Rulebook, compiled: CompiledRulebook, population: Sequence[Referral]
) -> Facts:
    """Per referral, per child: the level fact and (when a level rule holds) the route fact.

    Built outside the timed loop, with the compiled evaluator deciding the level, so that the
    floor asserts exactly what the durable evaluator asserts when it routes the same referral."""
    door = FrontDoor(rulebook, engine="compiled")
    evaluator = CompiledEvaluator(rulebook)
    out = []
    for data in population:
        referral = door.validate(data)
        as_of = referral.received_on
        children: list[tuple[Json, Json | None]] = []
        for child in referral.children:
            facts = child_facts(referral, child, rulebook)
            fired = evaluator.level_rules(facts, as_of)
            route_fact = None
            if fired:
                level = level_policy(rulebook.prepared, fired)
                route_fact = compiled.flatten(facts, as_of, level)
            children.append((compiled.flatten(facts, as_of), route_fact))
        out.append(children)
    return out


def _assert_all(compiled: CompiledRulebook, facts: Facts) -> int:
    """(a): two assertions per child, each in a fresh session deleted afterwards."""
    level, route, rulesets = compiled.level_ruleset, compiled.route_ruleset, compiled.rulesets
    for children in facts:
        for level_fact, route_fact in children:
            assert_flat(level, rulesets, level_fact)
            if route_fact is not None:
                assert_flat(route, rulesets, route_fact)
    return len(facts)


def _route_all(door: FrontDoor, part: Sequence[Referral]) -> int:
    """(b), (c): `FrontDoor.route(dict)`: validate, evaluate, build the decisions."""
    for data in part:
        door.route(data)
    return len(part)


# Children of the (d) log that durable_rules failed on (an `EngineFault`, so manual review): a
# rare engine error, seen under heavy load. Faithful replay cannot reproduce an engine's fault.
ENGINE_FAULTS: list[int] = [0]


def _route_logged(log: DecisionLog, door: FrontDoor, part: Sequence[Referral], batch: int) -> int:
    """(d): routing with every record written, `batch` referrals per atomic batch."""
    for at in range(0, len(part), batch):
        for decisions in log.route_batch(door, part[at : at + batch]):
            ENGINE_FAULTS[0] += sum(
                1 for d in decisions if d.reasons and "evaluator failed" in d.reasons[0]
            )
    return len(part)


def engine_lines(
    rulebook: Rulebook,
    population: Sequence[Referral],
    log: Path,
    batch: int,
    progress: Callable[[str], None],
) -> list[Line]:
    """(a) to (d), interleaved: the population is cut into `SEGMENTS` segments and each segment
    goes through (a), (b), (c) and (d) in turn, so that a slow minute on a shared machine slows
    the four alike and their ratios hold. Each line sums the times of its own segments."""
    compiled = compile_rulebook(rulebook)
    facts = flat_facts(rulebook, compiled, population)
    durable = FrontDoor(rulebook, engine="durable")
    fast = FrontDoor(rulebook, engine="compiled")
    reference = FrontDoor(rulebook, engine="reference")
    # First-use costs (registering the rulesets, the first dates) outside the timing.
    _assert_all(compiled, facts[:50])
    for door in (durable, fast, reference):
        _route_all(door, population[:1])
    seconds = {"a": 0.0, "b": 0.0, "c": 0.0, "c'": 0.0, "d": 0.0}
    size = -(-len(population) // SEGMENTS)
    with DecisionLog(f"sqlite:///{log}", key=KEY) as decision_log:
        for start in range(0, len(population), size):
            part, part_facts = population[start : start + size], facts[start : start + size]
            progress(f"(a)-(d) referrals {start + 1:,}-{start + len(part):,}")
            work: dict[str, Callable[[], int]] = {
                "a": partial(_assert_all, compiled, part_facts),
                "b": partial(_route_all, durable, part),
                "c": partial(_route_all, fast, part),
                "c'": partial(_route_all, reference, part),
                "d": partial(_route_logged, decision_log, durable, part, batch),
            }
            for key, job in work.items():
                seconds[key] += timed(job)[1]
    count, unit = len(population), "referrals/s"
    labels = {
        "a_floor": ("a", "(a) floor: durable_rules assertions of pre-flattened facts"),
        "b_durable": ("b", "(b) route(dict), durable evaluator"),
        "c_compiled": ("c", "(c) route(dict), compiled evaluator"),
        "c_reference": ("c'", "(c') route(dict), reference evaluator (the plain oracle)"),
        "d_durable_logged": ("d", f"(d) (b) + every record to SQLite, batches of {batch}"),
    }
    return [line(key, label, count, seconds[k], unit) for key, (k, label) in labels.items()]
