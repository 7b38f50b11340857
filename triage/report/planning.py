"""The planning what-if as a council reads it (`triage replay LOG --against REVISION`,
docs/planning.md): the route and level matrices, children per team of the new model by month of
receipt, the share of section 47 work, the offers, and the KPI report under the new model; as
terminal text, JSON and one self-contained HTML page (Jinja2, autoescaped, inline CSS and SVG).

The KPI report under the new model is `kpi_report` on the same log with each decision replaced
by the revision's (`revised`): the same referrals, sources and times, the new levels, routes
and flags, and the figures' words from the revision's `report:` section. Journey moves are read
as they were logged (under the old model's services): the what-if decides referrals again, not
journeys.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from triage._base import LEVEL_NAMES
from triage._table import matrix, table
from triage.audit.planning import PlannedChild, PlanningReport, plan_log
from triage.audit.replay import ROW_FIELDS
from triage.errors import UsageError
from triage.report._reading import ChildDecision, Scan
from triage.report.figures import kpi_report
from triage.report.model import KpiReport, counted
from triage.report.text import render_table, to_dict

JOURNEYS_NOTE = (
    "Journey moves are not decided again (the old and new pathways name different services): "
    "the KPI figures that read them (starts moved in on a journey, step-downs, time open, the "
    "funnel's plans) count the moves as they were logged."
)


def run_planning(
    target: str | Path,
    against: str | Path,
    *,
    workers: int = 1,
    engine: str | None = None,
    as_of: date | None = None,
    allow_unanchored_tail: bool = False,
    progress: Callable[[int], None] | None = None,
    rows: Callable[[list[Any]], None] | None = None,
    population: int | None = None,
) -> tuple[PlanningReport, KpiReport | None]:
    """The planning what-if of a log and its KPI report under the new model. `rows(row)` is
    told of each child's CSV row (`ROW_FIELDS`) as it comes; the what-if then keeps no child,
    and so makes no KPI report (it needs every child's new decision)."""
    plan = plan_log(
        target,
        against,
        workers=workers,
        engine=engine,
        as_of=as_of,
        allow_unanchored_tail=allow_unanchored_tail,
        keep_children=rows is None,
        progress=progress,
        rows=None if rows is None else lambda child: rows(csv_row(child)),
    )
    return plan, kpi_under_revision(plan, population) if rows is None else None


def csv_row(child: PlannedChild) -> list[Any]:
    """One child's row, in the columns of the what-if's `--csv` (`ROW_FIELDS`)."""
    return [getattr(child, name) for name in ROW_FIELDS]


def render_plan(plan: PlanningReport, kpi: KpiReport | None, fmt: str = "table") -> str:
    """The planning what-if as a table (with the KPI report after it), JSON, or CSV."""
    if fmt == "json":
        return planning_json(plan, kpi)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(ROW_FIELDS)
        writer.writerows(csv_row(child) for child in plan.children)
        return buffer.getvalue().rstrip("\n")
    return render_planning(plan, kpi)


def kpi_under_revision(plan: PlanningReport, population: int | None = None) -> KpiReport | None:
    """The KPI report of the log with every decision as the revision makes it (None when the
    revision has no `report:` section to word its figures)."""
    section = plan.revision.report
    if section is None:
        return None
    if not plan.keep_children and plan.decisions:
        raise UsageError("the KPI report under the new model needs the children the what-if kept")
    decisions = [_decision(child) for child in plan.children]

    def revised(scan: Scan) -> Scan:
        if len(scan.decisions) != len(decisions) or any(
            old.child != new.child for old, new in zip(scan.decisions, decisions, strict=True)
        ):
            raise UsageError("the log changed between the what-if and its KPI report: run it again")
        # A scan of its own, not a copy: labels from the revision alone (the old model's routes
        # are not the new one's), and no managers' outcomes (they answered the old
        # recommendations, not these).
        return Scan(
            records=scan.records,
            skipped=scan.skipped,
            referrals=scan.referrals,
            decisions=decisions,
            moves=scan.moves,
            section=section,
        )

    report = kpi_report(plan.target, population, rulebook=plan.revision, revised=revised)
    revision = plan.revision
    return replace(report, title=f"{report.title} under {revision.id} {revision.version}")


def _decision(child: PlannedChild) -> ChildDecision:
    return ChildDecision(
        child=child.child,
        level=child.new_level,
        route=child.new_route,
        flags=child.new_flags,
        source=child.source,
        received=child.received,
        recorded=child.recorded,
        open_service=child.open_service,
    )


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


def share_text(part: int | None, whole: int) -> str:
    if part is None:
        return "not marked in the log's rulebook"
    percent = _pct(part, whole)
    return f"{part:,} of {whole:,}" + ("" if percent is None else f" ({percent:.1f}%)")


def section_47(plan: PlanningReport) -> dict[str, Any]:
    """The share of section 47 work before and after (before: None when nothing marks the
    log's section 47 routes)."""
    before = plan.old_section_47 if plan.old_section_47_marked else None
    return {
        "routes": list(plan.planning.section_47),
        "earlier_routes": list(plan.planning.earlier_section_47),
        "decisions": plan.decisions,
        "before": before,
        "after": plan.new_section_47,
        "before_percent": None if before is None else _pct(before, plan.decisions),
        "after_percent": _pct(plan.new_section_47, plan.decisions),
    }


def level_moves(plan: PlanningReport) -> dict[str, int]:
    """Children whose level the revision raises or lowers, and those it moves to or from
    manual review (no level): a revision that only renames and merges routes moves none."""
    moves = {"up": 0, "down": 0, "undecided": 0}
    for (old, new), n in plan.levels.items():
        if old is None or new is None:
            moves["undecided"] += n if old != new else 0
        elif new != old:
            moves["up" if new > old else "down"] += n
    return moves


def team_totals(plan: PlanningReport) -> list[tuple[str, int]]:
    """Children per team (or route) of the new model, over the whole log, in the revision's
    order: they add up to the children replayed."""
    totals: dict[str, int] = dict.fromkeys(plan.team_order(), 0)
    for (_, team), n in plan.months.items():
        totals[team] = totals.get(team, 0) + n
    return list(totals.items())


def render_planning(plan: PlanningReport, kpi: KpiReport | None = None, limit: int = 50) -> str:
    """The planning what-if as terminal text, the KPI report under the new model after it."""
    revision = plan.revision
    lines = [
        f"planning what-if: {counted(plan.decisions, 'decision')} in "
        f"{counted(plan.records, 'record')} of {plan.target} under {plan.against} "
        f"({revision.id} {revision.version})",
        f"unchanged (same level and route): {plan.identical:,}   changed: {plan.different:,}",
        "level raised: {up:,}   lowered: {down:,}   to or from manual review: {undecided:,}".format(
            **level_moves(plan)
        ),
        f"open to a retired service, planned as open to its successor: {plan.carried_over:,}",
        "",
        *matrix(plan.levels, "levels", order=tuple(LEVEL_NAMES)),
        "",
        *matrix(
            plan.routes,
            "routes",
            order=plan.old_order(),
            columns=plan.new_order(),
        ),
        "",
        *matrix(
            plan.months,
            "children per team by month of receipt",
            order=plan.team_order(),
            axes=("month", "team"),
        ),
        "",
        "children per team, whole log:",
        *table(
            [
                [team, f"{n:>9,}", f"{_pct(n, plan.decisions) or 0:5.1f}%"]
                for team, n in team_totals(plan)
            ],
            indent=2,
        ),
    ]
    s47 = section_47(plan)
    routes = ", ".join(s47["routes"]) or "none marked (report: planning: section_47)"
    lines += [
        "",
        f"section 47 work (routes: {routes}):",
        f"  before: {share_text(s47['before'], plan.decisions)}",
        f"  after:  {share_text(s47['after'], plan.decisions)}",
    ]
    for name, heading in (("offers", "offers"), ("flags", "other flags counted")):
        flags: tuple[str, ...] = getattr(plan.planning, name)
        if not flags and name == "flags":
            continue
        lines += [
            "",
            f"{heading} (decisions carrying each flag):" if flags else "offers: none marked",
        ]
        lines += table(
            [
                [flag, f"before {plan.flags_before[flag]:,}", f"after {plan.flags_after[flag]:,}"]
                for flag in flags
            ],
            indent=2,
        )
    changed = [child for child in plan.children if not child.identical][:limit]
    if changed:
        lines += ["", f"first {len(changed)} changed:"]
        lines += [
            f"  seq {c.seq} child {c.child}: level {c.old_level} -> {c.new_level}, "
            f"{c.old_route} -> {c.new_route}"
            for c in changed
        ]
    lines += ["", f"note: {JOURNEYS_NOTE}"]
    if kpi is not None:
        lines += ["", render_table(kpi)]
    elif not plan.keep_children:
        lines.append("no KPI report: the children were streamed, not kept (it needs each one)")
    elif plan.revision.report is None:
        lines.append("no KPI report: the revision has no report: section to word its figures")
    return "\n".join(lines)


def _cells(counts: Mapping[tuple[Any, Any], int]) -> list[list[Any]]:
    return [[a, b, n] for (a, b), n in sorted(counts.items(), key=lambda item: str(item[0]))]


def planning_dict(plan: PlanningReport, kpi: KpiReport | None = None) -> dict[str, Any]:
    revision = plan.revision
    return {
        "log": plan.target,
        "against": plan.against,
        "revision": revision.ref.model_dump(mode="json"),
        "log_rulebooks": [
            rulebook.ref.model_dump(mode="json") for rulebook in plan.old_rulebooks.values()
        ],
        "records": plan.records,
        "decisions": plan.decisions,
        "unchanged": plan.identical,
        "changed": plan.different,
        "level_moves": level_moves(plan),
        "carried_over": plan.carried_over,
        "level_matrix": _cells(plan.levels),
        "route_matrix": _cells(plan.routes),
        "teams": {team: list(routes) for team, routes in plan.planning.teams.items()},
        "children_by_month": _cells(plan.months),
        "old_children_by_month": _cells(plan.old_months),
        "children_by_team": [[team, n] for team, n in team_totals(plan)],
        "section_47": section_47(plan),
        "offers": _flag_counts(plan, plan.planning.offers),
        "flags": _flag_counts(plan, plan.planning.flags),
        "notes": [JOURNEYS_NOTE],
        "kpi": None if kpi is None else to_dict(kpi),
        "children": [_row(child) for child in plan.children] if plan.keep_children else None,
    }


def _flag_counts(plan: PlanningReport, flags: tuple[str, ...]) -> dict[str, Any]:
    return {
        "flags": list(flags),
        "before": {flag: plan.flags_before[flag] for flag in flags},
        "after": {flag: plan.flags_after[flag] for flag in flags},
    }


def _row(child: PlannedChild) -> dict[str, Any]:
    return {
        "seq": child.seq,
        "child": child.child,
        "month": child.month,
        "old_level": child.old_level,
        "old_route": child.old_route,
        "new_level": child.new_level,
        "new_route": child.new_route,
        "new_flags": list(child.new_flags),
        "identical": child.identical,
    }


def planning_json(plan: PlanningReport, kpi: KpiReport | None = None) -> str:
    return json.dumps(planning_dict(plan, kpi), indent=2, ensure_ascii=False)
