"""A pathway file that revises another: `extends`, then only the differences.

```yaml
pathway: {id: council_revised, version: "2.0.0", title: ..., reference: ...}  # a patch
extends: council              # a bundled pathway, or a file relative to this one (./council.yaml)
retire:
  nodes:                      # each retired node names its one successor
    - {id: old_service, successor: new_service, reference: "..."}
  edges: [{from: A, to: B}]
replace:
  nodes: [{id: some_node, with: {label: ...}}]
  edges: [{from: A, to: B, with: {kind: ...}}]
add: {nodes: [...], edges: [...], forbidden: [...]}
```

A retired node stays in the revision as a node of kind `retired`: every edge and forbidden edge
that touched it goes, and one `redesign` edge leads from it to its successor, so that a child
still open to it on go-live can be moved (the `service_redesign` journey event). The pathway
checks then hold the successor to the retired node's level and ages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from triage._input import field_path
from triage.errors import PathwayInvalid, Problem
from triage.loader import YamlDocument, bundled_pathway_file, read_yaml
from triage.overlay import OPS, Change, Found, by_ends, by_id, merge_patch, resolve_lists

_KEYS = {"nodes": by_id, "edges": by_ends, "forbidden": by_ends}
Path_ = tuple[str | int, ...]


def is_revision(data: Any) -> bool:
    return isinstance(data, dict) and "extends" in data


def resolve_pathway(document: YamlDocument, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The data of the pathway a revision file describes; `PathwayInvalid` for a change that
    does not apply (with its line in the revision file)."""
    data: dict[str, Any] = document.data
    file = document.file
    extends = data.get("extends")
    if not isinstance(extends, str) or not extends:
        raise PathwayInvalid([Problem("extends", "names the pathway revised")], str(file))
    base_file = _base_file(file, extends)
    if base_file.resolve() in (*chain, file.resolve()):
        raise PathwayInvalid([Problem("extends", "extends a pathway that extends it")], str(file))
    base = read_yaml(base_file)
    if isinstance(base, Problem):
        raise PathwayInvalid([base], str(base_file))
    base_data = base.data
    if is_revision(base_data):
        base_data = resolve_pathway(base, (*chain, file.resolve()))
    if not isinstance(base_data, dict):
        raise PathwayInvalid([Problem("", "is not a pathway")], str(base_file))
    found: list[Found[Path_]] = []
    unknown = set(data) - {"pathway", "extends", *OPS}
    found += [Found((key,), (), "is not a key of a pathway revision") for key in sorted(unknown)]
    lists: dict[str, list[tuple[Any, Path_]]] = {
        key: [(item, (key, i)) for i, item in enumerate(base_data.get(key) or [])] for key in _KEYS
    }
    changes: list[Change[Path_]] = []
    for op in OPS:
        sections = data.get(op) or {}
        if not isinstance(sections, dict):
            found.append(Found((op,), (), "must be a mapping of nodes, edges and forbidden"))
            continue
        for section, entries in sections.items():
            if not isinstance(entries, list):
                found.append(Found((op, section), (), "must be a list"))
                continue
            for index, entry in enumerate(entries):
                at: Path_ = (op, section, index)
                if op == "retire" and section == "nodes":
                    found += _retire_node(lists, entry, at)
                else:
                    origin = (*at, "with") if op == "replace" else at
                    changes.append(Change(op, section, entry, origin))
    resolved, more = resolve_lists(lists, changes, _KEYS)
    found += more
    header = base_data.get("pathway")
    own = data.get("pathway")
    if not isinstance(own, dict) or any(
        own.get(field) in (None, (header or {}).get(field)) for field in ("id", "version")
    ):
        found.append(
            Found(("pathway",), (), f"a revision gives its own id and version (not {extends}'s)")
        )
    if found:
        raise PathwayInvalid(
            [
                Problem(
                    field_path((*f.origin, *f.loc)),
                    f.message,
                    f.value,
                    f.valid,
                    file=str(file),
                    line=document.line(f.origin),
                )
                for f in found
            ],
            str(file),
        )
    out = {"pathway": merge_patch(header, own)}
    out |= {key: [item for item, _ in resolved[key]] for key in _KEYS}
    return out


def _ends(edge: Any) -> tuple[str, ...]:
    ends = by_ends(edge)
    return ends if isinstance(ends, tuple) else ()


def _base_file(file: Path, extends: str) -> Path:
    """A bundled pathway's name, or a file relative to the revision."""
    return bundled_pathway_file(extends) if "/" not in extends else file.parent / extends


def extended_file(file: str | Path) -> Path:
    """The pathway file that a pathway revision extends."""
    file = Path(file)
    document = read_yaml(file)
    if isinstance(document, Problem):
        raise PathwayInvalid([document], str(file))
    extends = document.data.get("extends") if is_revision(document.data) else None
    if not isinstance(extends, str):
        raise PathwayInvalid([Problem("extends", "names the pathway revised")], str(file))
    return _base_file(file, extends)


def _retire_node(
    lists: dict[str, list[tuple[Any, Path_]]], entry: Any, at: Path_
) -> list[Found[Path_]]:
    """Retire a node in place: kind `retired`, its edges gone, one redesign edge added."""
    fields = {"id", "successor", "reference"}
    if not isinstance(entry, dict) or set(entry) != fields:
        return [
            Found(
                at,
                (),
                "a retired node gives id, successor and reference",
                None,
                tuple(sorted(fields)),
            )
        ]
    node_id = entry["id"]
    nodes = lists["nodes"]
    place = next((i for i, (node, _) in enumerate(nodes) if by_id(node) == node_id), None)
    if place is None:
        valid = tuple(sorted(str(by_id(node)) for node, _ in nodes))
        return [Found(at, ("id",), "is not a node of the pathway revised", str(node_id), valid)]
    nodes[place] = ({**nodes[place][0], "kind": "retired"}, at)
    for key in ("edges", "forbidden"):
        lists[key] = [(edge, origin) for edge, origin in lists[key] if node_id not in _ends(edge)]
    redesign = {
        "from": node_id,
        "to": entry["successor"],
        "kind": "redesign",
        "reference": entry["reference"],
    }
    lists["edges"].append((redesign, at))
    return []
