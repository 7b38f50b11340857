"""Reading a rulebook directory of YAML files into a validated `Rulebook`.

Every `*.yaml` file directly in the directory is read with a safe loader and may hold any of the
top-level keys `rulebook`, `report` and `simulation` (each in one file only), `indicators`,
`routes`, `services`, `timescales`, `rules` and `override_reasons`; lists from several files are
joined in file-name order. A problem anywhere is reported with its file, line, rule id and field
path, all problems at once. Each file is read by `triage._yaml.read_yaml` (bounded, safe).

A directory with a `revision:` header is a revision of another rulebook (`triage.overlay`): it
holds only `retire`, `replace` and `add` (in any of its files) and merge patches of the mapping
sections, resolved onto the rulebook it extends into ordinary data, then validated as any
rulebook is. A problem in a change is reported at the line of the revision that wrote it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from triage._input import field_path
from triage._yaml import MAX_FILE_BYTES as MAX_FILE_BYTES
from triage._yaml import YamlDocument as YamlDocument
from triage._yaml import descend
from triage._yaml import read_yaml as read_yaml
from triage.errors import PathwayInvalid, Problem, RulebookInvalid, RulebookNotFound
from triage.overlay import OPS, Change, Op, RevisionHeader, by_id, merge_patch, resolve_lists
from triage.rulebook import Rulebook

_LIST_KEYS = ("indicators", "routes", "services", "timescales", "rules", "override_reasons")
# Mappings given whole in one file: the rulebook's header and the council data no rule reads.
_MAPPING_KEYS = ("rulebook", "report", "simulation", "revision")
_TOP_KEYS = (*_MAPPING_KEYS, *_LIST_KEYS, *OPS)
# Tags pydantic puts in error locations for the tagged unions; they repeat the YAML key.
_OUTCOME_TAGS = frozenset({"level", "route", "flag"})


def bundled_rules_dir(name: str = "kent") -> Path:
    """The directory of a rulebook shipped with the library (wheel or source checkout)."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_bundled" / "rules" / name, package.parent / "rules" / name):
        if candidate.is_dir():
            return candidate
    raise RulebookNotFound(
        f"bundled rulebook {name!r}", "it is not installed with this copy of triage"
    )


def bundled_pathway_file(name: str = "kent") -> Path:
    """The pathway file shipped with the library (wheel or source checkout)."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_bundled" / "pathways", package.parent / "pathways"):
        if (candidate / f"{name}.yaml").is_file():
            return candidate / f"{name}.yaml"
    raise PathwayInvalid(
        [Problem("", "is not installed with this copy of triage")], f"bundled pathway {name!r}"
    )


@dataclass(frozen=True, slots=True)
class _Origin:
    file: Path
    node: yaml.Node
    path: tuple[str | int, ...]  # where the item sits inside its own file


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.exists():
        raise RulebookNotFound(str(directory), "the directory does not exist")
    if not directory.is_dir():
        raise RulebookNotFound(str(directory), "it is not a directory")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise RulebookNotFound(str(directory), "it holds no *.yaml files")
    return files


def _display(
    loc: tuple[str | int, ...], origin: _Origin | None
) -> tuple[list[str | int], int | None]:
    shown: list[str | int] = []
    line = None
    node = origin.node if origin else None
    parts = list(descend(node, loc)) if node is not None else [(p, None, None) for p in loc]
    for index, (part, found, at) in enumerate(parts):
        previous = shown[-1] if shown else None
        if found is None and part == previous:
            continue  # a union tag that repeats the key just shown
        if (
            found is None
            and previous == "then"
            and part in _OUTCOME_TAGS
            and index + 1 < len(parts)
        ):
            continue
        shown.append(part)
        if at is not None:
            line = at
    if line is None and node is not None:
        line = node.start_mark.line + 1
    return shown, line


def _short(value: Any) -> str | None:
    if isinstance(value, dict | list):
        return None
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a rulebook loads. Loading allocates millions of
    objects (nodes, values, models) that hold no cycles, and each full collection walks them all:
    40,000 indicators took 3 to 4 times longer with it running (the time grew faster than the
    file). Reference counting still frees everything; the collector resumes after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_rulebook(directory: str | Path | None = None) -> Rulebook:
    """Load and validate a rulebook directory (default: the bundled Kent rulebook).

    Raises `RulebookNotFound` or `RulebookInvalid`, whose problems name file, line, rule id and
    field path.
    """
    with _without_cyclic_gc():
        return _load_rulebook(directory)


def _load_rulebook(directory: str | Path | None) -> Rulebook:
    directory = bundled_rules_dir() if directory is None else Path(directory)
    merged, origins = _resolved(directory, ())
    try:
        rulebook = Rulebook.model_validate(merged)
    except ValidationError as error:
        raise RulebookInvalid(
            [
                _problem(tuple(e["loc"]), e["msg"], e.get("input"), (), merged, origins)
                for e in error.errors(include_url=False)
            ],
            str(directory),
        ) from None
    found = rulebook.problems()
    if found:
        raise RulebookInvalid(
            [
                _problem(loc, message, value, valid, merged, origins)
                for loc, message, value, valid in found
            ],
            str(directory),
        )
    return rulebook


Origins = dict[tuple[str, int] | str, _Origin]


@dataclass(slots=True)
class _Read:
    """A rulebook directory as written: its sections, and a revision's changes."""

    merged: dict[str, Any]
    origins: Origins
    changes: list[Change[_Origin]]


