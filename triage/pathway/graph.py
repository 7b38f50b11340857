"""`load_pathway` and `PathwayGraph`: a validated pathway held as a networkx graph, and its queries.

A `PathwayGraph` answers where a child can go next, whether a move is allowed, a shortest path,
and which step-ups have no step-down back. It does not draw itself: `triage.pathway.drawing`
draws a graph.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path

import networkx as nx
from pydantic import ValidationError

from triage._base import LEVEL_NAMES, Level
from triage.errors import PathwayInvalid, Problem, UsageError
from triage.loader import YamlDocument, bundled_pathway_file, read_yaml
from triage.pathway._checks import Checker, Found, only, problem, short
from triage.pathway.model import Edge, EdgeKind, ForbiddenEdge, Node, NodeKind, Pathway
from triage.pathway.revision import is_revision, resolve_pathway
from triage.rulebook import Rulebook


def load_pathway(path: str | Path | None = None, rulebook: Rulebook | None = None) -> PathwayGraph:
    """Load and validate a pathway file (default: the bundled Kent pathway).

    With a rulebook, also check that every route and service of the rulebook is a node (at the
    rulebook's level) and that every guard names a rule. Raises `PathwayInvalid` listing every
    problem with its file, line, field path and node or edge.
    """
    file = bundled_pathway_file() if path is None else Path(path)
    read = read_yaml(file)
    if isinstance(read, Problem):
        raise PathwayInvalid([read], str(file))
    # A revision (`extends`) is resolved first; its problems then name the node or edge, but
    # no line: the resolved data comes from two files.
    document: YamlDocument | None = read
    data = read.data
    if is_revision(data):
        data, document = resolve_pathway(read), None
    try:
        definition = Pathway.model_validate(data)
    except ValidationError as error:
        raise PathwayInvalid(
            [
                problem(
                    Found(
                        tuple(e["loc"]),
                        e["msg"].removeprefix("Value error, "),
                        short(e.get("input")),
                    ),
                    data,
                    document,
                )
                for e in error.errors(include_url=False)
            ],
            str(file),
        ) from None
    return PathwayGraph(definition, rulebook=rulebook, document=document, source=str(file))


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
        source: str | None = None,
    ) -> None:
        self.definition = definition
        found = Checker(definition, rulebook).problems()
        if found:
            data = (
                document.data
                if document is not None
                else definition.model_dump(mode="json", by_alias=True)
            )
            problems = [problem(item, data, document) for item in found]
            # In file order, so a reader fixes the file from the top; stable for equal lines.
            problems.sort(key=lambda problem: problem.line or 0)
            raise PathwayInvalid(
                problems,
                str(document.file)
                if document is not None
                else source or f"pathway {definition.pathway.id}",
            )
        # What each level is called in a picture: the rulebook's names, checked against it
        # (a graph loaded without a rulebook: the four levels of the form).
        self.level_names: dict[int, str] = (
            dict(LEVEL_NAMES) if rulebook is None else rulebook.level_names
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

    @property
    def ground(self) -> tuple[str, ...]:
        """The nodes where every walk of step-downs ends (`ground: true` in the file)."""
        return self.definition.ground

    @cached_property
    def retired(self) -> frozenset[str]:
        """The nodes a revision retired (each with one redesign edge to its successor)."""
        return frozenset(node.id for node in self.nodes if node.kind is NodeKind.RETIRED)

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
        down = only(self.edges, {EdgeKind.STEP_DOWN})
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
