"""Static checks of a loaded rulebook: rules that can never fire, outcomes no rule can produce.

The checks are exact for what they look at (they never guess from samples):

- a condition that no referral can meet: a concern filter that admits no indicator of the
  vocabulary, a count above what the vocabulary can supply, an empty range;
- a route or flag rule that needs a level no level rule produces;
- a route rule that never decides because a higher-priority rule in force over its whole
  window holds at every level it can hold at;
- the rulebook's levels (1-4 unless it names its own) and declared routes that no rule
  produces; indicators no rule reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from triage.conditions import (
    Age,
    All,
    Any_,
    Concerns,
    Condition,
    Domains,
    LevelIs,
    OpenInvolvementIs,
    ReferralsLast12Months,
    concern_filters,
)
from triage.rulebook import (
    CURRENT_SERVICE,
    MANUAL_REVIEW,
    LevelOutcome,
    RouteOutcome,
    Rule,
    Rulebook,
)


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str  # "error": something can never happen; "warning": worth a look
    subject: str  # a rule id, "levels", "routes" or "indicators"
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.subject}: {self.message}"


def _impossible(condition: Condition, rulebook: Rulebook, levels: frozenset[int]) -> str | None:
    """Why no referral can meet the condition, or None when some referral might."""
    match condition:
        case All(all=parts):
            return next(
                (why for part in parts if (why := _impossible(part, rulebook, levels))), None
            )
        case Any_(any=parts):
            reasons = [_impossible(part, rulebook, levels) for part in parts]
            return "; ".join(r for r in reasons if r) if all(reasons) else None
        case Concerns(concerns=c) | Domains(domains=c):
            admitted = rulebook.matching_indicators(c)
            if c.max is not None and c.min > c.max:
                return f"asks for at least {c.min} and at most {c.max}"
            supply = (
                len(admitted)
                if isinstance(condition, Concerns)
                else len({rulebook.indicator_by_id[i].domain for i in admitted})
            )
            noun = "indicators" if isinstance(condition, Concerns) else "domains"
            if c.min > supply:
                return f"asks for {c.min} distinct {noun} but the filter admits {supply}"
        case Age(age=a):
            if a.min_years is not None and a.max_years is not None and a.min_years > a.max_years:
                return f"age from {a.min_years} to {a.max_years} is empty"
        case ReferralsLast12Months(referrals_last_12_months=b):
            if b.max is not None and b.min > b.max:
                return f"asks for at least {b.min} and at most {b.max} referrals"
        case LevelIs(level=wanted):
            if not set(wanted) & levels:
                return f"needs level {', '.join(map(str, wanted))}, which no level rule produces"
        case OpenInvolvementIs(open_involvement=t):
            if t.step_up and t.level is not None and min(t.level) >= max(levels, default=0):
                return "asks for a step-up above the highest level any level rule produces"
    return None


def _levels_held(rule: Rule) -> frozenset[int] | None:
    """The levels a route rule is limited to by a top-level `level` test (None: any level)."""
    tests = rule.when.all if isinstance(rule.when, All) else (rule.when,)
    found: frozenset[int] | None = None
    for test in tests:
        if isinstance(test, LevelIs):
            found = frozenset(test.level) if found is None else found & frozenset(test.level)
    return found


def _covers(upper: Rule, lower: Rule) -> bool:
    """`upper` is in force whenever `lower` is, and holds at every level, whatever else."""
    never_ends = date.max if upper.effective_to is None else upper.effective_to
    lower_end = date.max if lower.effective_to is None else lower.effective_to
    return upper.effective_from <= lower.effective_from and never_ends >= lower_end


def lint_rulebook(rulebook: Rulebook) -> list[Finding]:
    """Every finding, rules first in rulebook order, then levels, routes and indicators."""
    findings: list[Finding] = []
    levels = frozenset(r.then.level for r in rulebook.rules if isinstance(r.then, LevelOutcome))
    for rule in rulebook.rules:
        why = _impossible(rule.when, rulebook, levels)
        if why:
            findings.append(Finding("error", rule.id, f"can never fire: {why}"))
    route_rules = sorted(rulebook.rules_of("route"), key=lambda r: -r.priority)
    for index, rule in enumerate(route_rules):
        held = _levels_held(rule)
        for upper in route_rules[:index]:
            if isinstance(upper.when, LevelIs) and _covers(upper, rule):
                reach = held if held is not None else levels
                if reach and reach <= frozenset(upper.when.level):
                    findings.append(
                        Finding(
                            "error",
                            rule.id,
                            f"never decides: {upper.id} has a higher priority "
                            f"and holds at every level this rule can hold at",
                        )
                    )
                    break
    for level in sorted(set(rulebook.level_names) - levels):
        findings.append(Finding("warning", "levels", f"no level rule produces level {level}"))
    produced = {r.then.route for r in rulebook.rules if isinstance(r.then, RouteOutcome)}
    if CURRENT_SERVICE in produced:
        produced |= {service.route for service in rulebook.services}
    for route in rulebook.routes:
        if route.id not in produced and route.id != MANUAL_REVIEW:
            findings.append(Finding("warning", "routes", f"no rule produces route {route.id}"))
    read = {
        i
        for r in rulebook.rules
        for f in concern_filters(r.when)
        for i in rulebook.matching_indicators(f)
    }
    for indicator in rulebook.indicators:
        if indicator.id not in read:
            findings.append(
                Finding("warning", "indicators", f"no rule reads indicator {indicator.id}")
            )
    return findings