def _read_directory(directory: Path) -> _Read:
    read = _Read({key: [] for key in _LIST_KEYS}, {}, [])
    merged, origins = read.merged, read.origins
    problems: list[Problem] = []
    for file in _yaml_files(directory):
        document = read_yaml(file)
        if isinstance(document, Problem):
            problems.append(document)
            continue
        data, root = document.data, document.root
        if data is None:
            continue
        if not isinstance(data, dict) or root is None:
            problems.append(
                Problem("", "must be a mapping of top-level keys", valid=_TOP_KEYS, file=str(file))
            )
            continue
        # Keys are text and given once (read_yaml checked): each key node names one entry.
        for key_node_of, key_node in root.value:
            key, key_mark = key_node_of.value, key_node_of.start_mark
            value = data[key]
            if key not in _TOP_KEYS:
                problems.append(
                    Problem(
                        str(key),
                        "is not a rulebook key",
                        value=str(key),
                        valid=_TOP_KEYS,
                        file=str(file),
                        line=key_mark.line + 1,
                    )
                )
            elif key in OPS:
                if isinstance(value, dict):
                    _changes(read, file, OPS[OPS.index(key)], value, key_node)
                else:
                    problems.append(
                        Problem(
                            key,
                            "must be a mapping of sections (routes, rules, ...) to lists",
                            file=str(file),
                            line=key_mark.line + 1,
                        )
                    )
            elif key in _MAPPING_KEYS:
                if key in origins:
                    problems.append(
                        Problem(
                            key,
                            "is given in more than one file",
                            file=str(file),
                            line=key_mark.line + 1,
                        )
                    )
                merged[key] = value
                origins[key] = _Origin(file, key_node, (key,))
            elif not isinstance(value, list):
                problems.append(
                    Problem(key, "must be a list", file=str(file), line=key_mark.line + 1)
                )
            else:
                for index, item in enumerate(value):
                    origins[(key, len(merged[key]))] = _Origin(
                        file, key_node.value[index], (key, index)
                    )
                    merged[key].append(item)
    if problems:
        raise RulebookInvalid(problems, str(directory))
    return read


def _changes(read: _Read, file: Path, op: Op, value: dict[str, Any], node: yaml.Node) -> None:
    """A revision's `retire`, `replace` or `add` (section -> list), entry by entry."""
    for section_node, items_node in node.value:
        section, items = section_node.value, value[section_node.value]
        if not isinstance(items, list):
            items, nodes = [items], [items_node]  # one entry without a list: a list of one
        else:
            nodes = items_node.value
        for index, (entry, entry_node) in enumerate(zip(items, nodes, strict=True)):
            at: tuple[str | int, ...] = (op, section, index)
            if op == "replace" and isinstance(entry_node, yaml.MappingNode):
                # A replacement's fields are reported inside its `with:`.
                inner = next((v for k, v in entry_node.value if k.value == "with"), entry_node)
                at, entry_node = (*at, "with") if inner is not entry_node else at, inner
            change = Change(op, section, entry, _Origin(file, entry_node, at))
            read.changes.append(change)


