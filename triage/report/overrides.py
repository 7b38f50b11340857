"""The Front Door managers' overrides of the recommendations, from the outcome records
(`triage_outcome`, `triage.audit.outcome`): the override rate by direction on the continuum,
by the route the rules recommended, and by the coded reason.

The outcome record, its directions and its reasons' place in the rulebook are the library's
own format, not a council's plan, so these figures' words are here rather than in the
rulebook's `report:` section; the reasons' labels come from the rulebook snapshot in the log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from triage.council import FigureText
from triage.report._reading import Answer, Scan
from triage.report.model import Figure, Row, counted

_SOURCE = (
    "The decision log's triage_outcome records (docs/decision-log.md): the Front Door manager's "
    "decision on each recommendation. The plans name no override measure; an override, and why, "
    "is what an auditor looks for first"
)
_BASE = (
    "Only decisions in the period that have a manager's outcome are counted (a decision "
    "without one is neither accepted nor overridden yet); a decision record answered twice "
    "counts once, by its first outcome."
)
BY_DIRECTION = FigureText(
    title="Recommendations overridden, by direction",
    caption="of recommendations answered were overridden",
    definition=(
        "Outcomes recorded by the Front Door manager for decisions in the period, by what the "
        "manager did: accepted the recommendation, or overrode it up the continuum (to a "
        "higher level than recommended), down it (to a lower level), to another route at the "
        "same level (or without a level given), or from manual review (the rules recommended "
        "no level). Each row is a percent of all outcomes recorded, so the override rows add "
        "up to the override rate, the headline: overridden over outcomes recorded. " + _BASE
    ),
    source=_SOURCE,
)
BY_ROUTE = FigureText(
    title="Override rate by route recommended",
    caption="outcomes recorded, by the route the rules recommended",
    definition=(
        "For each route the rules recommended, the recommendations a manager overrode (the "
        "count) and the override rate of that route: overridden over the outcomes recorded "
        "for recommendations of that route (the 'of N' in the label). A route with no "
        "outcome recorded is left out. " + _BASE
    ),
    source=_SOURCE,
)
BY_REASON = FigureText(
    title="Override rate by reason",
    caption="outcomes recorded; the overrides by their coded reason",
    definition=(
        "Overrides by the coded reason the manager gave (the rulebook's override_reasons, "
        "labelled as in the rulebook snapshot in the log), each as a percent of all outcomes "
        "recorded, so the rows add up to the override rate. " + _BASE
    ),
    source=_SOURCE,
)

DIRECTIONS = (
    ("up", "Overridden up the continuum"),
    ("down", "Overridden down the continuum"),
    ("across", "Overridden to another route, same level"),
    ("from_undecided", "Overridden from manual review"),
)
NO_OUTCOMES = "no outcomes recorded in the period"


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


def _notes(scan: Scan, decisions: int) -> tuple[str, ...]:
    answered = len(scan.answers)
    have = "has" if answered == 1 else "have"
    notes = [f"{answered:,} of {counted(decisions, 'decision')} in the period {have} an outcome."]
    if scan.repeated_answers:
        notes.append(
            f"{counted(scan.repeated_answers, 'further outcome')} for a decision record already "
            "answered (written before outcomes were checked under the log's lock) "
            + ("is" if scan.repeated_answers == 1 else "are")
            + " not counted."
        )
    return tuple(notes)


def override_figures(
    scan: Scan, decisions: int, labels: Mapping[str, str], route_levels: Mapping[str, int]
) -> tuple[Figure, ...]:
    """The three figures of the managers' outcomes in `scan` (`decisions`: in the period)."""
    answers = list(scan.answers.values())
    notes = _notes(scan, decisions)
    return (
        _by_direction(answers, notes),
        _by_route(answers, notes, labels, route_levels),
        _by_reason(answers, notes, scan.reason_labels),
    )


def _figure(key: str, text: FigureText, **fields: Any) -> Figure:
    return Figure(
        key=key,
        title=text.title,
        caption=text.caption,
        definition=text.definition,
        source=text.source,
        **fields,
    )


def _overridden(answers: list[Answer]) -> list[Answer]:
    return [a for a in answers if a.outcome == "overridden"]


def _by_direction(answers: list[Answer], notes: tuple[str, ...]) -> Figure:
    total, over = len(answers), _overridden(answers)
    counts = Counter(a.direction for a in over)
    accepted = total - len(over)
    rows = (
        Row("accepted", "Accepted", accepted, _pct(accepted, total)),
        *(Row(key, label, counts[key], _pct(counts[key], total)) for key, label in DIRECTIONS),
    )
    return _figure(
        "overrides_by_direction",
        BY_DIRECTION,
        unit="%",
        value=_pct(len(over), total),
        missing=NO_OUTCOMES if not total else None,
        numerator=len(over),
        denominator=total,
        rows=rows,
        notes=notes,
    )


def _by_route(
    answers: list[Answer],
    notes: tuple[str, ...],
    labels: Mapping[str, str],
    route_levels: Mapping[str, int],
) -> Figure:
    answered = Counter(a.recommended_route for a in answers)
    overridden = Counter(a.recommended_route for a in _overridden(answers))
    order = [r for r in labels if answered[r]] + sorted(set(answered) - set(labels))
    rows = tuple(
        Row(
            route,
            f"{labels.get(route) or route.replace('_', ' ').capitalize()}, "
            f"of {counted(answered[route], 'outcome')}",
            overridden[route],
            _pct(overridden[route], answered[route]),
        )
        for route in order
    )
    return _figure(
        "overrides_by_route",
        BY_ROUTE,
        denominator=len(answers),
        rows=rows,
        notes=notes,
        levels=dict(route_levels),
    )


def _by_reason(answers: list[Answer], notes: tuple[str, ...], labels: Mapping[str, str]) -> Figure:
    total = len(answers)
    counts = Counter(a.reason for a in _overridden(answers) if a.reason is not None)
    order = list(labels) + sorted(set(counts) - set(labels))
    rows = tuple(
        Row(reason, labels.get(reason, reason), counts[reason], _pct(counts[reason], total))
        for reason in order
    )
    return _figure("overrides_by_reason", BY_REASON, denominator=total, rows=rows, notes=notes)
