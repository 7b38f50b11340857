"""The figures: computation only. What each figure is called and says, and which services it
groups, is the council's data (the rulebook's `report:` section, `triage.council`); the
national census groupings of referral sources are here, once."""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from triage.audit.stores import Store
from triage.council import (
    DurationFigure,
    FigureText,
    FlagFigure,
    FunnelFigure,
    ReportSection,
    StartsFigure,
    StepDownFigure,
)
from triage.errors import UsageError
from triage.report._reading import ChildDecision, Move, Scan, read_log
from triage.report.model import Figure, KpiReport, Row, counted
from triage.report.overrides import override_figures
from triage.rulebook import Rulebook
from triage.workdays import add_working_days

# The national referral-source categories (DfE CIN census codes; shared/domain.md sections 6-7).
AGENCY_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("police", "Police", ("6",)),
    ("schools", "Schools", ("2A",)),
    ("education_services", "Education services", ("2B",)),
    ("health", "Health", ("3A", "3B", "3C", "3D", "3E", "3F")),
    ("housing", "Housing", ("4",)),
    ("la_services", "LA services", ("5A", "5B", "5C", "5D")),
    ("individuals", "Individuals", ("1A", "1B", "1C", "1D")),
    ("other_legal_agency", "Other legal agency", ("7",)),
    ("other", "Other", ("8",)),
    ("anonymous", "Anonymous", ("9",)),
    ("unknown", "Unknown", ("10",)),
)
_GROUP_OF = {code: key for key, _, codes in AGENCY_GROUPS for code in codes}

# Decisions recorded this long after receipt were written after the fact (a backfill, a replay
# into a new log, the demo): when more than half are, timeliness cannot be measured.
BACKFILL_DAYS = 30
NEEDS_POPULATION = "needs --population (the number of children under 18 in the area)"
NOT_MEASURABLE = "not measurable on this log"
NO_SECTION = (
    "the log's rulebook has no report section (rules/<id>/report.yaml: what each figure is "
    "called and which services it groups); give a rulebook directory that has one (--rules)"
)


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def _figure(key: str, text: FigureText, **fields: Any) -> Figure:
    """A figure with the council's words for it."""
    return Figure(
        key=key,
        title=text.title,
        caption=text.caption,
        definition=text.definition,
        source=text.source,
        **fields,
    )


def kpi_report(
    target: str | Path | Store,
    population: int | None = None,
    start: date | None = None,
    end: date | None = None,
    rulebook: Rulebook | None = None,
    *,
    revised: Callable[[Scan], Scan] | None = None,
) -> KpiReport:
    """Read every record of the log at `target` and compute the indicators it can support.

    `population` is the number of children under 18 in the area (for the per-10,000 rates);
    `start` and `end` keep referrals received and journey events that occurred on those days,
    both inclusive. What the figures say and group comes from the `report:` section of the
    last rulebook snapshot in the log, or of `rulebook` when given. `revised(scan)` replaces
    what was read before any figure is computed (the planning what-if's decisions, under the
    new model: `triage.report.planning`).
    """
    if population is not None and population <= 0:
        raise UsageError("--population must be a positive number of children under 18")
    if start is not None and end is not None and start > end:
        raise UsageError(f"the period is empty: --from {start} is after --to {end}")
    scan, head, name = read_log(target, start, end)
    if revised is not None:
        scan = revised(scan)
    section = scan.section if rulebook is None else rulebook.report
    if section is None:
        raise UsageError(NO_SECTION)
    labels = dict(scan.route_labels)
    levels = scan.levels if rulebook is None else tuple(rulebook.level_names)
    if rulebook is not None:
        labels = {route.id: route.label for route in rulebook.routes} | labels
    decisions, moves, texts = scan.decisions, scan.moves, section.figures
    figures = (
        _by_agency(texts.referrals_by_agency, decisions),
        _by_level(texts.decisions_by_level, section, decisions, levels),
        _by_route(texts.decisions_by_route, section, decisions, labels),
        *(_starts(starts, decisions, moves, population) for starts in texts.starts),
        _stepped_down(texts.closures_stepped_down_to_early_help, moves),
        _open_duration(texts.tafs_open_12_months_or_less, moves),
        _re_referrals(texts.re_referrals_within_12_months, decisions),
        _timeliness(texts.decided_within_1_working_day, decisions),
        _funnel(texts.contact_assessment_plan_funnel, decisions, moves),
        *override_figures(scan, len(decisions), labels, section.route_levels),
    )
    return KpiReport(
        log=name,
        start=start,
        end=end,
        population=population,
        records=scan.records,
        head=head,
        decisions=len(decisions),
        referrals=scan.referrals,
        transitions=len(moves),
        skipped=scan.skipped,
        figures=figures,
        title=section.title,
        cannot_show=tuple((item.what, item.why) for item in section.cannot_show),
    )


def _codes(codes: Sequence[str]) -> str:
    return codes[0] if len(codes) == 1 else f"{codes[0]}-{codes[-1]}"


