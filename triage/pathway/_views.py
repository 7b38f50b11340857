"""What each picture of a pathway shows: the nodes and lines chosen for one question.

A view is a question a reader asks of the pathway (see `VIEWS`); a journey is the moves one
child made. Each becomes a `Picture` (nodes, lines, nodes in focus) that `drawing` writes as dot
or Mermaid. Every choice is made from the graph's structure (kinds, levels, the entry), never
from a council's node ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Literal, Protocol

from triage.errors import UsageError
from triage.pathway.graph import PathwayGraph
from triage.pathway.model import Edge, EdgeKind, ForbiddenEdge, Node, NodeKind

View = Literal["whole", "routes", "ladder", "exits", "service"]
VIEWS: dict[View, str] = {
    "whole": "the whole pathway",
    "routes": "where the entry sends a referral",
    "ladder": "how cases step up and down between the levels",
    "exits": "moves made at an age, and how cases close",
    "service": "one node: what leads in, and where it can go",
}
# Line kinds beyond the edge kinds: a forbidden move, and a journey's override that left the edges.
FORBIDDEN = "forbidden"
OFF_PATHWAY = "off_pathway"


class JourneyStep(Protocol):
    """One decided move of a journey (a `triage.journey.TransitionDecision` is one)."""

    @property
    def from_service(self) -> str: ...
    @property
    def to_service(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def decided_at(self) -> datetime: ...
    @property
    def decided_by(self) -> str: ...
    @property
    def overridden(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Line:
    """One arrow of a picture."""

    source: str
    target: str
    kind: str  # an EdgeKind value, FORBIDDEN or OFF_PATHWAY
    text: str | None  # the words drawn beside it; None draws it by style alone
    tooltip: str
    bold: bool = False  # on the highlighted path


@dataclass(frozen=True, slots=True)
class Picture:
    title: str
    nodes: tuple[Node, ...]
    lines: tuple[Line, ...]
    focus: frozenset[str] = field(default_factory=frozenset)  # nodes outlined in orange
    journey: bool = False
    across: bool = False  # rows become columns, left to right: labelled flows read better
    bundled: bool = False  # arrows into one node share their last stretch (the whole view)


def plain(kind: str) -> str:
    """A kind in words: `step_down` is drawn as "step down"."""
    return kind.replace("_", " ")


def _tooltip(edge: Edge) -> str:
    parts = (str(edge), plain(edge.kind), edge.label, edge.guard and f"rule {edge.guard}")
    return "; ".join(part for part in (*parts, edge.reference) if part)


def highlighted(graph: PathwayGraph, path: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Check a highlighted path: every id a node, every consecutive pair an edge."""
    for node_id in path:
        graph.node(node_id)  # raises UsageError naming the valid ids
    pairs = tuple(pairwise(path))
    for source, target in pairs:
        if graph.edge(source, target) is None:
            raise UsageError(
                f"cannot highlight {source} -> {target}: it is not an edge of pathway {graph.id}"
            )
    return pairs


def _chosen(graph: PathwayGraph, view: View, node: str | None) -> tuple[list[Edge], bool]:
    """The edges a view shows, and whether their `label`s are drawn."""
    edges = graph.edges
    if view == "whole":
        return list(edges), False
    if view == "routes":
        # The entry's decisions, and those of the routes with no level it hands on to (a
        # manager's review, an open case's worker), which decide the level themselves.
        deciders = {graph.entry} | {
            e.target
            for e in graph.next_steps(graph.entry)
            if graph.node(e.target).level is None and graph.node(e.target).kind is NodeKind.ROUTE
        }
        return [e for e in edges if e.source in deciders and e.kind is EdgeKind.ROUTE], True
    if view == "ladder":
        ladder = {EdgeKind.STEP_UP, EdgeKind.STEP_DOWN}
        return [e for e in edges if e.kind in ladder], False
    if view == "exits":
        return [e for e in edges if e.kind in {EdgeKind.TRANSITION, EdgeKind.EXIT}], True
    if node is None:
        raise UsageError("the service view needs a node: give --node NODE")
    graph.node(node)
    return [e for e in edges if node in (e.source, e.target)], True


