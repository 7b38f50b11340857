"""Fixtures and Hypothesis profiles: `dev` (fast, the default) and `ci` (thorough)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, settings

from triage import FrontDoor, Rulebook, bundled_rules_dir, load_rulebook
from triage._install import durable_missing

settings.register_profile("dev", max_examples=200, deadline=None)
# CI is derandomized: a landing must not hinge on a new random draw. Developers' runs (dev) stay
# random and keep exploring; what they find is pinned as an explicit example.
settings.register_profile(
    "ci",
    max_examples=1000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _structlog_configuration_restored() -> Iterator[None]:
    """A command run in this process (click's CliRunner) configures structlog as the CLI does,
    for the whole process: put the configuration back after each test, so that a later test's
    `capture_logs` still sees every event."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(name="kent", scope="session")
def fixture_kent() -> Rulebook:
    return load_rulebook()


# Where durable_rules does not import (Python 3.13+), the tests of the durable engine skip, and
# the modules that import its adapter are not collected; the reference engine's tests run.
DURABLE_MISSING = durable_missing()
collect_ignore = (
    [] if DURABLE_MISSING is None else ["test_durable_adapter.py", "test_fast_paths.py"]
)

# The three doors share one id key, so that their decisions agree to the decision id.
ID_KEY = b"synthetic-decision-id-key-for-tests"


@pytest.fixture(name="durable", scope="session")
def fixture_durable(kent: Rulebook) -> FrontDoor:
    if DURABLE_MISSING is not None:
        pytest.skip(DURABLE_MISSING)
    return FrontDoor(kent, engine="durable", id_key=ID_KEY)


@pytest.fixture(name="reference", scope="session")
def fixture_reference(kent: Rulebook) -> FrontDoor:
    return FrontDoor(kent, engine="reference", id_key=ID_KEY)


@pytest.fixture(name="compiled", scope="session")
def fixture_compiled(kent: Rulebook) -> FrontDoor:
    return FrontDoor(kent, engine="compiled", id_key=ID_KEY)


def edited_kent(target: Path, *edits: tuple[str, str, str]) -> Path:
    """`target`, a copy of the Kent rulebook (made if missing) with text replaced: each edit is
    (file, old, new), the first `old` in the file becoming `new`."""
    if not target.exists():
        shutil.copytree(bundled_rules_dir(), target)
    for file, old, new in edits:
        path = target / file
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {file}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.fixture(name="edited_rules")
def fixture_edited_rules(tmp_path: Path) -> Callable[..., Path]:
    """A copy of the Kent rulebook with text replaced: edited_rules(("rules.yaml", old, new))."""

    def edit(*edits: tuple[str, str, str]) -> Path:
        return edited_kent(tmp_path / "rules", *edits)

    return edit


def make_referral(**overrides: Any) -> dict[str, Any]:
    """A synthetic referral: one 6-year-old, no concerns yet; override any field."""
    referral: dict[str, Any] = {
        "referral_id": "R-TEST-1",
        "received_at": "2026-03-02T09:30:00+00:00",
        "source": "police",
        "notification": "inter_agency_referral",
        "children": [{"child_id": "C-TEST-1", "date_of_birth": "2019-05-01"}],
        "concerns": [],
        "consent": "given",
        "immediate_danger": False,
    }
    referral.update(overrides)
    return referral


def concerns(*indicators: str, about: str = "child") -> list[dict[str, str]]:
    return [{"indicator": indicator, "about": about} for indicator in indicators]
