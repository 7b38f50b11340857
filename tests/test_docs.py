"""Docs and code stay in step: error codes, checked-in schemas, the public API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
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


def test_every_error_class_code_is_a_declared_code() -> None:
    classes = [getattr(triage, name) for name in triage.__all__]
    errors = [c for c in classes if isinstance(c, type) and issubclass(c, triage.TriageError)]
    assert {e.code for e in errors if e is not triage.TriageError} <= set(get_args(ErrorCode))


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
    """Changing the public API is a decision: update this list with it."""
    assert set(triage.__all__) == {
        "ENGINES",
        "Child",
        "Concern",
        "Decision",
        "EngineFault",
        "Evaluator",
        "Finding",
        "FrontDoor",
        "GraphvizMissing",
        "InputError",
        "InputNotJson",
        "OpenInvolvement",
        "PathwayGraph",
        "PathwayInvalid",
        "Problem",
        "ReferenceEvaluator",
        "Referral",
        "ReferralInvalid",
        "Rulebook",
        "RulebookError",
        "RulebookInvalid",
        "RulebookNotFound",
        "RulebookRef",
        "TriageError",
        "UsageError",
        "__version__",
        "add_working_days",
        "bundled_rules_dir",
        "lint_rulebook",
        "load_pathway",
        "load_rulebook",
        "make_evaluator",
        "parse_referral",
        "simulate",
    }
    for name in triage.__all__:
        assert getattr(triage, name) is not None


def test_changelog_names_the_current_rulebook_version() -> None:
    """A rules change bumps the rulebook version, and the changelog says so."""
    rulebook = triage.load_rulebook()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "### Rules" in changelog
    assert f"`{rulebook.id}` {rulebook.version}" in changelog
