"""The report as one self-contained HTML page: a Jinja2 template (autoescaped) with its
stylesheet inlined and the charts as inline SVG; no scripts, fonts or links out."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from triage.report._svg import chart
from triage.report.model import Figure, KpiReport, counted
from triage.report.text import count_text, summary


@cache
def _template() -> Template:
    environment = Environment(
        loader=PackageLoader("triage.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2")


def _number(figure: Figure) -> tuple[str, str]:
    """The headline number and its unit, apart (for a big number and a small unit)."""
    if figure.value is None:
        return figure.missing or "no data", ""
    if figure.unit == "%":
        return f"{figure.value:,.1f}%", ""
    return f"{figure.value:,.1f}", figure.unit


def _card(figure: Figure) -> dict[str, object]:
    number, unit = _number(figure)
    return {
        "figure": figure,
        "number": number,
        "unit": unit,
        "count": count_text(figure),
        "measured": figure.value is not None,
        "chart": chart(figure),
    }


def to_html(report: KpiReport) -> str:
    """One self-contained HTML page: inline CSS and SVG, no scripts, fonts or links out."""
    population = (
        "not given (rates need --population)"
        if report.population is None
        else f"{counted(report.population, 'child', 'children')} under 18"
    )
    return _template().render(
        report=report,
        population=population,
        summary=summary(report),
        skipped=counted(report.skipped, "unreadable record") if report.skipped else "",
        decisions=f"{report.decisions:,}",
        on_referrals=f"decisions on {counted(report.referrals, 'referral')} received in the period"
        if report.decisions != 1
        else f"decision on {counted(report.referrals, 'referral')} received in the period",
        cards=[_card(figure) for figure in report.figures],
    )
