"""Pictures of a pathway graph: Graphviz dot and Mermaid text, svg and png drawn by `dot`.

Drawing is a function of a graph: `to_dot(graph, view=..., highlight=...)`, `to_mermaid(...)`,
`journey_dot(graph, steps)` and `render(dot_text, "svg" | "png")`. The views (`VIEWS`) each
answer one question; a journey is drawn as the path one child took.

- Levels are stacked rows, level 1 at the top, each named at its left; the entry and the routes
  with no level sit above them, services with no level and the exits below. The two labelled
  flows (`routes`, `exits`) run left to right instead: the rows become columns.
- Nodes are filled by level; their shape says their kind (house: entry, rounded: route, box:
  service, double ellipse: exit).
- Edge kinds differ by colour and line style (step-ups thick red, step-downs dashed green, age
  transitions dotted blue, forbidden moves dashed dark red ending in a bar), so the picture
  survives grey printing. A legend explains them instead of a label on every edge; each edge
  still carries its kind as an SVG class and its label and reference as a tooltip.
- An svg scales to its window (`width="100%"` with its `viewBox`); a png is sized for A4
  landscape at 150 dpi.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from collections.abc import Mapping, Sequence
from typing import Literal

from triage.errors import GraphvizMissing, UsageError
from triage.pathway._views import (
    FORBIDDEN,
    OFF_PATHWAY,
    VIEWS,
    JourneyStep,
    Line,
    Picture,
    View,
    journey_picture,
    plain,
    view_picture,
)
from triage.pathway.graph import PathwayGraph
from triage.pathway.model import Node

__all__ = [
    "FORMATS",
    "VIEWS",
    "Format",
    "JourneyStep",
    "View",
    "journey_dot",
    "journey_mermaid",
    "render",
    "to_dot",
    "to_mermaid",
]

Format = Literal["svg", "png"]
FORMATS: tuple[Format, ...] = ("svg", "png")
DOT_TIMEOUT_SECONDS = 120
PNG_DPI = 150
# A4 landscape less a 1 cm margin, in inches: dot shrinks a larger drawing to fit.
A4_LANDSCAPE = "10.9,7.5"

_LEVEL_FILLS = {1: "#e8f5e9", 2: "#fffde7", 3: "#fff3e0", 4: "#ffebee"}
_NO_LEVEL_FILL = "#ffffff"
_COLOURS = {
    "route": "#455a64",
    "step_up": "#c62828",
    "step_down": "#2e7d32",
    "transition": "#1565c0",
    "exit": "#9e9e9e",
    "redesign": "#6a1b9a",
    FORBIDDEN: "#b71c1c",
    OFF_PATHWAY: "#ef6c00",
}
_HIGHLIGHT = "#ef6c00"
_MEANINGS = {
    "route": "route: a decision, same level",
    "step_up": "step up: to a higher level",
    "step_down": "step down: where it is safe",
    "transition": "transition: at an age (18, 25)",
    "exit": "exit: the case closes or leaves",
    "redesign": "redesign: to a retired service's successor",
    FORBIDDEN: "forbidden: never allowed",
    OFF_PATHWAY: "override off the pathway",
}
# Line samples for the legend, drawn as text so the legend is one table.
_SAMPLES = {
    "route": "━━━━▶",
    "step_up": "━━━━▶",
    "step_down": "╍╍╍╍▶",
    "transition": "┈┈┈┈▶",
    "exit": "────▶",
    "redesign": "┅┅┅┅▶",
    FORBIDDEN: "╌╌╌╌┫",
    OFF_PATHWAY: "╍╍╍╍▶",
}
_SHAPES: dict[str, dict[str, str | float]] = {
    "entry": {"shape": "invhouse", "style": "filled"},
    "route": {"shape": "box", "style": "rounded,filled"},
    "service": {"shape": "box", "style": "filled"},
    "exit": {"shape": "ellipse", "style": "filled", "peripheries": 2},
    "retired": {"shape": "box", "style": "dashed,filled", "fontcolor": "#757575"},
}
_LINE_STYLES: dict[str, dict[str, str | float]] = {
    "route": {"penwidth": 1.2},
    "step_up": {"penwidth": 2.2},
    "step_down": {"style": "dashed", "penwidth": 2},
    "transition": {"style": "dotted", "penwidth": 2.4},
    "exit": {"penwidth": 1},
    "redesign": {"style": "bold,dashed", "penwidth": 2},
    FORBIDDEN: {"style": "dashed", "arrowhead": "tee", "penwidth": 1.6},
    OFF_PATHWAY: {"style": "dashed", "penwidth": 3},
}
_SHAPE_WORDS = {
    "entry": ("house", "the entry"),
    "route": ("rounded box", "a route (a Front Door decision)"),
    "service": ("box", "a service a child is open to"),
    "exit": ("double ellipse", "an exit"),
    "retired": ("dashed box", "a node a revision retired"),
}


def to_dot(
    graph: PathwayGraph,
    highlight: Sequence[str] = (),
    *,
    view: View = "whole",
    node: str | None = None,
) -> str:
    """A view of the pathway as a Graphviz digraph; see the module docstring for the styles."""
    return _dot(graph, view_picture(graph, view, node=node, highlight=highlight))


def journey_dot(graph: PathwayGraph, steps: Sequence[JourneyStep]) -> str:
    """A child's journey as a Graphviz digraph: the nodes visited, each move numbered and dated."""
    return _dot(graph, journey_picture(graph, steps))


