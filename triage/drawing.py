"""Pictures of a pathway: Mermaid and Graphviz dot text, and svg or png drawn by Graphviz `dot`.

Levels are bands (dot clusters, Mermaid subgraphs); nodes off the continuum sit outside them.
In dot the bands are rows, level 1 at the top, the entry above them and the exits below.
Every edge is labelled with its kind; step-ups are thick and red, step-downs dashed and green,
age transitions dotted and blue; forbidden edges are drawn dashed with a bar for an arrowhead
and labelled `forbidden`. A highlighted path (node ids in order, each pair an edge of the
pathway, e.g. a child's journey) is drawn bold in orange.

Kinds are read as strings, so this module needs nothing from `triage.pathway` at run time.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

from triage._base import LEVEL_NAMES
from triage.errors import GraphvizMissing, UsageError

if TYPE_CHECKING:
    from triage.pathway import Edge, Node, PathwayGraph

Format = Literal["svg", "png"]
FORMATS: tuple[Format, ...] = ("svg", "png")

_BAND_COLOURS = {1: "#e8f5e9", 2: "#fffde7", 3: "#fff3e0", 4: "#ffebee"}
_EDGE_COLOURS = {
    "route": "#37474f",
    "step_up": "#c62828",
    "step_down": "#2e7d32",
    "transition": "#1565c0",
    "exit": "#757575",
    "forbidden": "#b71c1c",
}
_HIGHLIGHT = "#ef6c00"
DOT_TIMEOUT_SECONDS = 120


@dataclass(frozen=True, slots=True)
class _Highlight:
    nodes: frozenset[str]
    pairs: frozenset[tuple[str, str]]


def _highlight(graph: PathwayGraph, path: Sequence[str]) -> _Highlight:
    """Check a highlighted path: every id a node, every consecutive pair an edge."""
    ids = tuple(path)
    for node_id in ids:
        graph.node(node_id)  # raises UsageError naming the valid ids
    pairs = tuple(pairwise(ids))
    for source, target in pairs:
        if graph.edge(source, target) is None:
            raise UsageError(
                f"cannot highlight {source} -> {target}: it is not an edge of pathway {graph.id}"
            )
    return _Highlight(frozenset(ids), frozenset(pairs))


def _bands(graph: PathwayGraph) -> dict[int | None, list[Node]]:
    """Nodes grouped by level in file order; None (off the continuum) first, then levels 1-4."""
    bands: dict[int | None, list[Node]] = {None: []}
    for level in sorted({node.level for node in graph.nodes if node.level is not None}):
        bands[level] = []
    for node in graph.nodes:
        bands[node.level].append(node)
    return bands


def _band_label(level: int) -> str:
    return f"Level {level}: {LEVEL_NAMES[level]}"


def _title(graph: PathwayGraph) -> str:
    return f"{graph.title} ({graph.id} {graph.version})"


# --- Graphviz dot ---------------------------------------------------------------------------

DotValue = str | float


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _attrs(attrs: dict[str, DotValue]) -> str:
    return ", ".join(
        f"{key}={_quoted(value) if isinstance(value, str) else value}"
        for key, value in attrs.items()
    )


_DOT_SHAPES: dict[str, dict[str, DotValue]] = {
    "entry": {"shape": "invhouse", "style": "filled", "fillcolor": "#e3f2fd"},
    "route": {"shape": "box", "style": "rounded,filled", "fillcolor": "white"},
    "service": {"shape": "box", "style": "filled", "fillcolor": "white"},
    "exit": {"shape": "ellipse", "style": "filled", "fillcolor": "#eceff1", "peripheries": 2},
}
_DOT_EDGE_STYLES: dict[str, dict[str, DotValue]] = {
    "step_up": {"penwidth": 2},
    # Step-downs run against the bands; letting them rank nodes makes cycles that dot breaks by
    # reversing the band order, so only the other edges decide the layout.
    "step_down": {"style": "dashed", "penwidth": 2, "constraint": "false"},
    "transition": {"style": "dotted", "penwidth": 2},
}


def _dot_node(node: Node, highlight: _Highlight) -> str:
    attrs: dict[str, DotValue] = {"label": node.label, "tooltip": f"{node.id} ({node.age_range})"}
    attrs |= _DOT_SHAPES[node.kind]
    if node.id in highlight.nodes:
        attrs |= {"color": _HIGHLIGHT, "penwidth": 3}
    return f"{_quoted(node.id)} [{_attrs(attrs)}];"


def _dot_edge(edge: Edge, highlight: _Highlight) -> str:
    kind = edge.kind.value
    tooltip = "; ".join(
        part
        for part in (str(edge), kind, edge.label, edge.guard and f"guard: {edge.guard}")
        if part
    )
    # The kind is both the visible label and the `class` attribute (an SVG class in the output).
    attrs: dict[str, DotValue] = {
        "label": kind,
        "class": kind,
        "color": _EDGE_COLOURS[kind],
        "fontcolor": _EDGE_COLOURS[kind],
        "tooltip": tooltip,
    }
    attrs |= _DOT_EDGE_STYLES.get(kind, {})
    if (edge.source, edge.target) in highlight.pairs:
        attrs |= {"color": _HIGHLIGHT, "penwidth": 4, "style": "bold"}
    return f"{_quoted(edge.source)} -> {_quoted(edge.target)} [{_attrs(attrs)}];"


def to_dot(graph: PathwayGraph, highlight: Sequence[str] = ()) -> str:
    """The pathway as a Graphviz digraph; see the module docstring for the styles."""
    marked = _highlight(graph, highlight)
    lines = [
        f"digraph {_quoted(graph.id)} {{",
        f"  graph [{_attrs({'label': _title(graph), 'labelloc': 't', 'fontname': 'Helvetica'})}];",
        "  graph [rankdir=TB, newrank=true, nodesep=0.3, ranksep=0.5];",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    bands = _bands(graph)
    for level, members in bands.items():
        if level is None:
            lines.extend(f"  {_dot_node(node, marked)}" for node in members)
            continue
        band: dict[str, DotValue] = {
            "label": _band_label(level),
            "style": "filled",
            "color": _BAND_COLOURS[level],
        }
        lines.append(f"  subgraph {_quoted(f'cluster_level_{level}')} {{")
        lines.append(f"    graph [{_attrs(band)}];")
        # One row per band, held in level order by an invisible anchor per band (a name no
        # snake_case node id can take) chained below.
        lines.append(f"    rank=same; {_quoted(f'band:{level}')} [style=invis, shape=point];")
        lines.extend(f"    {_dot_node(node, marked)}" for node in members)
        lines.append("  }")
    anchors = [_quoted(f"band:{level}") for level in bands if level is not None]
    if len(anchors) > 1:
        lines.append(f"  {' -> '.join(anchors)} [style=invis];")
    entries = [_quoted(node.id) for node in graph.nodes if node.kind == "entry"]
    exits = [_quoted(node.id) for node in graph.nodes if node.kind == "exit"]
    lines.append(f"  {{ rank=min; {' '.join(entries)} }}")
    if exits:
        lines.append(f"  {{ rank=max; {' '.join(exits)} }}")
    lines.extend(f"  {_dot_edge(edge, marked)}" for edge in graph.edges)
    for forbidden in graph.forbidden:
        attrs: dict[str, DotValue] = {
            "label": "forbidden",
            "class": "forbidden",
            "color": _EDGE_COLOURS["forbidden"],
            "fontcolor": _EDGE_COLOURS["forbidden"],
            "style": "dashed",
            "arrowhead": "tee",
            # A move that never happens must not pull the layout around.
            "constraint": "false",
            "tooltip": f"{forbidden}: forbidden; {forbidden.reason}",
        }
        lines.append(
            f"  {_quoted(forbidden.source)} -> {_quoted(forbidden.target)} [{_attrs(attrs)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- Mermaid --------------------------------------------------------------------------------


def _mermaid_label(text: str) -> str:
    # Mermaid has no escape for a double quote inside a quoted label, only an entity.
    return '"' + text.replace('"', "#quot;") + '"'


_MERMAID_SHAPES: dict[str, Callable[[str], str]] = {
    "entry": lambda label: f">{label}]",
    "route": lambda label: f"({label})",
    "service": lambda label: f"[{label}]",
    "exit": lambda label: f"([{label}])",
}
# Thick arrows for step-ups and dotted ones for step-downs, so they differ without colour too.
_MERMAID_ARROWS = {"step_up": "==>", "step_down": "-.->"}
_MERMAID_WIDTHS = {"step_up": 3, "step_down": 2, "transition": 2, "highlight": 5}


def to_mermaid(graph: PathwayGraph, highlight: Sequence[str] = ()) -> str:
    """The pathway as a Mermaid flowchart; see the module docstring for the styles."""
    marked = _highlight(graph, highlight)
    lines = ["flowchart TB", f"  %% {_title(graph)}"]
    for level, members in _bands(graph).items():
        shapes = [
            f"{node.id}{_MERMAID_SHAPES[node.kind](_mermaid_label(node.label))}" for node in members
        ]
        if level is None:
            lines.extend(f"  {shape}" for shape in shapes)
            continue
        lines.append(f"  subgraph band_level_{level}[{_mermaid_label(_band_label(level))}]")
        lines.extend(f"    {shape}" for shape in shapes)
        lines.append("  end")
    # Mermaid styles links by their position in the text, so collect positions per style.
    styled: dict[str, list[int]] = {}
    for position, edge in enumerate(graph.edges):
        kind = edge.kind.value
        arrow = _MERMAID_ARROWS.get(kind, "-->")
        lines.append(f"  {edge.source} {arrow}|{kind}| {edge.target}")
        style = "highlight" if (edge.source, edge.target) in marked.pairs else kind
        styled.setdefault(style, []).append(position)
    for position, forbidden in enumerate(graph.forbidden, start=len(graph.edges)):
        lines.append(f"  {forbidden.source} --x|forbidden| {forbidden.target}")
        styled.setdefault("forbidden", []).append(position)
    for style, positions in styled.items():
        colour = _HIGHLIGHT if style == "highlight" else _EDGE_COLOURS[style]
        dashes = ",stroke-dasharray:5 5" if style == "forbidden" else ""
        lines.append(
            f"  linkStyle {','.join(map(str, positions))} "
            f"stroke:{colour},stroke-width:{_MERMAID_WIDTHS.get(style, 1)}px{dashes}"
        )
    lines.extend(
        f"  style band_level_{level} fill:{_BAND_COLOURS[level]}"
        for level in _bands(graph)
        if level is not None
    )
    if marked.nodes:
        lines.append(f"  classDef highlight stroke:{_HIGHLIGHT},stroke-width:4px")
        lines.append(f"  class {','.join(sorted(marked.nodes))} highlight")
    return "\n".join(lines) + "\n"


# --- Graphviz dot program -------------------------------------------------------------------


def render(dot_text: str, fmt: Format) -> bytes:
    """Run the Graphviz `dot` program on `dot_text`; svg or png bytes.

    Raises `GraphvizMissing` when `dot` is not on PATH, cannot run, or cannot draw the format.
    """
    if fmt not in FORMATS:
        raise UsageError(f"cannot render {fmt!r}; valid values: {', '.join(FORMATS)}")
    program = shutil.which("dot")
    if program is None:
        raise GraphvizMissing(fmt, "the Graphviz `dot` program is not on PATH")
    try:
        result = subprocess.run(
            [program, f"-T{fmt}"],
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
    return result.stdout
