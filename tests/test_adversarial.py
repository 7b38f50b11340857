"""A sample of the adversarial corpus (tests/adversarial/) in CI: through `FrontDoor().route` on
both engines, through the CLI in process, and a handful through a real `triage` process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from click.testing import CliRunner

from triage import FrontDoor

from .adversarial import CLASSES, Case, generate
from .adversarial.run import LOW, Outcome, counts, render, run_case, run_subprocess

CASES = generate(copies=1, big=5, seed=7)


@pytest.fixture(name="restore_structlog", autouse=True)
def fixture_restore_structlog() -> Iterator[None]:
    """The CLI configures structlog onto CliRunner's stream, closed after each call."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _assert_held(outcome: Outcome) -> None:
    case = outcome.case
    assert not outcome.traceback, case.name
    assert outcome.api_problem is None, (case.name, outcome.api_problem)
    assert outcome.pii == (), (case.name, outcome.pii)
    assert outcome.exit_code in {0, 2}, case.name
    if case.garbage:
        assert not outcome.accepted, (case.cls, case.name, outcome.routes)


def test_every_class_has_garbage_and_planted_data() -> None:
    assert {case.cls for case in CASES} == {cls for cls, _ in CLASSES}
    for cls, _ in CLASSES:
        mine = [case for case in CASES if case.cls == cls]
        assert all(len(case.planted) == 5 for case in mine)
        assert any(case.garbage for case in mine) or cls == "combinations"


def test_the_whole_sample_through_the_api_on_both_engines(
    durable: FrontDoor, reference: FrontDoor
) -> None:
    outcomes = [run_case(case, (durable, reference), None) for case in CASES]
    for outcome in outcomes:
        _assert_held(outcome)
    table = counts(outcomes)
    assert sum(row["garbage accepted, LOW route"] for row in table.values()) == 0
    assert "| **total** |" in render(table)


def _sample(per_class: int) -> list[Case]:
    picked: list[Case] = []
    for cls, _ in CLASSES:
        mine = [case for case in CASES if case.cls == cls]
        step = max(1, len(mine) // per_class)
        picked += mine[::step][:per_class]
    return picked


@pytest.mark.parametrize("case", _sample(3), ids=lambda case: f"{case.cls}: {case.name}")
def test_a_sample_through_the_cli(case: Case, durable: FrontDoor, reference: FrontDoor) -> None:
    _assert_held(run_case(case, (durable, reference), CliRunner()))


SUBPROCESS = (
    "deep nesting",
    "NaN / Infinity / huge numbers",
    "duplicate JSON keys",
    "shapes",
    "combinations",
)


@pytest.mark.parametrize("cls", SUBPROCESS)
def test_a_handful_through_a_real_process(cls: str) -> None:
    wanted = cls != "combinations"  # garbage, except for the class that has none
    case = next(case for case in CASES if case.cls == cls and case.garbage == wanted)
    outcome = run_subprocess(case)
    _assert_held(outcome)
    if not wanted:  # a level-4 combination: accepted, routed, and never low
        assert outcome.exit_code == 0
        assert outcome.routes
        assert not set(outcome.routes) & LOW