def to_mermaid(
    graph: PathwayGraph,
    highlight: Sequence[str] = (),
    *,
    view: View = "whole",
    node: str | None = None,
) -> str:
    """A view of the pathway as a Mermaid flowchart (no legend: each edge says its kind)."""
    return _mermaid(view_picture(graph, view, node=node, highlight=highlight), graph.level_names)


def journey_mermaid(graph: PathwayGraph, steps: Sequence[JourneyStep]) -> str:
    """A child's journey as a Mermaid flowchart."""
    return _mermaid(journey_picture(graph, steps), graph.level_names)


# --- Graphviz dot ---------------------------------------------------------------------------


class _Lines(tuple[str, ...]):
    """Text drawn on several centred lines (dot's `\n` between them)."""


_DotValue = str | float | _Lines


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrapped(text: str, width: int = 22) -> _Lines:
    return _Lines(
        part for line in text.split("\n") for part in textwrap.wrap(line, width) or [line]
    )


def _value(value: _DotValue) -> str:
    if isinstance(value, _Lines):
        return '"' + "\\n".join(_quoted(part)[1:-1] for part in value) + '"'
    return _quoted(value) if isinstance(value, str) else str(value)


def _attrs(attrs: dict[str, _DotValue]) -> str:
    return ", ".join(f"{key}={_value(value)}" for key, value in attrs.items())


def _row(node: Node, level_names: Mapping[int, str]) -> tuple[int, _Lines]:
    """The row a node is drawn in, top to bottom, with the row's name."""
    if node.kind == "entry":
        return 0, _Lines(("Entry",))
    if node.level is not None:
        return node.level + 1, _Lines((f"Level {node.level}", level_names.get(node.level, "")))
    if node.kind == "route":
        return 1, _Lines(("No level:", "the case", "decides"))
    if node.kind == "exit":
        return 7, _Lines(("Exits",))
    return 6, _Lines(("No level:", "services"))


def _dot_node(node: Node, picture: Picture) -> str:
    attrs: dict[str, _DotValue] = {
        "label": _wrapped(node.label),
        "tooltip": f"{node.id} (ages {node.age_range})",
        "fillcolor": _NO_LEVEL_FILL if node.level is None else _LEVEL_FILLS[node.level],
        "id": f"node-{node.id}",
    }
    attrs |= _SHAPES[node.kind]
    if node.id in picture.focus:
        attrs |= {"color": _HIGHLIGHT, "penwidth": 3}
    return f"{_quoted(node.id)} [{_attrs(attrs)}];"


def _dot_line(line: Line, rows: dict[str, int], picture: Picture, merged: bool) -> str:
    attrs: dict[str, _DotValue] = {
        "class": line.kind,
        "color": _COLOURS[line.kind],
        "fontcolor": _COLOURS[line.kind],
        "tooltip": line.tooltip,
    }
    attrs |= _LINE_STYLES[line.kind]
    if line.text:
        attrs["label"] = _wrapped(line.text, 24)
    if merged and line.kind == "step_down":
        # Own ports keep a step-down apart from the step-up it undoes: `concentrate` would draw
        # the pair as one two-headed arrow in the step-up's colour.
        attrs |= {"tailport": "n", "headport": "s"}
    # An arrow that runs up the rows (a step-down, a forbidden move) must not rank the nodes, or
    # dot breaks the cycle by turning the rows over.
    if rows[line.target] <= rows[line.source] or line.kind in (FORBIDDEN, "step_down"):
        attrs["constraint"] = "false"
    if line.bold and not picture.journey:
        attrs |= {"color": _HIGHLIGHT, "penwidth": 4, "style": "bold"}
    elif picture.journey:
        attrs["penwidth"] = 3
    return f"{_quoted(line.source)} -> {_quoted(line.target)} [{_attrs(attrs)}];"


