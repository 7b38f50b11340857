"""The load-time checks of a shape-valid pathway, and how each problem found is reported.

`Checker(definition, rulebook).problems()` lists every problem at once; `PathwayGraph` turns
them into `Problem`s with file, line, field path and the node or edge concerned. What is
checked is listed in docs/pathways.md ("What is checked when a pathway loads").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from triage.errors import Problem
from triage.loader import YamlDocument
from triage.pathway.model import Edge, EdgeKind, Node, NodeKind, Pathway
from triage.referral import field_path
from triage.rulebook import Rulebook


@dataclass(frozen=True, slots=True)
class Found:
    """One problem before it is given a file and line."""

    loc: tuple[str | int, ...]
    message: str
    value: str | None = None
    valid: tuple[str, ...] = ()
    subject: str | None = None


def short(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _subject(loc: tuple[str | int, ...], data: Any) -> str | None:
    """`node X`, `edge A -> B` or `forbidden edge A -> B` for a location inside one item."""
    if len(loc) < 2 or not isinstance(loc[1], int) or not isinstance(data, dict):
        return None
    items = data.get(loc[0])
    if not isinstance(items, list) or loc[1] >= len(items) or not isinstance(items[loc[1]], dict):
        return None
    item = items[loc[1]]
    if loc[0] == "nodes" and isinstance(item.get("id"), str):
        return f"node {item['id']}"
    ends = item.get("from"), item.get("to")
    if loc[0] in ("edges", "forbidden") and all(isinstance(end, str) for end in ends):
        prefix = "edge" if loc[0] == "edges" else "forbidden edge"
        return f"{prefix} {ends[0]} -> {ends[1]}"
    return None


def problem(found: Found, data: Any, document: YamlDocument | None) -> Problem:
    return Problem(
        location=field_path(found.loc),
        message=found.message,
        value=found.value,
        valid=found.valid,
        file=None if document is None else str(document.file),
        line=None if document is None else document.line(found.loc),
        subject=found.subject or _subject(found.loc, data),
    )


class Checker:
    """The load-time checks of a shape-valid pathway; `problems()` lists every one found."""

    def __init__(self, definition: Pathway, rulebook: Rulebook | None) -> None:
        self.definition = definition
        self.rulebook = rulebook
        self.index: dict[str, int] = {}  # node id -> position of its first declaration
        for position, node in enumerate(definition.nodes):
            self.index.setdefault(node.id, position)
        self.ids = tuple(sorted(self.index))
        # Ground nodes come from the file (`ground: true`): no council's ids live in the code.
        self.ground = frozenset(
            node.id
            for position, node in enumerate(definition.nodes)
            if node.ground and self.index[node.id] == position
        )
        self.ground_names = ", ".join(sorted(self.ground, key=self.index.__getitem__))
        self.found: list[Found] = []
        self.graph: nx.DiGraph[str] = nx.DiGraph()
        self.kept: list[Edge] = []  # edges whose ends are nodes, first of each pair

    def node(self, node_id: str) -> Node:
        return self.definition.nodes[self.index[node_id]]

    def add(
        self,
        loc: tuple[str | int, ...],
        message: str,
        value: str | None = None,
        valid: tuple[str, ...] = (),
        subject: str | None = None,
    ) -> None:
        self.found.append(Found(loc, message, value, valid, subject))

    def problems(self) -> list[Found]:
        for check in (
            self._nodes,
            self._edges,
            self._forbidden,
            self._rulebook,
            self._retired,
            self._reachable,
            self._way_down,
            self._step_down_walks,
        ):
            check()
        return self.found

    def _nodes(self) -> None:
        for position, node in enumerate(self.definition.nodes):
            if self.index[node.id] != position:
                self.add(("nodes", position, "id"), "repeats an earlier node id", node.id)
            else:
                self.graph.add_node(node.id)
        entries = [i for i, node in enumerate(self.definition.nodes) if node.kind is NodeKind.ENTRY]
        if not entries:
            self.add(("nodes",), "has no node of kind entry; a pathway needs exactly one")
        for position in entries[1:]:
            first = self.definition.nodes[entries[0]].id
            self.add(
                ("nodes", position, "kind"),
                f"is a second entry node (the first is {first}); a pathway needs exactly one",
            )
        if not self.ground:
            self.add(
                ("nodes",),
                "has no node marked `ground: true`; every walk of step-downs must end at one "
                "(the universal level, or the case closed)",
            )

    def _edges(self) -> None:
        seen: dict[tuple[str, str], int] = {}
        rules = () if self.rulebook is None else tuple(sorted(self.rulebook.rule_by_id))
        for position, edge in enumerate(self.definition.edges):
            at: tuple[str | int, ...] = ("edges", position)
            known = True
            for field, end in (("from", edge.source), ("to", edge.target)):
                if end not in self.index:
                    self.add((*at, field), "is not a node", end, self.ids)
                    known = False
            if self.rulebook is not None and edge.guard is not None and edge.guard not in rules:
                self.add(
                    (*at, "guard"), f"is not a rule of rulebook {self.rulebook.id}", edge.guard
                )
            if edge.source == edge.target:
                self.add(at, "joins a node to itself")
                continue
            pair = (edge.source, edge.target)
            if pair in seen:
                self.add(at, f"repeats edges[{seen[pair]}]; one edge per pair of nodes")
                continue
            seen[pair] = position
            if not known:
                continue
            self.graph.add_edge(*pair)
            self.kept.append(edge)
            self._edge_levels_and_ages(at, edge)

    def _edge_levels_and_ages(self, at: tuple[str | int, ...], edge: Edge) -> None:
        source, target = self.node(edge.source), self.node(edge.target)
        if source.level is not None and target.level is not None:
            if edge.kind is EdgeKind.STEP_UP and target.level < source.level:
                self.add(
                    (*at, "kind"),
                    f"is step_up but goes down a level ({source.level} -> {target.level})",
                )
            if edge.kind is EdgeKind.STEP_DOWN and target.level > source.level:
                self.add(
                    (*at, "kind"),
                    f"is step_down but goes up a level ({source.level} -> {target.level})",
                )
        if edge.kind is EdgeKind.REDESIGN:
            self._redesign(at, source, target)
        if edge.kind is EdgeKind.TRANSITION and not target.age_range.follows_on(source.age_range):
            self.add(
                at,
                f"is a transition between age ranges that neither overlap nor follow on "
                f"({source.id} {source.age_range}, {target.id} {target.age_range})",
            )

    def _redesign(self, at: tuple[str | int, ...], source: Node, target: Node) -> None:
        """A redesign moves every child of a retired node to its successor: at the same level
        (never lower, never higher by accident) and serving every age the node served."""
        if source.kind is not NodeKind.RETIRED or target.kind is NodeKind.RETIRED:
            self.add(at, "is a redesign edge, which goes from a retired node to one in service")
        if source.level != target.level:
            self.add(
                (*at, "to"),
                f"is a redesign to another level ({source.level} -> {target.level}); a "
                "successor sits at its retired node's level",
            )
        if not target.age_range.covers(source.age_range):
            self.add(
                (*at, "to"),
                f"serves ages {target.age_range}, not every age of the retired node "
                f"{source.id} ({source.age_range})",
            )

    def _retired(self) -> None:
        """A retired node has one way out, its redesign edge to its successor, and no way in."""
        book = self.rulebook
        for position, node in enumerate(self.definition.nodes):
            if node.kind is not NodeKind.RETIRED or self.index[node.id] != position:
                continue
            out = [e for e in self.kept if e.source == node.id]
            if len(out) != 1 or out[0].kind is not EdgeKind.REDESIGN:
                has = ", ".join(f"{e.target} ({e.kind})" for e in out) or "none"
                self.add(
                    ("nodes", position),
                    "is retired, so it needs exactly one edge out, a redesign edge to its "
                    f"successor (it has {has})",
                )
            if any(e.target == node.id for e in self.kept):
                self.add(("nodes", position), "is retired, so no edge may lead to it")
            if book is not None and (node.id in book.route_ids or node.id in book.service_by_id):
                self.add(
                    ("nodes", position, "kind"),
                    f"is retired, but rulebook {book.id} still has a route or service {node.id}",
                )

    def _forbidden(self) -> None:
        edges = {(e.source, e.target): i for i, e in enumerate(self.definition.edges)}
        for position, forbidden in enumerate(self.definition.forbidden):
            for field, end in (("from", forbidden.source), ("to", forbidden.target)):
                if end not in self.index:
                    self.add(("forbidden", position, field), "is not a node", end, self.ids)
            pair = (forbidden.source, forbidden.target)
            if pair in edges:
                self.add(
                    ("edges", edges[pair]),
                    f"is forbidden (forbidden[{position}]): {forbidden.reason}",
                )

    def _rulebook(self) -> None:
        if self.rulebook is None:
            return
        book = self.rulebook.id
        for route in sorted(self.rulebook.route_ids - set(self.index)):
            self.add(
                ("nodes",),
                f"has no node for route {route} of rulebook {book}",
                subject=f"route {route}",
            )
        levels = self.rulebook.level_names
        for position, node in enumerate(self.definition.nodes):
            if node.level is not None and node.level not in levels:
                self.add(
                    ("nodes", position, "level"),
                    f"is not a level of rulebook {book}",
                    short(node.level),
                    tuple(str(level) for level in levels),
                )
        for service in self.rulebook.services:
            if service.id not in self.index:
                self.add(
                    ("nodes",),
                    f"has no node for service {service.id} of rulebook {book}",
                    subject=f"service {service.id}",
                )
            elif self.node(service.id).level != service.level:
                self.add(
                    ("nodes", self.index[service.id], "level"),
                    f"differs from rulebook {book}, which puts service {service.id} "
                    f"at level {service.level}",
                    short(self.node(service.id).level),
                )

    def _reachable(self) -> None:
        entry = next((n.id for n in self.definition.nodes if n.kind is NodeKind.ENTRY), None)
        if entry is None:
            return
        reached = nx.descendants(self.graph, entry) | {entry}
        for node_id in self.ids:
            if node_id not in reached and self.node(node_id).kind is not NodeKind.RETIRED:
                self.add(
                    ("nodes", self.index[node_id]), f"cannot be reached from the entry {entry}"
                )

    def _way_down(self) -> None:
        """Every node at the highest level (the rulebook's; without one, the highest any node
        has) has a way down to a ground node."""
        down = self._kinds(set(EdgeKind) - {EdgeKind.STEP_UP})
        ground = [node for node in self.ground if node in down]
        levels = [node.level for node in self.definition.nodes if node.level is not None]
        top = self.rulebook.highest_level if self.rulebook is not None else max(levels, default=0)
        for position, node in enumerate(self.definition.nodes):
            if (
                node.level != top
                or self.index[node.id] != position
                or node.kind is NodeKind.RETIRED
            ):
                continue
            if node.id in self.ground or any(nx.has_path(down, node.id, g) for g in ground):
                continue
            self.add(
                ("nodes", self.index[node.id]),
                f"is a level-{top} node with no way down: no path of step_down, exit, transition "
                f"or route edges reaches a ground node ({self.ground_names})",
            )

    def _step_down_walks(self) -> None:
        """Every walk along step_down edges must end, and end at a ground node."""
        down = self._kinds({EdgeKind.STEP_DOWN})
        for component in nx.strongly_connected_components(down):
            if len(component) > 1:
                cycle = sorted(component, key=self.index.__getitem__)
                self.add(
                    ("nodes", self.index[cycle[0]]),
                    f"is on a cycle of step_down edges among {', '.join(cycle)}; "
                    "a walk of step-downs would never end",
                )
        for node_id in sorted(down, key=self.index.__getitem__):
            ends_here = down.in_degree(node_id) and not down.out_degree(node_id)
            if ends_here and node_id not in self.ground:
                self.add(
                    ("nodes", self.index[node_id]),
                    f"is reached by a step_down but has none onward: a walk of step-downs "
                    f"would end here, not at a ground node ({self.ground_names})",
                )

    def _kinds(self, kinds: set[EdgeKind]) -> nx.DiGraph[str]:
        graph = only(self.kept, kinds)
        graph.add_nodes_from(self.graph)
        return graph


def only(edges: Sequence[Edge], kinds: set[EdgeKind]) -> nx.DiGraph[str]:
    """A graph of the edges of the given kinds (and only their end nodes)."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_edges_from((e.source, e.target) for e in edges if e.kind in kinds)
    return graph
