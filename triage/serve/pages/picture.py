"""The part of the pathway around a child's route, for the decision page: the route, what leads
in and where it can go (the pathway's `service` view, the entry's arrow to it drawn bold),
drawn by Graphviz `dot` as an SVG inlined in the page, with the drawing's legend, and the same
moves as a list for a reader who cannot see the picture.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from triage.errors import GraphvizMissing, UsageError
from triage.pathway import PathwayGraph
from triage.pathway.drawing import render, to_dot


@dataclass(frozen=True)
class Move:
    node: str  # the other end's label
    kind: str  # the edge kind, in words


@dataclass(frozen=True)
class RoutePicture:
    route: str
    label: str
    svg: Markup | None  # None when Graphviz cannot draw: `problem` says why
    problem: str | None = None
    leads_in: tuple[Move, ...] = field(default=())
    goes_to: tuple[Move, ...] = field(default=())


def _inline(svg: bytes, title: str) -> Markup:
    """dot's SVG as an element of the page: no XML prolog, a role and a name for screen
    readers. dot escapes the labels it writes; the pathway's own labels are its data."""
    text = svg.decode("utf-8")
    text = text[text.index("<svg") :]
    named = f'<svg role="img" aria-label="{escape(title)}" class="pathway"'
    return Markup(named + text.removeprefix("<svg"))  # noqa: S704 (dot's output, escaped by dot)


def draw_around(pathway: PathwayGraph, route: str) -> RoutePicture | None:
    """The picture around `route`, or None when the route is not a node of the pathway."""
    try:
        node = pathway.node(route)
    except UsageError:
        return None
    entry = pathway.entry
    highlight = (entry, route) if pathway.edge(entry, route) is not None else ()
    moves_in = tuple(
        Move(pathway.node(e.source).label, e.kind.value.replace("_", " "))
        for e in pathway.edges
        if e.target == route
    )
    moves_out = tuple(
        Move(pathway.node(e.target).label, e.kind.value.replace("_", " "))
        for e in pathway.next_steps(route)
    )
    title = f"The pathway around {node.label}: what leads in, and where it can go"
    try:
        svg = render(to_dot(pathway, highlight, view="service", node=route), "svg")
    except GraphvizMissing as missing:
        return RoutePicture(route, node.label, None, missing.message, moves_in, moves_out)
    return RoutePicture(route, node.label, _inline(svg, title), None, moves_in, moves_out)


class Pictures:
    """Each route's picture, drawn once (dot is a subprocess) for the life of the server."""

    def __init__(self) -> None:
        self._drawn: dict[tuple[str, str], RoutePicture | None] = {}
        self._lock = threading.Lock()

    def around(self, pathway: PathwayGraph, route: str) -> RoutePicture | None:
        key = (pathway.fingerprint, route)
        with self._lock:
            if key not in self._drawn:
                self._drawn[key] = draw_around(pathway, route)
            return self._drawn[key]