def _legend(picture: Picture, level_names: Mapping[int, str]) -> str:
    """One table: each kind of line drawn (left), the node shapes and level fills (right)."""
    kinds = [kind for kind in _COLOURS if any(line.kind == kind for line in picture.lines)]
    lines = [
        (f'<font color="{_COLOURS[kind]}">{_SAMPLES[kind]}</font>', _MEANINGS[kind])
        for kind in kinds
    ]
    if picture.journey:
        lines.append((f'<font color="{_HIGHLIGHT}">▢</font>', "where the journey starts and ends"))
    elif picture.focus:
        lines.append((f'<font color="{_HIGHLIGHT}">▢ ━━▶</font>', "the path or node asked about"))
    kinds_drawn = {node.kind.value for node in picture.nodes}
    nodes = [words for kind, words in _SHAPE_WORDS.items() if kind in kinds_drawn]
    levels = sorted({node.level for node in picture.nodes if node.level is not None})
    fills = [(level, f"Level {level}: {level_names.get(level, '')}") for level in levels]

    def column(rows: list[str]) -> str:
        return (
            '<table border="0" cellborder="0" cellspacing="1" cellpadding="2">'
            + "".join(rows)
            + "</table>"
        )

    left = column(
        [f'<tr><td align="left">{a}</td><td align="left">{b}</td></tr>' for a, b in lines]
    )
    right = column(
        [f'<tr><td align="left">{a}</td><td align="left">{b}</td></tr>' for a, b in nodes]
        + [
            f'<tr><td bgcolor="{_LEVEL_FILLS[level]}" border="1"> </td>'
            f'<td align="left">{b}</td></tr>'
            for level, b in fills
        ]
    )
    table = (
        '<table border="0" cellborder="0" cellspacing="4">'
        f'<tr><td colspan="2"><b>Legend</b></td></tr><tr><td valign="TOP">{left}</td>'
        f'<td valign="TOP">{right}</td></tr></table>'
    )
    attrs = 'shape=box, style="rounded", color="#9e9e9e", class="legend"'
    return f'  "legend" [{attrs}, label=<{table}>];'