def _resolved(directory: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], Origins]:
    """A directory's sections, a revision's resolved onto those of the rulebook it extends."""
    read = _read_directory(directory)
    if "revision" not in read.merged:
        if read.changes:
            origin = read.changes[0].origin
            raise RulebookInvalid(
                [
                    Problem(
                        str(origin.path[0]),
                        "goes with a `revision:` header naming the rulebook revised",
                        file=str(origin.file),
                        line=origin.node.start_mark.line + 1,
                    )
                ],
                str(directory),
            )
        return read.merged, read.origins
    _, base = revision_of(directory, read.merged["revision"], read.origins["revision"].file)
    if base.resolve() in chain or base.resolve() == directory.resolve():
        raise RulebookNotFound(str(directory), f"it extends {base}, which extends it again")
    base_merged, base_origins = _resolved(base, (*chain, directory.resolve()))
    lists = {
        key: [(item, base_origins[(key, i)]) for i, item in enumerate(base_merged[key])]
        for key in _LIST_KEYS
    }
    keys = {key: (None if key == "timescales" else by_id) for key in _LIST_KEYS}
    resolved, found = resolve_lists(lists, read.changes, keys)
    problems = [_at(f.origin, f.loc, f.message, f.value, f.valid) for f in found]
    merged: dict[str, Any] = {key: [item for item, _ in resolved[key]] for key in _LIST_KEYS}
    origins: Origins = {
        (key, i): origin for key in _LIST_KEYS for i, (_, origin) in enumerate(resolved[key])
    }
    for key in ("rulebook", "report", "simulation"):
        if key in read.merged:
            merged[key] = merge_patch(base_merged.get(key), read.merged[key])
            origins[key] = read.origins[key]
        elif key in base_merged:
            merged[key], origins[key] = base_merged[key], base_origins[key]
    written = [key for key in _LIST_KEYS if read.merged[key]]
    own = read.merged.get("rulebook")
    for key in written:
        first = read.origins[(key, 0)]
        problems.append(
            Problem(
                key,
                "a revision changes lists only through retire, replace and add",
                file=str(first.file),
                line=first.node.start_mark.line + 1,  # its first item's
            )
        )
    if (
        not isinstance(own, dict)
        or {"id", "version"} - set(own)
        or any(
            own.get(field) == (base_merged.get("rulebook") or {}).get(field)
            for field in ("id", "version")
        )
    ):
        problems.append(
            Problem(
                "rulebook",
                f"a revision gives its own id and version (not those of {base})",
                file=str(read.origins["revision"].file),
            )
        )
    if problems:
        raise RulebookInvalid(problems, str(directory))
    return merged, origins


def revision_of(directory: Path, raw: Any, file: Path | None = None) -> tuple[RevisionHeader, Path]:
    """A `revision:` header, validated, and the directory of the rulebook it extends."""
    try:
        header = RevisionHeader.model_validate(raw)
    except ValidationError as error:
        where = None if file is None else str(file)
        raise RulebookInvalid(
            [
                Problem(field_path(("revision", *e["loc"])), e["msg"], file=where)
                for e in error.errors(include_url=False)
            ],
            str(directory),
        ) from None
    if "/" not in header.extends:
        return header, bundled_rules_dir(header.extends)
    return header, (directory / header.extends)


def read_revision(directory: str | Path) -> tuple[RevisionHeader, Path] | None:
    """The `revision:` header of a rulebook directory and the directory it extends, or None
    for a rulebook that revises none."""
    read = _read_directory(Path(directory))
    if "revision" not in read.merged:
        return None
    return revision_of(Path(directory), read.merged["revision"], read.origins["revision"].file)


def _at(
    origin: _Origin, loc: tuple[str | int, ...], message: str, value: Any, valid: tuple[str, ...]
) -> Problem:
    """A problem inside one written entry (a revision's change)."""
    parts, line = _display(loc, origin)
    return Problem(
        location=field_path((*origin.path, *parts)),
        message=message,
        value=None if value is None else _short(value),
        valid=valid,
        file=str(origin.file),
        line=line,
    )


def _problem(
    loc: tuple[str | int, ...],
    message: str,
    value: Any,
    valid: tuple[str, ...],
    merged: dict[str, Any],
    origins: dict[tuple[str, int] | str, _Origin],
) -> Problem:
    origin: _Origin | None = None
    rest = loc
    rule_id = None
    if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int):
        origin = origins.get((loc[0], loc[1]))
        rest = loc[2:]
        item = merged.get(loc[0], [None] * (loc[1] + 1))[loc[1]]
        if loc[0] == "rules" and isinstance(item, dict) and isinstance(item.get("id"), str):
            rule_id = item["id"]
    elif loc and loc[0] in _MAPPING_KEYS and isinstance(loc[0], str):
        origin = origins.get(loc[0])
        rest = loc[1:]
    parts, line = _display(rest, origin)
    prefix = origin.path if origin else loc[: len(loc) - len(rest)]
    full = field_path((*prefix, *parts))
    return Problem(
        location=full,
        message=message,
        value=None if value is None else _short(value),
        valid=valid,
        file=str(origin.file) if origin else None,
        line=line,
        rule_id=rule_id,
    )
