"""Reading a rulebook directory of YAML files into a validated `Rulebook`.

Every `*.yaml` file directly in the directory is read with a safe loader and may hold any of the
top-level keys `rulebook`, `report` and `simulation` (each in one file only), `indicators`,
`routes`, `services`, `timescales`, `rules` and `override_reasons`; lists from several files are
joined in file-name order. A problem anywhere is reported with its file, line, rule id and field
path, all problems at once. `read_yaml` reads one file the same way for the pathway loader,
keeping the lines.
"""

from __future__ import annotations

import contextlib
import gc
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from triage._input import field_path
from triage.errors import PathwayInvalid, Problem, RulebookInvalid, RulebookNotFound
from triage.rulebook import Rulebook

_LIST_KEYS = ("indicators", "routes", "services", "timescales", "rules", "override_reasons")
# Mappings given whole in one file: the rulebook's header and the council data no rule reads.
_MAPPING_KEYS = ("rulebook", "report", "simulation")
_TOP_KEYS = (*_MAPPING_KEYS, *_LIST_KEYS)
# Tags pydantic puts in error locations for the tagged unions; they repeat the YAML key.
_OUTCOME_TAGS = frozenset({"level", "route", "flag"})

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader


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


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """One YAML file read with the safe loader; its node tree is kept to give lines to paths."""

    file: Path
    data: Any
    root: yaml.Node | None

    def line(self, loc: tuple[str | int, ...]) -> int | None:
        """The 1-based line of the deepest part of a field path found in the file."""
        if self.root is None:
            return None
        line = self.root.start_mark.line + 1
        for _part, _found, at in _descend(self.root, loc):
            if at is not None:
                line = at
        return line


MAX_FILE_BYTES = 16 * 1024 * 1024
"""The largest YAML file read (Kent's largest is about 20 KB; 40,000 indicators about 5 MB)."""
MAX_NODES = 2_000_000
"""The most YAML nodes one file may hold, counted as written."""
MAX_DEPTH = 100
"""The deepest a YAML file may nest (Kent's deepest is under 10)."""
MAX_ALIAS_NODES = 100_000
"""The most nodes aliases may add when expanded: a few hundred bytes of nested aliases (the
"billion laughs") would otherwise expand to 10^9 nodes."""
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_KIND_NAMES = {"int": "an integer", "float": "a number", "timestamp": "a date"}
_SCALAR_VALUE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("int", "float", "timestamp", "bool", "null")
)


def _read_bytes(file: Path) -> bytes | Problem:
    """The bytes of a regular file no larger than MAX_FILE_BYTES. Opened without blocking and
    checked on the open file: a FIFO named `*.yaml` would block the read for ever, and a link to
    /dev/zero would fill the memory."""
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        return Problem("", f"cannot be read: {error.strerror or error}", file=str(file))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return Problem(
                "", "is not a regular file (a directory, FIFO or device)", file=str(file)
            )
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            return Problem("", f"cannot be read: {error.strerror or error}", file=str(file))
    if len(data) > MAX_FILE_BYTES:
        return Problem("", f"is larger than {MAX_FILE_BYTES // 2**20} MiB", file=str(file))
    return data


def read_yaml(file: Path) -> YamlDocument | Problem:
    """Read one YAML file; a file that cannot be read or parsed gives a `Problem` instead.

    Bounded and strict: only regular files of at most MAX_FILE_BYTES, at most MAX_NODES nodes
    and MAX_ALIAS_NODES added by aliases; mapping keys are text, given once, and never the
    merge key `<<`; a value PyYAML cannot construct (2018-02-30, an int of 5000 digits) is a
    problem with its line, never a traceback.
    """
    raw = _read_bytes(file)
    if isinstance(raw, Problem):
        return raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Problem("", "is not UTF-8 text", file=str(file))
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            return Problem(
                "",
                f"is not valid YAML: {getattr(error, 'problem', error)}",
                file=str(file),
                line=None if mark is None else mark.line + 1,
            )
        except RecursionError:
            return Problem("", "nests too deeply", file=str(file))
        if root is None:
            return YamlDocument(file, None, None)
        problem = _check_tree(root, file)
        if problem is not None:
            return problem
        try:
            data = loader.construct_document(root)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError):
            return _unconstructible(root, file)
    finally:
        loader.dispose()
    return YamlDocument(file, data, root)