def _dot(graph: PathwayGraph, picture: Picture) -> str:
    merged = picture.bundled
    level_names = graph.level_names
    rows = {node.id: _row(node, level_names)[0] for node in picture.nodes}
    names = {_row(node, level_names)[0]: _row(node, level_names)[1] for node in picture.nodes}
    graph_attrs: dict[str, _DotValue] = {
        "label": picture.title,
        "labelloc": "t",
        "fontname": "Helvetica",
        "fontsize": 18,
        "rankdir": "LR" if picture.across else "TB",
        "newrank": "true",
        "nodesep": 0.15,
        "ranksep": 0.55,
        # In the whole view, edges into one node share their last stretch, so a dozen arrows
        # into one exit become a trunk and the rows stay narrow enough for a page. Smaller
        # views keep every arrow apart: a label would lose its arrow.
        "concentrate": "true" if merged else "false",
        "class": "pathway journey" if picture.journey else "pathway",
    }
    lines = [
        f"digraph {_quoted(graph.id)} {{",
        f"  graph [{_attrs(graph_attrs)}];",
        '  node [fontname="Helvetica", fontsize=12, margin="0.12,0.06"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    # Row names in a column at the left, chained so that the rows keep their order.
    for number in sorted(names):
        label: dict[str, _DotValue] = {"label": names[number], "shape": "plaintext", "fontsize": 13}
        lines.append(f"  {_quoted(f'row:{number}')} [{_attrs(label)}];")
    order = [_quoted(f"row:{number}") for number in sorted(names)]
    if len(order) > 1:
        lines.append(f"  {' -> '.join(order)} [style=invis, weight=100];")
    for number in sorted(names):
        members = [node for node in picture.nodes if rows[node.id] == number]
        lines.append(f"  {{ rank=same; {_quoted(f'row:{number}')};")
        lines.extend(f"    {_dot_node(node, picture)}" for node in members)
        lines.append("  }")
    lines.extend(f"  {_dot_line(line, rows, picture, merged)}" for line in picture.lines)
    # The legend sits below the last row, at the left, out of the way of the arrows.
    lines.append(_legend(picture, level_names))
    if order and picture.across:
        # Left to right, the legend joins the first column, where arrows only leave, rather
        # than widening the page.
        lines.append(f'  {{ rank=same; {order[0]}; "legend"; }}')
    elif order:
        lines.append(f'  {order[-1]} -> "legend" [style=invis];')
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- Mermaid --------------------------------------------------------------------------------


def _mermaid_label(text: str) -> str:
    # Mermaid has no escape for a double quote inside a quoted label, only an entity.
    return '"' + text.replace('"', "#quot;") + '"'


_MERMAID_SHAPES = {
    "entry": (">", "]"),
    "route": ("(", ")"),
    "service": ("[", "]"),
    "exit": ("([", "])"),
    "retired": ("[/", "/]"),
}
# Thick arrows for step-ups and dotted ones for step-downs, so they differ without colour too.
_MERMAID_ARROWS = {"step_up": "==>", "step_down": "-.->", OFF_PATHWAY: "-.->"}
_MERMAID_WIDTHS = {"step_up": 3, "step_down": 2, "transition": 2, "highlight": 5}


def _mermaid(picture: Picture, level_names: Mapping[int, str]) -> str:
    lines = ["flowchart TB", f"  %% {picture.title}"]
    bands: dict[int | None, list[Node]] = {None: []}
    for node in sorted(picture.nodes, key=lambda n: n.level or 0):
        bands.setdefault(node.level, []).append(node)
    for level, members in bands.items():
        shapes = [
            f"{n.id}{_MERMAID_SHAPES[n.kind][0]}{_mermaid_label(n.label)}"
            f"{_MERMAID_SHAPES[n.kind][1]}"
            for n in members
        ]
        if level is None:
            lines.extend(f"  {shape}" for shape in shapes)
            continue
        name = _mermaid_label(f"Level {level}: {level_names.get(level, '')}")
        lines.append(f"  subgraph band_level_{level}[{name}]")
        lines.extend(f"    {shape}" for shape in shapes)
        lines.append("  end")
    # Mermaid styles links by their position in the text, so collect positions per style.
    styled: dict[str, list[int]] = {}
    for position, line in enumerate(picture.lines):
        words = line.text if picture.journey and line.text else plain(line.kind)
        if line.kind == FORBIDDEN:
            lines.append(f"  {line.source} --x|forbidden| {line.target}")
        else:
            arrow = _MERMAID_ARROWS.get(line.kind, "-->")
            lines.append(f"  {line.source} {arrow}|{_mermaid_label(words)}| {line.target}")
        style = "highlight" if line.bold and not picture.journey else line.kind
        styled.setdefault(style, []).append(position)
    for style, positions in styled.items():
        colour = _HIGHLIGHT if style == "highlight" else _COLOURS[style]
        dashes = ",stroke-dasharray:5 5" if style == FORBIDDEN else ""
        lines.append(
            f"  linkStyle {','.join(map(str, positions))} "
            f"stroke:{colour},stroke-width:{_MERMAID_WIDTHS.get(style, 1)}px{dashes}"
        )
    lines.extend(
        f"  style band_level_{level} fill:{_LEVEL_FILLS[level]}"
        for level in bands
        if level is not None
    )
    if picture.focus:
        lines.append(f"  classDef highlight stroke:{_HIGHLIGHT},stroke-width:4px")
        lines.append(f"  class {','.join(sorted(picture.focus))} highlight")
    return "\n".join(lines) + "\n"


# --- Graphviz dot program -------------------------------------------------------------------

_SVG_SIZE = re.compile(rb'<svg width="[0-9.]+pt" height="[0-9.]+pt"')


def render(dot_text: str, fmt: Format) -> bytes:
    """Run the Graphviz `dot` program on `dot_text`; svg or png bytes.

    The svg is made to scale to its window; the png is drawn at 150 dpi. Raises
    `GraphvizMissing` when `dot` is not on PATH, cannot run, or cannot draw the format.
    """
    if fmt not in FORMATS:
        raise UsageError(f"cannot render {fmt!r}; valid values: {', '.join(FORMATS)}")
    program = shutil.which("dot")
    if program is None:
        raise GraphvizMissing(fmt, "the Graphviz `dot` program is not on PATH")
    # A png is a page: A4 landscape at 150 dpi (dot only shrinks a drawing to fit).
    options = [f"-T{fmt}"] + (
        [f"-Gdpi={PNG_DPI}", f"-Gsize={A4_LANDSCAPE}"] if fmt == "png" else []
    )
    try:
        result = subprocess.run(
            [program, *options],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=DOT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GraphvizMissing(fmt, f"`{program}` could not run: {error}") from None
    if result.returncode != 0 or not result.stdout:
        said = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphvizMissing(
            fmt,
            f"`dot -T{fmt}` failed with exit status {result.returncode}"
            + (f" ({said[0]})" if said else ""),
        )
    if fmt == "svg":
        # dot writes the drawing's size in points, so a browser shows it at print size and a
        # wide pathway runs off the window; the viewBox alone lets it scale to fit.
        return _SVG_SIZE.sub(b'<svg width="100%" height="100%"', result.stdout, count=1)
    return result.stdout
