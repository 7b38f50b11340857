"""The report as a terminal table and as JSON, every figure with its definition."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict
from typing import Any

from triage.report.model import Figure, KpiReport, counted

WIDTH = 100


def count_text(figure: Figure) -> str:
    """What the headline number counts: '5 of 8', '3 starts in a population of ...'."""
    if figure.key.endswith("_starts"):
        base = counted(figure.numerator or 0, "start")
        if figure.denominator is not None:
            base += f" in a population of {figure.denominator:,} under-18s"
        return base
    if figure.numerator is not None:
        return f"{figure.numerator:,} of {figure.denominator or 0:,}"
    return f"{figure.denominator or 0:,} in all"


def summary(report: KpiReport) -> str:
    """'17,159 records; 10,000 referrals, 13,832 decisions and 7,158 journey moves ...'."""
    return (
        f"{counted(report.records, 'record')}; {counted(report.referrals, 'referral')}, "
        f"{counted(report.decisions, 'decision')} and "
        f"{counted(report.transitions, 'journey move')} in the period"
    )


def _wrap(text: str, label: str) -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=f"  {label}: ",
        subsequent_indent=" " * (len(label) + 4),
        break_on_hyphens=False,
        break_long_words=False,
    )


def render_table(report: KpiReport) -> str:
    """The report as a plain-text table for a terminal, each figure with its definition."""
    skipped = f"; {counted(report.skipped, 'unreadable record')} skipped" if report.skipped else ""
    lines = [
        report.title,
        f"log: {report.log}",
        f"period: {report.period}",
        f"read: {summary(report)}{skipped}",
    ]
    if report.head is not None:
        lines.append(f"head: seq {report.head[0]}, hash {report.head[1]}")
    for figure in report.figures:
        lines += ["", "=" * WIDTH, figure.title.upper()]
        if figure.numerator is not None or figure.value is not None or figure.missing:
            lines.append(f"  {figure.value_text}   ({count_text(figure)})")
        label_width = max((len(row.label) for row in figure.rows), default=10)
        for row in figure.rows:
            percent = "" if row.percent is None else f"{row.percent:6.1f}%"
            lines.append(f"  {row.label:<{label_width}}  {row.count:>8,}  {percent}")
        for note in figure.notes:
            lines += _wrap(note, "note")
        lines += _wrap(figure.definition, "definition")
        lines += _wrap(figure.source, "source")
    return "\n".join(lines)


def to_dict(report: KpiReport) -> dict[str, Any]:
    data = asdict(report)
    data["start"] = None if report.start is None else report.start.isoformat()
    data["end"] = None if report.end is None else report.end.isoformat()
    data["head"] = None if report.head is None else {"seq": report.head[0], "hash": report.head[1]}
    data["cannot_show"] = [{"what": what, "why": why} for what, why in report.cannot_show]
    for item, figure in zip(data["figures"], report.figures, strict=True):
        item["value_text"] = figure.value_text
    return data


def to_json(report: KpiReport) -> str:
    """The report as JSON: every figure with its definition, source, value, rows and notes."""
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False)