def _by_agency(text: FigureText, decisions: Sequence[ChildDecision]) -> Figure:
    counts = Counter(_GROUP_OF.get(d.source, "unknown") for d in decisions)
    total = len(decisions)
    rows = tuple(
        Row(key, f"{label} ({_codes(codes)})", counts[key], _pct(counts[key], total))
        for key, label, codes in AGENCY_GROUPS
    )
    return _figure("referrals_by_agency", text, denominator=total, rows=rows)


def _by_level(
    text: FigureText,
    section: ReportSection,
    decisions: Sequence[ChildDecision],
    levels: Sequence[int],
) -> Figure:
    """One row per level of the rulebook (three for a council that counts three), and one for
    decisions with no level; a level the rulebook does not count, if a log holds one, too."""
    counts = Counter(d.level for d in decisions)
    total = len(decisions)
    shown = [*levels, *sorted(n for n in counts if n is not None and n not in levels)]
    rows = [
        Row(str(n), section.levels.get(n, f"Level {n}"), counts[n], _pct(counts[n], total))
        for n in shown
    ]
    if counts[None]:
        rows.append(
            Row("none", "No level (manual review)", counts[None], _pct(counts[None], total))
        )
    return _figure(
        "decisions_by_level",
        text,
        denominator=total,
        rows=tuple(rows),
        levels={str(n): n for n in shown},
    )


def _by_route(
    text: FigureText,
    section: ReportSection,
    decisions: Sequence[ChildDecision],
    labels: dict[str, str],
) -> Figure:
    counts = Counter(d.route for d in decisions)
    order = list(labels) + sorted(set(counts) - set(labels))
    total = len(decisions)
    rows = tuple(
        Row(
            route,
            labels.get(route) or route.replace("_", " ").capitalize(),
            counts[route],
            _pct(counts[route], total),
        )
        for route in order
    )
    return _figure(
        "decisions_by_route",
        text,
        denominator=total,
        rows=rows,
        levels=dict(section.route_levels),
    )


def _starts(
    text: StartsFigure,
    decisions: Sequence[ChildDecision],
    moves: Sequence[Move],
    population: int | None,
) -> Figure:
    service = text.service
    routed = sum(1 for d in decisions if d.route == service and d.open_service != service)
    moved = sum(1 for m in moves if m.target == service and m.source != service)
    starts = routed + moved
    value = None if population is None else round(starts * 10_000 / population, 1)
    return _figure(
        f"{service}_starts",
        text,
        unit="per 10,000 under-18s",
        value=value,
        missing=NEEDS_POPULATION if population is None else None,
        numerator=starts,
        denominator=population,
        rows=(
            Row("front_door", "Routed by the Front Door", routed),
            Row("journey", "Moved in on a journey", moved),
        ),
    )


def _stepped_down(text: StepDownFigure, moves: Sequence[Move]) -> Figure:
    closing = [m for m in moves if m.source in text.social_care]
    to_early_help = [m for m in closing if m.target in text.early_help]
    to_universal = [m for m in closing if m.target in text.universal]
    stepped = (*text.early_help, *text.universal)
    closed = [m for m in closing if m.kind == "close" and m.target not in stepped]
    total = len(to_early_help) + len(to_universal) + len(closed)
    rc9 = sum(1 for m in to_early_help if m.closure_reason == "RC9")
    notes: tuple[str, ...] = ()
    if to_early_help:
        verb = "carries" if rc9 == 1 else "carry"
        steps = counted(len(to_early_help), "step-down")
        notes = (f"{rc9} of the {steps} to early help {verb} RC9.",)
    return _figure(
        "closures_stepped_down_to_early_help",
        text,
        unit="%",
        value=_pct(len(to_early_help), total),
        missing="no social care closures in the period" if total == 0 else None,
        numerator=len(to_early_help),
        denominator=total,
        rows=(
            Row(
                "early_help",
                "Stepped down to early help",
                len(to_early_help),
                _pct(len(to_early_help), total),
            ),
            Row(
                "universal",
                "Stepped down to universal services",
                len(to_universal),
                _pct(len(to_universal), total),
            ),
            Row("closed", "Closed", len(closed), _pct(len(closed), total)),
        ),
        notes=notes,
    )


def _open_duration(text: DurationFigure, moves: Sequence[Move]) -> Figure:
    achieved = [m for m in moves if m.source == text.service and "outcomes_achieved" in m.findings]
    open_since = [(m.since, m.occurred.date()) for m in achieved]
    known = [(since, on) for since, on in open_since if since is not None and since <= on]
    unknown = len(achieved) - len(known)
    short = sum(1 for since, on in known if on <= _add_months(since, 12))
    notes: tuple[str, ...] = ()
    if unknown:
        are = "is" if unknown == 1 else "are"
        notes = (
            f"{counted(unknown, 'record')} without a usable service_since {are} counted as "
            "unknown and left out of the percentage.",
        )
    return _figure(
        "tafs_open_12_months_or_less",
        text,
        unit="%",
        value=_pct(short, len(known)),
        missing="no known open times in the period" if not known else None,
        numerator=short,
        denominator=len(known),
        rows=(
            Row("12_months_or_less", "Open 12 months or less", short, _pct(short, len(known))),
            Row(
                "over_12_months",
                "Open more than 12 months",
                len(known) - short,
                _pct(len(known) - short, len(known)),
            ),
            Row("unknown", "Unknown (no service_since)", unknown),
        ),
        notes=notes,
    )


