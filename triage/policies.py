"""The hit policies, once, for referrals (`engine.py`) and journeys (`journey.py`).

- level rules: *max*, the highest level among the level rules that held;
- route rules: *priority*, the route rule with the highest priority (unique per rulebook);
- flag rules: *collect*, every flag of the flag rules that held, each once, in rule order;
- step rules: *priority*, as route rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from triage.prepared import PreparedRulebook, RouteChoice


def by_priority(rule_ids: Iterable[str], priority: Mapping[str, int]) -> str | None:
    """Hit policy *priority*: the rule with the highest priority (None: no rule)."""
    return max(rule_ids, key=priority.__getitem__, default=None)


def level_policy(prepared: PreparedRulebook, level_ids: tuple[str, ...]) -> int:
    """Hit policy *max*: the highest level of the level rules that held (at least one)."""
    level_of = prepared.level_of
    return max(level_of[rule_id] for rule_id in level_ids)


def route_policy(
    prepared: PreparedRulebook, route_ids: tuple[str, ...]
) -> tuple[RouteChoice | None, tuple[str, ...], tuple[str, ...]]:
    """Hit policy *priority* for the route rules and *collect* for the flag rules that held:
    the winning route rule (None: no route rule held), the flag rules' ids, and their flags."""
    route_of, flag_of = prepared.route_of, prepared.flag_of
    winner: RouteChoice | None = None
    flag_ids: list[str] = []
    for rule_id in route_ids:  # one pass, no generator: every child's route stage runs this
        choice = route_of.get(rule_id)
        if choice is not None:
            if winner is None or choice.priority > winner.priority:
                winner = choice
        elif rule_id in flag_of:
            flag_ids.append(rule_id)
    flags = tuple(dict.fromkeys([flag_of[rule_id] for rule_id in flag_ids]))
    return winner, tuple(flag_ids), flags
