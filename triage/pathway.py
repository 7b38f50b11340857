"""The pathway graph: the services a child can be open to, and the moves allowed between them.

A pathway file (`pathways/kent.yaml`) declares `nodes` (entry, routes, services, exits, each with
a level or none and an age range), `edges` (each of a kind: `route`, `step_up`, `step_down`,
`transition`, `exit`; optionally guarded by a rulebook rule) and `forbidden` edges with a reason.
`load_pathway` reads and validates it, reporting every problem at once with file, line, field
path and the node or edge concerned; a `PathwayGraph` answers queries (allowed next steps, is a
move allowed, shortest path, step-ups with no step-down back) and draws itself (Mermaid, dot, and
svg or png through the Graphviz `dot` program).

This is the only module that imports networkx.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import Field, ValidationError, model_validator

from triage import drawing
from triage._base import Level, Model
from triage.errors import PathwayInvalid, Problem, UsageError
from triage.loader import YamlDocument, read_yaml
from triage.referral import field_path
from triage.rulebook import Rulebook, SnakeId

# Every walk of step-downs, and every level-4 node's way down, must end at one of these.
UNIVERSAL_SERVICES = "universal_services"
CLOSURE = "closure"
GROUND = (UNIVERSAL_SERVICES, CLOSURE)


class NodeKind(StrEnum):
    ENTRY = "entry"
    ROUTE = "route"
    SERVICE = "service"
    EXIT = "exit"


class EdgeKind(StrEnum):
    ROUTE = "route"
    STEP_UP = "step_up"
    STEP_DOWN = "step_down"
    TRANSITION = "transition"
    EXIT = "exit"


class AgeRange(Model):
    """Ages served in whole years, both ends inclusive; `unborn` adds children not yet born."""

    min_years: int = Field(ge=0, le=130)
    max_years: int | None = Field(ge=0, le=130, description="null: no upper limit.")
    unborn: bool

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.max_years is not None and self.max_years < self.min_years:
            raise ValueError("max_years is below min_years")
        if self.unborn and self.min_years > 0:
            raise ValueError("a range that serves unborn children must start at min_years 0")
        return self

    def follows_on(self, before: AgeRange) -> bool:
        """True when this range overlaps `before` or starts the year after `before` ends."""
        # An unborn child is a year below 0, so "unborn only" ranges follow on into age 0.
        starts = -1 if self.unborn else self.min_years
        before_starts = -1 if before.unborn else before.min_years
        ends_late_enough = self.max_years is None or self.max_years >= before_starts
        starts_early_enough = before.max_years is None or starts <= before.max_years + 1
        return ends_late_enough and starts_early_enough

    def __str__(self) -> str:
        top = "" if self.max_years is None else str(self.max_years)
        return f"{'unborn, ' if self.unborn else ''}{self.min_years}-{top}"


class Node(Model):
    id: SnakeId
    label: str = Field(min_length=1)
    level: Level | None = Field(description="1-4 on the continuum; null for off-continuum nodes.")
    kind: NodeKind
    age_range: AgeRange


class Edge(Model):
    """An allowed move. In YAML its ends are `from` and `to`."""

    source: SnakeId = Field(alias="from")
    target: SnakeId = Field(alias="to")
    kind: EdgeKind
    guard: SnakeId | None = Field(default=None, description="The rule whose firing takes it.")
    label: str | None = None

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


class ForbiddenEdge(Model):
    """A move that must never be on the pathway, with the reason."""

    source: SnakeId = Field(alias="from")
    target: SnakeId = Field(alias="to")
    reason: str = Field(min_length=1)

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


class PathwayInfo(Model):
    id: SnakeId
    version: str = Field(min_length=1)
    title: str = Field(min_length=1)
    reference: str = Field(min_length=1)


class Pathway(Model):
    """A pathway file's content, shape-checked; `PathwayGraph` checks that it hangs together."""

    pathway: PathwayInfo
    nodes: tuple[Node, ...] = Field(min_length=1)
    edges: tuple[Edge, ...] = ()
    forbidden: tuple[ForbiddenEdge, ...] = ()


