"""Plain-text tables that fit the terminal: padded columns with the last one wrapped, and count
matrices whose long labels are abbreviated (with a key) and whose columns are split into
blocks when the terminal is too narrow for them all.

Hand-written on the standard library (`shutil`, `textwrap`) rather than with `rich`: two
tables need about a hundred lines, where `rich` would add three packages and box-drawing output
that pipes and CI logs read less well than plain columns.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

FALLBACK_WIDTH = 100  # when standard output is not a terminal: the width of the help texts
GAP = "  "
LONG = 6  # labels longer than this are abbreviated in matrix columns


def terminal_width(limit: int | None = None) -> int:
    """The terminal's width in columns (`COLUMNS` if set), at most `limit`."""
    columns = shutil.get_terminal_size((FALLBACK_WIDTH, 24)).columns
    return max(40, min(columns, limit) if limit else columns)


def table(
    rows: Sequence[Sequence[str]],
    header: Sequence[str] | None = None,
    width: int | None = None,
    indent: int = 0,
) -> list[str]:
    """Rows as lines: every column padded to its widest cell, the last wrapped to `width`."""
    width = width or terminal_width()
    every = [*([header] if header else []), *rows]
    if not every:
        return []
    widths = [max(len(row[i]) for row in every) for i in range(len(every[0]) - 1)]
    lead = indent + sum(w + len(GAP) for w in widths)
    room = max(20, width - lead)
    lines = []
    for row in every:
        fixed = " " * indent + "".join(
            f"{cell:<{w}}{GAP}" for cell, w in zip(row, widths, strict=False)
        )
        # Not at hyphens: a wrapped label read back line by line keeps "low-level" whole.
        wrapped = textwrap.wrap(row[-1], room, break_on_hyphens=False) or [""]
        lines.append((fixed + wrapped[0]).rstrip())
        lines += [" " * lead + more for more in wrapped[1:]]
    return lines


def abbreviate(names: Sequence[str]) -> dict[str, str]:
    """Short, unique labels for snake_case names longer than LONG characters: the initials of
    their words (`team_around_the_family` -> `tatf`), a digit added where two would clash."""
    short: dict[str, str] = {}
    taken = {name for name in names if len(name) <= LONG}
    for name in names:
        if len(name) <= LONG:
            short[name] = name
            continue
        words = [w for w in name.split("_") if w]
        label = "".join(w[0] for w in words) if len(words) > 1 else name[:LONG]
        candidate, n = label, 1
        while candidate in taken:
            n += 1
            candidate = f"{label}{n}"
        taken.add(candidate)
        short[name] = candidate
    return short


def matrix(
    counts: Mapping[tuple[Any, Any], int],
    title: str,
    order: Sequence[Hashable] = (),
    width: int | None = None,
    axes: tuple[str, str] = ("before", "after"),
    columns: Sequence[Hashable] | None = None,
) -> list[str]:
    """A count matrix, rows `before` and columns `after` (or the `axes` named), both in
    `order` (the columns in `columns` when given; others after it, by name): full row labels,
    abbreviated column labels with their key below, and as many columns per block as `width`
    allows."""
    width = width or terminal_width()

    def ordered(keys: set[Any], order: Sequence[Hashable]) -> list[Any]:
        rank = {key: index for index, key in enumerate(order)}
        return sorted(keys, key=lambda k: (rank.get(k, len(rank)), str(k)))

    rows = ordered({k[0] for k in counts}, order)
    cols = ordered({k[1] for k in counts}, order if columns is None else columns)
    short = abbreviate([str(c) for c in cols])
    lead = max([len(str(r)) for r in rows] + [len(axes[0])])
    cell = max([len(short[str(c)]) for c in cols] + [len(str(n)) for n in counts.values()] + [3])
    per_block = max(1, (width - lead) // (cell + 1))
    lines = [f"{title} (rows: {axes[0]}, columns: {axes[1]})"]
    for start in range(0, len(cols), per_block):
        block = cols[start : start + per_block]
        if start:
            lines.append("")
        lines.append(f"{'':<{lead}}" + "".join(f" {short[str(c)]:>{cell}}" for c in block))
        lines += [
            f"{r!s:<{lead}}" + "".join(f" {counts.get((r, c), 0):>{cell}}" for c in block)
            for r in rows
        ]
    # A no-break space inside each `abbreviation = name` keeps the pair on one line.
    key = [f"{short[str(c)]}\xa0=\xa0{c}" for c in cols if short[str(c)] != str(c)]
    wrapped = textwrap.wrap(
        "columns: " + ", ".join(key),
        width,
        subsequent_indent="  ",
        break_long_words=False,  # a pair longer than the line overflows rather than splits
        break_on_hyphens=False,
    )
    return lines + [line.replace("\xa0", " ") for line in wrapped if key]