def _re_referrals(text: FlagFigure, decisions: Sequence[ChildDecision]) -> Figure:
    children = {d.child for d in decisions}
    flagged = [d for d in decisions if text.flag in d.flags]
    again = {d.child for d in flagged}
    verb = "carries" if len(flagged) == 1 else "carry"
    return _figure(
        "re_referrals_within_12_months",
        text,
        unit="%",
        value=_pct(len(again), len(children)),
        missing="no referrals in the period" if not children else None,
        numerator=len(again),
        denominator=len(children),
        rows=(
            Row(
                "re_referred",
                "Re-referred within 12 months",
                len(again),
                _pct(len(again), len(children)),
            ),
            Row(
                "not_re_referred",
                "Not referred in the previous 12 months",
                len(children) - len(again),
                _pct(len(children) - len(again), len(children)),
            ),
        ),
        notes=(f"{len(flagged):,} of {counted(len(decisions), 'decision')} {verb} the flag.",),
    )


def _working_days(decision: ChildDecision) -> int | None:
    """Working days from receipt to the record: 0, 1 or 2 (two or more); None if before it."""
    if decision.recorded < decision.received:
        return None
    received = decision.received.date()
    recorded = decision.recorded.astimezone(decision.received.tzinfo).date()
    if recorded < add_working_days(received, 1):
        return 0
    return 1 if recorded < add_working_days(received, 2) else 2


def _timeliness(text: FigureText, decisions: Sequence[ChildDecision]) -> Figure:
    counts = Counter(_working_days(d) for d in decisions)
    valid = counts[0] + counts[1] + counts[2]
    within = counts[0] + counts[1]
    notes: list[str] = []
    if counts[None]:
        notes.append(
            f"{counted(counts[None], 'decision')} recorded before the referral's received_at "
            "(a clock error or a back-dated referral) "
            + ("is" if counts[None] == 1 else "are")
            + " left out."
        )
    stale = sum(1 for d in decisions if (d.recorded - d.received).days > BACKFILL_DAYS)
    # More than half written long after receipt: the record times say when the log was
    # written, not when the Front Door decided, and a 0% would be a false alarm.
    after_the_fact = valid > 0 and 2 * stale > valid
    if stale:
        notes.append(
            f"{stale:,} of {counted(len(decisions), 'decision')} "
            + ("was" if stale == 1 else "were")
            + f" recorded more than {BACKFILL_DAYS} days after receipt: "
            + (
                "the log was written after the fact, so it cannot say how soon the Front Door "
                "decided."
                if after_the_fact
                else "those records were probably written after the fact."
            )
        )
    missing = "no decisions in the period" if not valid else None
    if after_the_fact:
        missing = NOT_MEASURABLE
    return _figure(
        "decided_within_1_working_day",
        text,
        unit="%",
        value=None if after_the_fact else _pct(within, valid),
        missing=missing,
        numerator=None if after_the_fact else within,
        denominator=valid,
        rows=(
            Row("same_working_day", "The same working day", counts[0], _pct(counts[0], valid)),
            Row("next_working_day", "The next working day", counts[1], _pct(counts[1], valid)),
            Row("later", "Later", counts[2], _pct(counts[2], valid)),
        ),
        notes=tuple(notes),
    )


def _funnel(
    text: FunnelFigure, decisions: Sequence[ChildDecision], moves: Sequence[Move]
) -> Figure:
    referred = {d.child for d in decisions}
    assessed = {d.child for d in decisions if d.route in text.assessment}
    planned = {m.child for m in moves if m.target in text.plans and m.source != m.target}
    reached = assessed & planned
    outside = planned - assessed
    notes: tuple[str, ...] = ()
    if outside:
        notes = (
            f"{counted(len(outside), 'child', 'children')} moved onto a plan in the period "
            "without being routed to an assessment in it (referred earlier) "
            + ("is" if len(outside) == 1 else "are")
            + " not in the funnel.",
        )
    return _figure(
        "contact_assessment_plan_funnel",
        text,
        unit="%",
        value=_pct(len(reached), len(referred)),
        missing="no referrals in the period" if not referred else None,
        numerator=len(reached),
        denominator=len(referred),
        rows=(
            Row("referred", "Children referred", len(referred), None if not referred else 100.0),
            Row(
                "assessment",
                "Routed to an assessment",
                len(assessed),
                _pct(len(assessed), len(referred)),
            ),
            Row(
                "plan",
                "Moved onto a plan",
                len(reached),
                _pct(len(reached), len(assessed)),
            ),
        ),
        notes=notes,
    )