def view_picture(
    graph: PathwayGraph,
    view: View = "whole",
    *,
    node: str | None = None,
    highlight: Sequence[str] = (),
) -> Picture:
    """The picture answering one of `VIEWS`; `highlight` is a path drawn bold in orange."""
    if view not in VIEWS:
        raise UsageError(f"no view {view!r}; valid values: {', '.join(VIEWS)}")
    pairs = set(highlighted(graph, tuple(highlight)))
    edges, labelled = _chosen(graph, view, node)
    shown = {(e.source, e.target) for e in edges}
    # A highlighted path is drawn whole, even where it leaves the view.
    edges += [e for e in graph.edges if (e.source, e.target) in pairs - shown]
    # A label that repeats among one node's moves ("manager decides") says nothing per arrow.
    repeats = Counter((e.source, e.label) for e in edges)
    lines = [
        Line(
            e.source,
            e.target,
            e.kind.value,
            e.label if labelled and repeats[(e.source, e.label)] == 1 else None,
            _tooltip(e),
            (e.source, e.target) in pairs,
        )
        for e in edges
    ]
    ends = {end for e in edges for end in (e.source, e.target)} | set(highlight)
    if node is not None and view == "service":
        ends.add(node)
    lines += [
        Line(f.source, f.target, FORBIDDEN, "forbidden" if labelled else None, _forbidden_tip(f))
        for f in graph.forbidden
        if view == "whole"
        or (view == "service" and node in (f.source, f.target))
        or (f.source in ends and f.target in ends)
    ]
    ends |= {end for line in lines for end in (line.source, line.target)}
    title = f"{graph.title} ({graph.id} {graph.version})"
    if view == "service" and node is not None:
        title = f"{graph.node(node).label}: what leads in, and where it can go ({graph.id})"
    elif view != "whole":
        title = f"{graph.title}: {VIEWS[view]} ({graph.id} {graph.version})"
    focus = frozenset(highlight) | ({node} if view == "service" and node else set())
    across = view in ("routes", "exits")
    return Picture(
        title,
        _in_file_order(graph, ends),
        tuple(lines),
        frozenset(focus),
        across=across,
        bundled=view == "whole",
    )


def _forbidden_tip(forbidden: ForbiddenEdge) -> str:
    return f"{forbidden}: forbidden; {forbidden.reason}; {forbidden.reference}"


def _in_file_order(graph: PathwayGraph, ids: Iterable[str]) -> tuple[Node, ...]:
    wanted = set(ids)
    return tuple(node for node in graph.nodes if node.id in wanted)


def journey_picture(graph: PathwayGraph, steps: Sequence[JourneyStep]) -> Picture:
    """A child's journey drawn as the path it took: each move numbered, dated, who decided.

    A move the pathway has no edge for (an override may take one) is drawn as `off_pathway`;
    decisions to stay are not moves and are left out.
    """
    if not steps:
        raise UsageError("the journey has no events for that child")
    lines: list[Line] = []
    for step in steps:
        graph.node(step.from_service)
        graph.node(step.to_service)
        if step.from_service == step.to_service:
            continue
        edge = graph.edge(step.from_service, step.to_service)
        kind = edge.kind.value if edge is not None else OFF_PATHWAY
        who = "the rules" if step.decided_by == "rules" else step.decided_by
        how = f"override by {who}" if step.overridden else f"by {who}"
        text = f"{len(lines) + 1}. {step.decided_at.date().isoformat()}\n{plain(step.kind)}, {how}"
        tip = text.replace("\n", " ")
        lines.append(Line(step.from_service, step.to_service, kind, text, tip, bold=True))
    visited = [steps[0].from_service] + [line.target for line in lines]
    moves = f"{len(lines)} move{'' if len(lines) == 1 else 's'}"
    dates = f"{steps[0].decided_at.date()} to {steps[-1].decided_at.date()}"
    title = f"A child's journey on pathway {graph.id} {graph.version}: {moves}, {dates}"
    focus = frozenset({visited[0], visited[-1]})
    return Picture(title, _in_file_order(graph, visited), tuple(lines), focus, journey=True)
