"""The report's shape: figures made of rows, and the report that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Row:
    """One line of a figure: a category, a part of a ratio, or a funnel stage."""

    key: str
    label: str
    count: int
    percent: float | None = None


@dataclass(frozen=True)
class Figure:
    """One indicator: its value, what it counts (`definition`) and where the plans ask for it."""

    key: str
    title: str
    definition: str
    source: str
    caption: str
    unit: str = ""
    value: float | None = None
    missing: str | None = None
    numerator: int | None = None
    denominator: int | None = None
    rows: tuple[Row, ...] = ()
    notes: tuple[str, ...] = ()
    # The level of each row's key, for the colours of a chart by level or route.
    levels: dict[str, int] = field(default_factory=dict)

    @property
    def value_text(self) -> str:
        if self.value is None:
            return self.missing or "no data"
        number = f"{self.value:,.1f}"
        return f"{number}%" if self.unit == "%" else f"{number} {self.unit}".strip()


@dataclass(frozen=True)
class KpiReport:
    log: str
    start: date | None
    end: date | None
    population: int | None
    records: int
    head: tuple[int, str] | None
    decisions: int
    referrals: int
    transitions: int
    skipped: int
    figures: tuple[Figure, ...] = field(default=())
    title: str = "Front Door KPI report"
    cannot_show: tuple[tuple[str, str], ...] = ()

    def figure(self, key: str) -> Figure:
        for item in self.figures:
            if item.key == key:
                return item
        raise KeyError(key)

    @property
    def period(self) -> str:
        if self.start is None and self.end is None:
            return "every record in the log"
        first = "the first record" if self.start is None else self.start.isoformat()
        last = "the last record" if self.end is None else self.end.isoformat()
        return f"{first} to {last} (inclusive)"


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """'1 referral', '10,000 referrals': a count and its noun, never 'referral(s)'."""
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"
