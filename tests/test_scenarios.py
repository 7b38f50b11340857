"""Practitioners' scenario files run through the same runner as `triage scenarios`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from triage import FrontDoor
from triage.errors import ReferralInvalid, ScenarioInvalid
from triage.scenarios import Located, ScenarioRunner, load_scenarios

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = load_scenarios([ROOT / "examples" / "scenarios"])


@pytest.fixture(name="runner", scope="module")
def fixture_runner(durable: FrontDoor) -> ScenarioRunner:
    return ScenarioRunner(durable.rulebook, engine="durable")


@pytest.mark.parametrize(
    "item", EXAMPLES, ids=[f"{i.file.stem}:{i.scenario.name[:40]}" for i in EXAMPLES]
)
def test_example_scenario(item: Located, runner: ScenarioRunner) -> None:
    """Each example decides as its author wrote down."""
    outcome = runner.run(item)
    assert outcome.passed, "\n".join([*outcome.failures, outcome.explanation])


def test_unknown_keys_are_refused_with_file_line_and_path(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(
        "name: x\nreferral: {referral_id: R}\nexpect:\n  level: 3\n  colour: blue\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenarios([file])
    (problem,) = caught.value.problems
    assert problem.location == "expect.colour"
    assert problem.line == 5
    assert caught.value.code == "scenario_invalid"


def test_a_scenario_needs_a_referral_or_a_journey(tmp_path: Path) -> None:
    file = tmp_path / "empty.yaml"
    file.write_text("scenarios:\n  - name: nothing to run\n", encoding="utf-8")
    with pytest.raises(ScenarioInvalid, match="either a referral"):
        load_scenarios([tmp_path])


def test_a_wrong_expectation_fails_with_the_decisions_reasons(
    tmp_path: Path, runner: ScenarioRunner
) -> None:
    source = (ROOT / "examples" / "scenarios" / "refused-consent-missing-teenager.yaml").read_text()
    file = tmp_path / "wrong.yaml"
    file.write_text(source.replace("route: single_agency_support", "route: intensive_early_help"))
    (item,) = load_scenarios([file])
    outcome = runner.run(item)
    assert outcome.failures == ["route: expected intensive_early_help, got single_agency_support"]
    assert "refused_consent_below_level_4" in outcome.explanation


def test_an_invalid_referral_fails_the_scenario_with_the_field_errors(
    tmp_path: Path, runner: ScenarioRunner
) -> None:
    """An indicator the rulebook lacks fails that scenario with the referral's own problems (the
    field path and the value), not a run-stopping error."""
    source = (ROOT / "examples" / "scenarios" / "refused-consent-missing-teenager.yaml").read_text()
    file = tmp_path / "invalid.yaml"
    file.write_text(source.replace("indicator: missing_regularly", "indicator: missing_sometimes"))
    (item,) = load_scenarios([file])
    outcome = runner.run(item)
    assert not outcome.passed
    assert outcome.failures == []
    assert isinstance(outcome.error, ReferralInvalid)
    (problem,) = outcome.error.problems
    assert problem.location == "concerns[0].indicator"
    assert problem.value == "missing_sometimes"


def test_cli_ends_with_the_summary_line_and_exits_1_on_a_failure(tmp_path: Path) -> None:
    good = ROOT / "examples" / "scenarios" / "refused-consent-missing-teenager.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("level: 3", "level: 4"))
    run = subprocess.run(
        [sys.executable, "-m", "triage.cli", "scenarios", str(good), str(bad)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    lines = run.stdout.strip().splitlines()
    assert lines[-1] == "1 passed, 1 failed"
    assert any(line.startswith("FAIL") for line in lines)
    assert "level: expected 4, got 3" in run.stdout


def test_cli_passes_on_the_examples() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "triage.cli", "scenarios", "-q", str(ROOT / "examples")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1] == f"{len(EXAMPLES)} passed, 0 failed"
