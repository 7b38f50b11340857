"""Docs and code stay in step: error codes, checked-in schemas, the public API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import get_args

import pytest

import triage
from triage.errors import ErrorCode

ROOT = Path(__file__).resolve().parent.parent


def test_every_error_code_has_a_heading_in_errors_md() -> None:
    """docs/errors.md has one `## code` heading per ErrorCode, and no other."""
    headings = re.findall(
        r"^## (\S+)$", (ROOT / "docs" / "errors.md").read_text(), flags=re.MULTILINE
    )
    assert sorted(headings) == sorted(get_args(ErrorCode))


def _error_classes() -> list[type[triage.TriageError]]:
    """Every public error class, found by walking the tree from `TriageError`."""
    found: list[type[triage.TriageError]] = []
    todo = [triage.TriageError]
    while todo:
        cls = todo.pop()
        if not cls.__name__.startswith("_") and cls not in found:
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_class_code_is_a_declared_code() -> None:
    errors = _error_classes()
    assert {e.code for e in errors if e is not triage.TriageError} <= set(get_args(ErrorCode))


def test_every_error_class_is_exported() -> None:
    """A caller can catch any error the library raises by its name on `triage`."""
    assert {e.__name__ for e in _error_classes()} <= set(triage.__all__)
    for error in _error_classes():
        assert getattr(triage, error.__name__) is error


@pytest.mark.parametrize("name", ["referral", "decision", "rulebook", "record", "scenario"])
def test_checked_in_schema_is_current(name: str) -> None:
    """`make schemas` output is committed: a model change without it fails here."""
    printed = subprocess.run(
        [sys.executable, "-m", "triage.cli", "schema", name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    checked_in = (ROOT / "docs" / "schemas" / f"{name}.schema.json").read_text()
    assert json.loads(printed) == json.loads(checked_in), "run `make schemas` and commit"


def test_public_api_is_pinned() -> None:
    """`__all__` is exactly the public names `triage` defines (derived from `vars`, as httpx's
    tests/test_exported_members.py does): a name added without exporting it, or exported
    without being defined, fails here. Submodules are not part of the API's names."""
    public = {
        name
        for name, value in vars(triage).items()
        if (not name.startswith("_") or name == "__version__")
        and not isinstance(value, types.ModuleType)
    }
    assert sorted(triage.__all__) == sorted(public)
    assert len(set(triage.__all__)) == len(triage.__all__)
    assert {"FrontDoor", "Journeys", "JourneyEvent", "TransitionDecision"} <= public
    for name in triage.__all__:
        assert getattr(triage, name) is not None


def test_changelog_names_the_current_rulebook_version() -> None:
    """A rules change bumps the rulebook version, and the changelog says so."""
    rulebook = triage.load_rulebook()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "### Rules" in changelog
    assert f"`{rulebook.id}` {rulebook.version}" in changelog


def test_the_architecture_table_names_every_module_and_only_modules_that_exist() -> None:
    """docs/architecture.md's module table and the tree of `triage/` agree: every module is in
    the table (itself, or its package as `name/`), and every entry names a file or folder."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    entries = {
        name.strip().strip("`")
        for line in text.splitlines()
        if line.startswith("| `")
        for name in line.split("|")[1].split(",")
    }
    package = ROOT / "triage"
    for entry in entries:
        assert (package / entry).exists(), f"docs/architecture.md names {entry}, not in triage/"
    for module in package.rglob("*.py"):
        relative = module.relative_to(package).as_posix()
        if relative.endswith("/__init__.py"):
            continue
        parts = module.relative_to(package).parts
        folders = {"/".join(parts[:n]) + "/" for n in range(1, len(parts))}
        assert relative in entries or folders & entries, (
            f"triage/{relative} is not in docs/architecture.md's module table"
        )


MAX_MODULE_LINES = 500


def test_no_module_of_triage_is_over_500_lines() -> None:
    """Modules are split by responsibility before they grow past what a newcomer can hold in
    their head (issue 11): every `.py` file under `triage/` has at most 500 lines."""
    lengths = {
        module.relative_to(ROOT).as_posix(): len(module.read_text(encoding="utf-8").splitlines())
        for module in (ROOT / "triage").rglob("*.py")
    }
    assert len(lengths) > 50, "the walk found the package's modules"
    too_long = {name: lines for name, lines in lengths.items() if lines > MAX_MODULE_LINES}
    assert too_long == {}