def bundled_pathway_file(name: str = "kent") -> Path:
    """The pathway file shipped with the library (wheel or source checkout)."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_bundled" / "pathways", package.parent / "pathways"):
        if (candidate / f"{name}.yaml").is_file():
            return candidate / f"{name}.yaml"
    raise PathwayInvalid(
        [Problem("", "is not installed with this copy of triage")], f"bundled pathway {name!r}"
    )


def load_pathway(path: str | Path | None = None, rulebook: Rulebook | None = None) -> PathwayGraph:
    """Load and validate a pathway file (default: the bundled Kent pathway).

    With a rulebook, also check that every route and service of the rulebook is a node (at the
    rulebook's level) and that every guard names a rule. Raises `PathwayInvalid` listing every
    problem with its file, line, field path and node or edge.
    """
    file = bundled_pathway_file() if path is None else Path(path)
    document = read_yaml(file)
    if isinstance(document, Problem):
        raise PathwayInvalid([document], str(file))
    try:
        definition = Pathway.model_validate(document.data)
    except ValidationError as error:
        raise PathwayInvalid(
            [
                _problem(
                    _Found(
                        tuple(e["loc"]),
                        e["msg"].removeprefix("Value error, "),
                        _short(e.get("input")),
                    ),
                    document.data,
                    document,
                )
                for e in error.errors(include_url=False)
            ],
            str(file),
        ) from None
    return PathwayGraph(definition, rulebook=rulebook, document=document)


@dataclass(frozen=True, slots=True)
class _Found:
    """One problem before it is given a file and line."""

    loc: tuple[str | int, ...]
    message: str
    value: str | None = None
    valid: tuple[str, ...] = ()
    subject: str | None = None


def _short(value: Any) -> str | None:
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


def _problem(found: _Found, data: Any, document: YamlDocument | None) -> Problem:
    return Problem(
        location=field_path(found.loc),
        message=found.message,
        value=found.value,
        valid=found.valid,
        file=None if document is None else str(document.file),
        line=None if document is None else document.line(found.loc),
        subject=found.subject or _subject(found.loc, data),
    )


class PathwayGraph:
    """A validated pathway, held as a `networkx.DiGraph` (one edge per ordered pair of nodes).

    Build one with `load_pathway`; constructing it from a `Pathway` runs the same checks.
    """

    def __init__(
        self,
        definition: Pathway,
        *,
        rulebook: Rulebook | None = None,
        document: YamlDocument | None = None,
    ) -> None:
        self.definition = definition
        found = _Checker(definition, rulebook).problems()
        if found:
            data = (
                document.data
                if document is not None
                else definition.model_dump(mode="json", by_alias=True)
            )
            problems = [_problem(item, data, document) for item in found]
            # In file order, so a reader fixes the file from the top; stable for equal lines.
            problems.sort(key=lambda problem: problem.line or 0)
            raise PathwayInvalid(
                problems,
                str(document.file) if document is not None else f"pathway {definition.pathway.id}",
            )
        self._graph: nx.DiGraph[str] = nx.DiGraph()
        for node in definition.nodes:
            self._graph.add_node(node.id, node=node)
        for edge in definition.edges:
            self._graph.add_edge(edge.source, edge.target, edge=edge)
        self._forbidden = {(f.source, f.target): f for f in definition.forbidden}

    def __repr__(self) -> str:
        return f"<PathwayGraph {self.id} {self.version}: {len(self.nodes)} nodes>"

    @property
    def id(self) -> str:
        return self.definition.pathway.id

    @property
    def version(self) -> str:
        return self.definition.pathway.version

    @property
    def title(self) -> str:
        return self.definition.pathway.title

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON of the whole validated pathway."""
        canonical = json.dumps(
            self.definition.model_dump(mode="json", by_alias=True),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def nodes(self) -> tuple[Node, ...]:
        return self.definition.nodes

    @property
    def edges(self) -> tuple[Edge, ...]:
        return self.definition.edges

    @property
    def forbidden(self) -> tuple[ForbiddenEdge, ...]:
        return self.definition.forbidden

    @cached_property
    def entry(self) -> str:
        return next(node.id for node in self.nodes if node.kind is NodeKind.ENTRY)

    def node(self, node_id: str) -> Node:
        """The node with this id; `UsageError` when there is none."""
        if node_id not in self._graph:
            raise UsageError(
                f"{node_id!r} is not a node of pathway {self.id}; "
                f"valid values: {', '.join(sorted(self._graph))}"
            )
        node: Node = self._graph.nodes[node_id]["node"]
        return node

    def level_of(self, node_id: str) -> Level | None:
        """The node's level on the continuum, or None for a node off it (entry, exits, adults)."""
        return self.node(node_id).level

    def next_steps(self, node_id: str) -> tuple[Edge, ...]:
        """The moves allowed from a node, in file order."""
        self.node(node_id)
        return tuple(data["edge"] for _, _, data in self._graph.out_edges(node_id, data=True))

    def edge(self, source: str, target: str) -> Edge | None:
        """The edge that allows the move from `source` to `target`, or None: not allowed."""
        self.node(source)
        self.node(target)
        data = self._graph.get_edge_data(source, target)
        if data is None:
            return None
        edge: Edge = data["edge"]
        return edge

    def forbidden_edge(self, source: str, target: str) -> ForbiddenEdge | None:
        """The declared prohibition of this move, if any (it is never an edge)."""
        self.node(source)
        self.node(target)
        return self._forbidden.get((source, target))

    def path(self, source: str, target: str) -> tuple[str, ...]:
        """The node ids of a shortest path (fewest moves), or () when `target` is unreachable."""
        self.node(source)
        self.node(target)
        try:
            found: list[str] = nx.shortest_path(self._graph, source, target)
        except nx.NetworkXNoPath:
            return ()
        return tuple(found)

    def unmatched_step_ups(self) -> tuple[Edge, ...]:
        """Step-up edges A -> B with no path of step-down edges from B back to A."""
        down = _only(self.edges, {EdgeKind.STEP_DOWN})
        return tuple(
            edge
            for edge in self.edges
            if edge.kind is EdgeKind.STEP_UP
            and not (
                edge.source in down
                and edge.target in down
                and nx.has_path(down, edge.target, edge.source)
            )
        )

    def to_mermaid(self, highlight: Sequence[str] = ()) -> str:
        """A Mermaid flowchart: levels as subgraphs, every edge labelled with its kind.

        `highlight` is a path (node ids in order, each pair an edge) drawn bold and coloured.
        """
        return drawing.to_mermaid(self, highlight)

    def to_dot(self, highlight: Sequence[str] = ()) -> str:
        """A Graphviz dot digraph: levels as clusters, every edge labelled with its kind."""
        return drawing.to_dot(self, highlight)

    def render(self, fmt: drawing.Format, highlight: Sequence[str] = ()) -> bytes:
        """The picture as svg or png bytes, drawn by the Graphviz `dot` program.

        Raises `GraphvizMissing`, saying how to install Graphviz, when `dot` is missing or fails.
        """
        return drawing.render(self.to_dot(highlight), fmt)


class _Checker:
    """The load-time checks of a shape-valid pathway; `problems()` lists every one found."""

    def __init__(self, definition: Pathway, rulebook: Rulebook | None) -> None:
        self.definition = definition
        self.rulebook = rulebook
        self.index: dict[str, int] = {}  # node id -> position of its first declaration
        for position, node in enumerate(definition.nodes):
            self.index.setdefault(node.id, position)
        self.ids = tuple(sorted(self.index))
        self.found: list[_Found] = []
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
        self.found.append(_Found(loc, message, value, valid, subject))

    def problems(self) -> list[_Found]:
        for check in (
            self._nodes,
            self._edges,
            self._forbidden,
            self._rulebook,
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
        for required in GROUND:
            if required not in self.index:
                self.add(
                    ("nodes",),
                    f"has no node {required}; every step-down must end at "
                    f"{UNIVERSAL_SERVICES} or {CLOSURE}",
                    subject=f"node {required}",
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
        if edge.kind is EdgeKind.TRANSITION and not target.age_range.follows_on(source.age_range):
            self.add(
                at,
                f"is a transition between age ranges that neither overlap nor follow on "
                f"({source.id} {source.age_range}, {target.id} {target.age_range})",
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
                    _short(self.node(service.id).level),
                )

    def _reachable(self) -> None:
        entry = next((n.id for n in self.definition.nodes if n.kind is NodeKind.ENTRY), None)
        if entry is None:
            return
        reached = nx.descendants(self.graph, entry) | {entry}
        for node_id in self.ids:
            if node_id not in reached:
                self.add(
                    ("nodes", self.index[node_id]), f"cannot be reached from the entry {entry}"
                )

    def _way_down(self) -> None:
        down = self._kinds(set(EdgeKind) - {EdgeKind.STEP_UP})
        ground = [node for node in GROUND if node in down]
        for position, node in enumerate(self.definition.nodes):
            if node.level != 4 or self.index[node.id] != position:
                continue
            if node.id in GROUND or any(nx.has_path(down, node.id, g) for g in ground):
                continue
            self.add(
                ("nodes", self.index[node.id]),
                f"is a level-4 node with no way down: no path of step_down, exit, transition or "
                f"route edges reaches {UNIVERSAL_SERVICES} or {CLOSURE}",
            )

    def _step_down_walks(self) -> None:
        """Every walk along step_down edges must end, and end at universal services or closure."""
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
            if down.in_degree(node_id) and not down.out_degree(node_id) and node_id not in GROUND:
                self.add(
                    ("nodes", self.index[node_id]),
                    f"is reached by a step_down but has none onward: a walk of step-downs "
                    f"would end here, not at {UNIVERSAL_SERVICES} or {CLOSURE}",
                )

    def _kinds(self, kinds: set[EdgeKind]) -> nx.DiGraph[str]:
        graph = _only(self.kept, kinds)
        graph.add_nodes_from(self.graph)
        return graph


def _only(edges: Sequence[Edge], kinds: set[EdgeKind]) -> nx.DiGraph[str]:
    """A graph of the edges of the given kinds (and only their end nodes)."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_edges_from((e.source, e.target) for e in edges if e.kind in kinds)
    return graph