def _check_tree(root: yaml.Node, file: Path) -> Problem | None:
    """The first problem of a composed node tree: too many nodes, or a bad mapping key.

    One walk, with no recursion: a node reached again through an alias counts again (that is
    the expansion to bound) but its keys are checked once."""
    seen: set[int] = set()
    count = again = 0
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        count += 1
        first = id(node) not in seen
        if first:
            seen.add(id(node))
        else:
            again += 1
            if again > MAX_ALIAS_NODES:
                return Problem(
                    field_path(path[:1]),
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes; write the data out",
                    file=str(file),
                    line=node.start_mark.line + 1,
                )
        if count > MAX_NODES:
            return Problem("", f"holds more than {MAX_NODES:,} nodes", file=str(file))
        if len(path) > MAX_DEPTH:  # also where an alias refers to a node that holds it
            return Problem(
                field_path(path[:1]),
                f"nests deeper than {MAX_DEPTH} levels (or an alias refers to itself)",
                file=str(file),
                line=node.start_mark.line + 1,
            )
        if isinstance(node, yaml.SequenceNode):
            stack.extend(((item, (*path, i)) for i, item in enumerate(node.value)))
        elif isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key, value in node.value:
                if first:
                    problem = _key_problem(key, keys, path, file)
                    if problem is not None:
                        return problem
                stack.append((value, (*path, str(getattr(key, "value", "?")))))
    return None


def _key_problem(
    key: yaml.Node, keys: dict[str, int], path: tuple[str | int, ...], file: Path
) -> Problem | None:
    line = key.start_mark.line + 1
    if not isinstance(key, yaml.ScalarNode):
        return Problem(field_path(path), "has a key that is not text", file=str(file), line=line)
    where = key.value  # the field path, made only when there is a problem
    if key.tag == _MERGE_TAG:
        return Problem(
            where,
            "is a merge key (<<), which rulebooks do not use; write the keys out",
            file=str(file),
            line=line,
        )
    # Top-level keys must be text (they name the sections); deeper, a mapping may be keyed by
    # numbers (report.yaml's levels: {1: ...}) and pydantic checks the key type.
    if key.tag != _STR_TAG and not path:
        return Problem(
            field_path((*path, where)),
            "is a key that YAML reads as a number, true/false or null; quote it or rename it",
            file=str(file),
            line=line,
        )
    if key.value in keys:
        return Problem(
            field_path((*path, where)),
            f"is given twice in one mapping (first at line {keys[key.value]}); the second "
            "would silently replace the first",
            file=str(file),
            line=line,
        )
    keys[key.value] = line
    return None


def _unconstructible(root: yaml.Node, file: Path) -> Problem:
    """The first scalar PyYAML cannot turn into a value, found by constructing each alone."""
    constructor = yaml.constructor.SafeConstructor()
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode) and node.tag in _SCALAR_VALUE_TAGS:
            try:
                constructor.construct_object(node)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:
                kind = _KIND_NAMES.get(node.tag.rsplit(":", 1)[-1], "a value")
                reason = "it has too many digits" if "digits" in str(error) else "no such value"
                return Problem(
                    field_path(path),
                    f"is {kind} that cannot be read ({reason})",
                    file=str(file),
                    line=node.start_mark.line + 1,
                )
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in reversed(list(enumerate(node.value))))
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                stack.append((value, (*path, str(key.value))))
                stack.append((key, path))
    return Problem("", "holds a value that cannot be read", file=str(file))


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.exists():
        raise RulebookNotFound(str(directory), "the directory does not exist")
    if not directory.is_dir():
        raise RulebookNotFound(str(directory), "it is not a directory")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise RulebookNotFound(str(directory), "it holds no *.yaml files")
    return files


def _descend(
    node: yaml.Node, loc: tuple[str | int, ...]
) -> Iterator[tuple[str | int, yaml.Node | None, int | None]]:
    """Walk a YAML node along a pydantic location: each part, its node, and the line (1-based)
    where it starts: the key's line for a mapping entry, the item's line for a list item."""
    current: yaml.Node | None = node
    for part in loc:
        found: yaml.Node | None = None
        line: int | None = None
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if getattr(key, "value", None) == part:
                    found, line = value, key.start_mark.line + 1
                    break
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and part < len(current.value)
        ):
            found = current.value[part]
            line = found.start_mark.line + 1
        yield part, found, line
        if found is not None:
            current = found


def _display(
    loc: tuple[str | int, ...], origin: _Origin | None
) -> tuple[list[str | int], int | None]:
    shown: list[str | int] = []
    line = None
    node = origin.node if origin else None
    parts = list(_descend(node, loc)) if node is not None else [(p, None, None) for p in loc]
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
    merged: dict[str, Any] = {key: [] for key in _LIST_KEYS}
    origins: dict[tuple[str, int] | str, _Origin] = {}
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
