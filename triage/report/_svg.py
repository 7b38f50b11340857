"""The three charts, written by hand as SVG: no scripts, nothing fetched, and each scales to
the width of its card (`viewBox` with `width="100%"`; the height follows the ratio)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from markupsafe import Markup, escape

from triage.report.model import Figure, Row

LEVEL_COLOURS = {1: "#3f8f5e", 2: "#d9a520", 3: "#e07b39", 4: "#c0392b"}
NEUTRAL = "#2f6f9f"
GREY = "#9aa3ab"
INK = "#1f2933"
# A ratio that cannot be measured is drawn in quiet greys: no colour says good or bad.
QUIET = ("#7b8794", "#9aa5b1", "#c5ccd3")
_PALETTES = {
    "closures_stepped_down_to_early_help": ("#3f8f5e", "#8fbf6f", GREY),
    "tafs_open_12_months_or_less": ("#3f8f5e", "#d9a520", GREY),
    "re_referrals_within_12_months": ("#d9a520", "#c5d3df"),
    "decided_within_1_working_day": ("#3f8f5e", "#8fbf6f", "#c0392b"),
    # accepted, then overridden up, down, across, from manual review
    "overrides_by_direction": ("#3f8f5e", "#c0392b", "#2f6f9f", "#d9a520", GREY),
}
LABEL_CHARS = 30  # a bar's label wraps at this many characters (13 px text in 250 units)


def _open(width: int, height: float, title: str) -> list[str]:
    return [
        f'<svg viewBox="0 0 {width} {height:.0f}" width="100%" '
        f'style="max-width:{width}px" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]


def _close(parts: list[str]) -> Markup:
    # Every text and attribute value in the parts went through escape() as it was written.
    return Markup("".join(parts) + "</svg>")  # noqa: S704


def _text_lines(x: float, y: float, text: str, cls: str, anchor: str, width: int) -> str:
    """SVG text wrapped to `width` characters a line, centred on `y`."""
    lines = textwrap.wrap(text, width) or [""]
    top = y - (len(lines) - 1) * 8
    spans = "".join(
        f'<tspan x="{x:.1f}" y="{top + 16 * n:.1f}">{escape(line)}</tspan>'
        for n, line in enumerate(lines)
    )
    return f'<text text-anchor="{anchor}" class="{cls}">{spans}</text>'


def bar_chart(rows: Sequence[Row], colours: Sequence[str], title: str) -> Markup:
    """Horizontal bars, one per row: label on the left (wrapped), count and percent right."""
    label_w, bar_w, value_w = 250, 290, 120
    heights = [max(30, 16 * len(textwrap.wrap(row.label, LABEL_CHARS)) + 12) for row in rows]
    width = label_w + bar_w + value_w
    most = max((row.count for row in rows), default=0) or 1
    parts = _open(width, sum(heights) + 10, title)
    y = 5
    for row, colour, height in zip(rows, colours, heights, strict=True):
        middle = y + height / 2
        length = round(bar_w * row.count / most)
        percent = "" if row.percent is None else f" · {row.percent:.1f}%"
        parts += [
            _text_lines(label_w - 10, middle + 4, row.label, "label", "end", LABEL_CHARS),
            f'<rect x="{label_w}" y="{middle - 10:.1f}" width="{bar_w}" height="20" rx="3" '
            'fill="#eef1f4"/>',
            f'<rect x="{label_w}" y="{middle - 10:.1f}" '
            f'width="{max(length, 2 if row.count else 0)}" height="20" rx="3" fill="{colour}"/>',
            f'<text x="{label_w + bar_w + 8}" y="{middle + 5:.1f}" class="value">'
            f"{row.count:,}{escape(percent)}</text>",
        ]
        y += height
    return _close(parts)


def _ink_on(colour: str) -> str:
    """Dark text on a light segment, white (the class default) on a dark one."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    light = 0.299 * red + 0.587 * green + 0.114 * blue > 160
    return f' style="fill:{INK}"' if light else ""


