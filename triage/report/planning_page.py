"""The planning what-if as one self-contained HTML page (`replay --against REVISION --html`):
a Jinja2 template (`templates/planning.html.j2`, autoescaped) with the KPI report's stylesheet
and figure cards (`_figures.html.j2`) inlined; no scripts, fonts or links out."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from triage._base import LEVEL_NAMES
from triage.audit.planning import PlanningReport
from triage.report.html import _card
from triage.report.model import KpiReport
from triage.report.planning import (
    JOURNEYS_NOTE,
    render_planning,
    run_planning,
    section_47,
    share_text,
)
from triage.report.text import summary


@cache
def _template() -> Template:
    environment = Environment(
        loader=PackageLoader("triage.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("planning.html.j2")


def _grid(
    counts: Mapping[tuple[Any, Any], int], rows: Sequence[Hashable], cols: Sequence[Hashable]
) -> dict[str, Any]:
    """A matrix for the page: its rows and columns in order (each key that has a count), the
    cells, and the totals of each row and column."""
    keys_rows = [r for r in rows if any(k[0] == r for k in counts)]
    keys_rows += sorted({k[0] for k in counts} - set(keys_rows), key=str)
    keys_cols = [c for c in cols if any(k[1] == c for k in counts)]
    keys_cols += sorted({k[1] for k in counts} - set(keys_cols), key=str)
    cells = [[counts.get((r, c), 0) for c in keys_cols] for r in keys_rows]
    return {
        "rows": ["none" if r is None else str(r) for r in keys_rows],
        "cols": ["none" if c is None else str(c) for c in keys_cols],
        "cells": cells,
        "row_totals": [sum(row) for row in cells],
        "col_totals": [sum(column) for column in zip(*cells, strict=True)] if cells else [],
        "total": sum(counts.values()),
    }


def planning_html(plan: PlanningReport, kpi: KpiReport | None = None) -> str:
    """One self-contained page: the planning tables, then the KPI report under the new model."""
    levels = tuple(LEVEL_NAMES)
    months = sorted({month for month, _ in plan.months})
    return _template().render(
        plan=plan,
        revision=plan.revision,
        levels=_grid(plan.levels, levels, levels),
        routes=_grid(plan.routes, plan.old_order(), plan.new_order()),
        months=_grid(plan.months, months, plan.team_order()),
        s47=section_47(plan),
        before_share=share_text(section_47(plan)["before"], plan.decisions),
        after_share=share_text(plan.new_section_47, plan.decisions),
        offers=[
            (flag, plan.flags_before[flag], plan.flags_after[flag]) for flag in plan.planning.offers
        ],
        flags=[
            (flag, plan.flags_before[flag], plan.flags_after[flag]) for flag in plan.planning.flags
        ],
        note=JOURNEYS_NOTE,
        kpi=kpi,
        kpi_summary="" if kpi is None else summary(kpi),
        cards=[] if kpi is None else [_card(figure) for figure in kpi.figures],
        labels={
            route.id: route.label
            for rulebook in plan.old_rulebooks.values()
            for route in rulebook.routes
        }
        | {route.id: route.label for route in plan.revision.routes},
    )


def show_planning(
    log: str | Path,
    against: str | Path,
    page: Path,
    *,
    workers: int = 1,
    engine: str | None = None,
    population: int | None = None,
    say: Callable[[str], None] = print,
) -> PlanningReport:
    """The planning what-if as the demo shows it: the summary said (its first 10 changed
    children), the page with the KPI report under the new model written to `page`."""
    plan, kpi = run_planning(log, against, workers=workers, engine=engine, population=population)
    page.write_text(planning_html(plan, kpi), encoding="utf-8")
    say(render_planning(plan, limit=10))
    say(f"planning page:   {page}")
    return plan
