"""Lines (a) to (d): the engine floor, routing on each evaluator, routing with the SQLite log."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.lines import Line, line, timed
from triage._durable import CompiledRulebook, assert_flat, compile_rulebook
from triage.audit import DecisionLog
from triage.engine import FrontDoor
from triage.evaluator import ReferenceEvaluator
from triage.facts import child_facts
from triage.rulebook import LevelOutcome, Rulebook

Referral = dict[str, Any]
Json = dict[str, Any]
KEY = "benchmark-pseudonymisation-key"  # synthetic data only; any key of 16 bytes or more


def flat_facts(
    rulebook: Rulebook, compiled: CompiledRulebook, population: Sequence[Referral]
) -> list[list[tuple[Json, Json | None]]]:
    """Per referral, per child: the level fact and (when a level rule holds) the route fact.

    Built outside the timed loop, with the reference evaluator deciding the level, so that the
    floor asserts exactly what the durable evaluator asserts when it routes the same referral."""
    door = FrontDoor(rulebook, engine="reference")
    evaluator = ReferenceEvaluator(rulebook)
    rules = rulebook.rule_by_id
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
                levels = [rules[i].then for i in fired]
                level = max(o.level for o in levels if isinstance(o, LevelOutcome))
                route_fact = compiled.flatten(facts, as_of, level)
            children.append((compiled.flatten(facts, as_of), route_fact))
        out.append(children)
    return out


def floor(rulebook: Rulebook, population: Sequence[Referral]) -> Line:
    """(a) Raw assertions of pre-flattened facts, two per child, session deleted each time."""
    compiled = compile_rulebook(rulebook)
    facts = flat_facts(rulebook, compiled, population)
    level, route, rulesets = compiled.level_ruleset, compiled.route_ruleset, compiled.rulesets
    # Register both rulesets outside the timing.
    assert_flat(level, rulesets, facts[0][0][0])
    first_route = next((r for children in facts for _, r in children if r is not None), None)
    if first_route is not None:
        assert_flat(route, rulesets, first_route)

    def work() -> int:
        for children in facts:
            for level_fact, route_fact in children:
                assert_flat(level, rulesets, level_fact)
                if route_fact is not None:
                    assert_flat(route, rulesets, route_fact)
        return len(facts)

    count, seconds = timed(work)
    label = "(a) floor: durable_rules assertions of pre-flattened facts"
    return line("a_floor", label, count, seconds, "referrals/s")


def route(door: FrontDoor, population: Sequence[Referral], key: str, label: str) -> Line:
    """(b), (c): `FrontDoor.route(dict)`: validate, evaluate, build the decisions."""
    door.route(population[0])  # first-use costs (engine registration) outside the timing

    def work() -> int:
        for data in population:
            door.route(data)
        return len(population)

    count, seconds = timed(work)
    return line(key, label, count, seconds, "referrals/s")


def route_logged(door: FrontDoor, population: Sequence[Referral], log: Path, batch: int) -> Line:
    """(d) Routing with every record written to an SQLite log in batches (`route_batch`)."""
    with DecisionLog(f"sqlite:///{log}", key=KEY) as decision_log:

        def work() -> int:
            for start in range(0, len(population), batch):
                decision_log.route_batch(door, population[start : start + batch])
            return len(population)

        count, seconds = timed(work)
    label = f"(d) (b) + every record to SQLite, batches of {batch}"
    return line("d_durable_logged", label, count, seconds, "referrals/s")
