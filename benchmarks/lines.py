"""One measured figure (a line of the table), timing, and the table and JSON they print as."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Line:
    """One figure. `rate` is per second; `value` is a figure that is not a rate (MB, minutes)."""

    key: str
    label: str
    rate: float
    unit: str
    count: int
    seconds: float
    value: float | None = None
    value_unit: str = ""
    target: str = ""
    achieved: str = ""  # the figure the target is judged on, when it is not the rate itself
    met: bool | None = None
    ratio: float = 0.0  # rate / rate of line (a)

    def measured(self) -> str:
        if self.value is not None:
            return f"{self.value:,.1f} {self.value_unit}"
        return f"{self.rate:,.0f} {self.unit}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def timed(work: Callable[[], int]) -> tuple[int, float]:
    """Run `work` (which returns how many items it did) after a full collection: (count, s)."""
    gc.collect()
    start = time.perf_counter()
    count = work()
    return count, time.perf_counter() - start


def line(key: str, label: str, count: int, seconds: float, unit: str) -> Line:
    return Line(key, label, count / seconds if seconds > 0 else 0.0, unit, count, seconds)


def with_ratios(lines: Sequence[Line]) -> None:
    """Every line's rate as a ratio to the first line's (the floor)."""
    floor = lines[0].rate
    for item in lines:
        item.ratio = item.rate / floor if floor > 0 else 0.0


def table(lines: Sequence[Line]) -> str:
    head = ("benchmark", "measured", "x (a)", "target", "achieved", "met")
    rows = [
        (
            item.label,
            item.measured(),
            f"{item.ratio:.2f}",
            item.target or "-",
            item.achieved or "-",
            "-" if item.met is None else ("yes" if item.met else "NO"),
        )
        for item in lines
    ]
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head))]
    right = {1, 2}

    def render(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(head), rule, *(render(row) for row in rows)])
