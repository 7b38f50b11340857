"""The pathway graph: the services a child can be open to, and the moves allowed between them.

A pathway file (`pathways/kent.yaml`) declares `nodes` (entry, routes, services, exits, each with
a level or none, an age range, and `ground: true` where a walk of step-downs may end), `edges`
(each of a kind: `route`, `step_up`, `step_down`, `transition`, `exit`, with a `reference`;
optionally guarded by a rulebook rule) and `forbidden` edges with a reason and a reference.

- `model`: the pydantic models of the file.
- `graph`: `load_pathway` (reading goes through `triage.loader`) and `PathwayGraph`, the queries.
- `_checks`: the load-time checks, every problem at once with file, line, field path and subject.
- `drawing`: pictures of a graph (Mermaid, dot, svg and png through Graphviz `dot`).

Only this package imports networkx, and no council's node ids live in it: they are data.
"""

from triage.loader import bundled_pathway_file
from triage.pathway.graph import PathwayGraph, load_pathway
from triage.pathway.model import (
    AgeRange,
    Edge,
    EdgeKind,
    ForbiddenEdge,
    Node,
    NodeKind,
    Pathway,
    PathwayInfo,
)

__all__ = [
    "AgeRange",
    "Edge",
    "EdgeKind",
    "ForbiddenEdge",
    "Node",
    "NodeKind",
    "Pathway",
    "PathwayGraph",
    "PathwayInfo",
    "bundled_pathway_file",
    "load_pathway",
]
