"""Reading a rulebook directory of YAML files into a validated `Rulebook`.

Every `*.yaml` file directly in the directory is read with a safe loader and may hold any of the
top-level keys `rulebook`, `report` and `simulation` (each in one file only), `indicators`,
`routes`, `services`, `timescales` and `rules`; lists from several files are joined in file-name
order. A problem anywhere is reported
with its file, line, rule id and field path, all problems at once. `read_yaml` reads one file the
same way for the pathway loader, keeping the lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from triage.errors import PathwayInvalid, Problem, RulebookInvalid, RulebookNotFound
from triage.referral import field_path
from triage.rulebook import Rulebook

_LIST_KEYS = ("indicators", "routes", "services", "timescales", "rules")
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


def read_yaml(file: Path) -> YamlDocument | Problem:
    """Read one YAML file; a file that cannot be read or parsed gives a `Problem` instead."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        return Problem("", f"cannot be read: {error.strerror or error}", file=str(file))
    except UnicodeDecodeError:
        return Problem("", "is not UTF-8 text", file=str(file))
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader, chosen above
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        return Problem(
            "",
            f"is not valid YAML: {getattr(error, 'problem', error)}",
            file=str(file),
            line=None if mark is None else mark.line + 1,
        )
    return YamlDocument(file, data, root)


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


def load_rulebook(directory: str | Path | None = None) -> Rulebook:
    """Load and validate a rulebook directory (default: the bundled Kent rulebook).

    Raises `RulebookNotFound` or `RulebookInvalid`, whose problems name file, line, rule id and
    field path.
    """
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
        for key, value in data.items():
            key_mark, key_node = next((k.start_mark, v) for k, v in root.value if k.value == key)
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
