"""Reading one YAML file safely and within bounds, keeping its node tree for line numbers.

`read_yaml` is the one way a YAML file is read (rulebooks, pathways, scenarios, fidelity
cases): a safe loader only (libyaml's where present), regular files only, bounded in size,
nodes, depth and alias expansion; repeated, non-text and merge keys refused; a value PyYAML
cannot construct is a problem with its line, never a traceback. Only this module and the
rulebook loader import yaml.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from triage._input import field_path
from triage.errors import Problem

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader


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
        for _part, _found, at in descend(self.root, loc):
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


def descend(
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