def stacked_bar(rows: Sequence[Row], colours: Sequence[str], title: str) -> Markup:
    """One 100% bar split by the rows (rows without a percent are left out), with a legend."""
    shown = [(row, colour) for row, colour in zip(rows, colours, strict=True) if row.percent]
    width, bar_h = 660, 34
    legend_y = bar_h + 26
    parts = _open(width, legend_y + 26 * (len(rows) - 1) + 8, title)
    parts.append(f'<rect x="0" y="0" width="{width}" height="{bar_h}" rx="4" fill="#eef1f4"/>')
    x = 0.0
    for row, colour in shown:
        part = width * (row.percent or 0) / 100
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{part:.1f}" height="{bar_h}" fill="{colour}"/>'
        )
        if part > 48:
            parts.append(
                f'<text x="{x + part / 2:.1f}" y="{bar_h / 2 + 5:.1f}" text-anchor="middle" '
                f'class="inbar"{_ink_on(colour)}>{row.percent:.0f}%</text>'
            )
        x += part
    for index, (row, colour) in enumerate(zip(rows, colours, strict=True)):
        y = legend_y + index * 26
        percent = "" if row.percent is None else f" ({row.percent:.1f}%)"
        parts += [
            f'<rect x="0" y="{y - 12}" width="14" height="14" rx="2" fill="{colour}"/>',
            f'<text x="22" y="{y}" class="label-left">{escape(row.label)}: '
            f"{row.count:,}{escape(percent)}</text>",
        ]
    return _close(parts)


def funnel_chart(rows: Sequence[Row], title: str) -> Markup:
    """Stage labels on the left; centred bars narrowing from stage to stage, joined by
    trapezoids, each with its conversion from the stage above."""
    width, label_w, bar_h, gap = 660, 230, 44, 34
    area = width - label_w - 10
    centre = label_w + 10 + area / 2
    most = max((row.count for row in rows), default=0) or 1
    colours = ("#2f6f9f", "#e07b39", "#c0392b")
    parts = _open(width, len(rows) * bar_h + (len(rows) - 1) * gap + 4, title)
    previous: tuple[float, float, float] | None = None
    for index, row in enumerate(rows):
        y = 2 + index * (bar_h + gap)
        w = max(area * row.count / most, 56.0)
        x = centre - w / 2
        if previous is not None:
            px, pw, py = previous
            parts.append(
                f'<polygon points="{px:.1f},{py + bar_h:.1f} {px + pw:.1f},{py + bar_h:.1f} '
                f'{x + w:.1f},{y:.1f} {x:.1f},{y:.1f}" fill="#dfe6ec"/>'
            )
            if row.percent is not None:
                parts.append(
                    f'<text x="{centre:.1f}" y="{y - gap / 2 + 5:.1f}" text-anchor="middle" '
                    f'class="conv">{row.percent:.1f}% of the stage above</text>'
                )
        parts += [
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar_h}" rx="5" '
            f'fill="{colours[index % len(colours)]}"/>',
            f'<text x="{centre:.1f}" y="{y + bar_h / 2 + 6:.1f}" text-anchor="middle" '
            f'class="stage">{row.count:,}</text>',
            _text_lines(label_w, y + bar_h / 2 + 4, row.label, "label", "end", 28),
        ]
        previous = (x, w, y)
    return _close(parts)


def chart(figure: Figure) -> Markup:
    """The chart of a figure: bars for counts, a funnel for stages, a 100% bar for a ratio."""
    rows = figure.rows
    if figure.levels:
        colours = [LEVEL_COLOURS.get(figure.levels.get(r.key, 0), GREY) for r in rows]
        return bar_chart(rows, colours, figure.title)
    if figure.key in ("referrals_by_agency", "overrides_by_reason"):
        return bar_chart(rows, [NEUTRAL] * len(rows), figure.title)
    if figure.key == "contact_assessment_plan_funnel":
        return funnel_chart(rows, figure.title)
    if figure.key.endswith("_starts"):
        return bar_chart(rows, [NEUTRAL, "#5b8fb9"], figure.title)
    palette = _PALETTES.get(figure.key, ("#3f8f5e", "#d9a520", GREY))
    if figure.value is None and figure.denominator:
        palette = QUIET
    return stacked_bar(rows, palette[: len(rows)], figure.title)
