"""Practitioners' scenario files run through the same runner as `triage scenarios`."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given

from triage import FrontDoor
from triage.cli import cli
from triage.engine import ENGINES
from triage.errors import ReferralInvalid, ScenarioInvalid
from triage.scenarios import Located, ScenarioRunner, _times_without_offset, load_scenarios

from .strategies import aware_times, naive_times

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = load_scenarios([ROOT / "examples" / "scenarios"])
EXAMPLES_BY_FILE = {item.file.name: item.scenario.name for item in EXAMPLES}


@pytest.fixture(name="runner", scope="module")
def fixture_runner(durable: FrontDoor) -> ScenarioRunner:
    return ScenarioRunner(durable.rulebook, engine="durable")


@pytest.fixture(name="runners", scope="module")
def fixture_runners(durable: FrontDoor) -> dict[str, ScenarioRunner]:
    return {engine: ScenarioRunner(durable.rulebook, engine=engine) for engine in ENGINES}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "item", EXAMPLES, ids=[f"{i.file.stem}:{i.scenario.name[:40]}" for i in EXAMPLES]
)
def test_example_scenario(item: Located, engine: str, runners: dict[str, ScenarioRunner]) -> None:
    """Each example decides as its author wrote down, on both engines."""
    outcome = runners[engine].run(item)
    assert outcome.passed, "\n".join([*outcome.failures, str(outcome.error), outcome.explanation])


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


def scenarios(*args: str) -> Result:
    """`triage scenarios args`, in this process."""
    return CliRunner().invoke(cli, ["scenarios", *args], prog_name="triage")


GOOD = ROOT / "examples" / "scenarios" / "refused-consent-missing-teenager.yaml"
JOURNEY = ROOT / "examples" / "scenarios" / "journey-review-unchanged-stays.yaml"


def edited(tmp_path: Path, source: Path, name: str, old: str, new: str) -> Path:
    """A copy of the scenario file `source` as tmp_path/name, with `old` replaced once."""
    text = source.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    target = tmp_path / name
    target.write_text(text.replace(old, new), encoding="utf-8")
    return target


def test_cli_ends_with_the_summary_line_and_exits_1_on_a_failure(tmp_path: Path) -> None:
    """A wrong expectation: FAIL with the expectation missed, `1 passed, 1 failed`, exit 1."""
    bad = edited(tmp_path, GOOD, "bad.yaml", "  level: 3", "  level: 4")
    run = scenarios(str(GOOD), str(bad))
    assert run.exit_code == 1
    lines = run.stdout.strip().splitlines()
    assert lines[-1] == "1 passed, 1 failed"
    assert any(line.startswith("FAIL") for line in lines)
    assert "        - level: expected 4, got 3" in lines


def test_cli_passes_on_the_examples() -> None:
    """`triage scenarios`, in a process of its own, passes every example scenario."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "triage.cli",
            "scenarios",
            "-q",
            str(ROOT / "examples" / "scenarios"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1] == f"{len(EXAMPLES)} passed, 0 failed"


def test_one_file_that_does_not_fit_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    """A key typo in one file: that file is INVALID with its line, the good file still passes,
    the summary counts both, and the exit status is 1 (not 2) at the end."""
    typo = edited(tmp_path, GOOD, "typo.yaml", "  level: 3", "  levl: 3")
    run = scenarios(str(typo), str(GOOD))
    assert run.exit_code == 1
    lines = run.stdout.splitlines()
    assert lines[0] == f"INVALID  {typo} has 1 problem"
    assert f"{typo}:18: expect.levl: Extra inputs are not permitted" in lines[1]
    assert f"PASS  {EXAMPLES_BY_FILE[GOOD.name]}" in lines
    assert lines[-1] == "1 passed, 0 failed, 1 file(s) invalid"


def test_a_refused_referral_is_shown_as_its_field_errors(tmp_path: Path) -> None:
    """The FAIL block of an invalid referral is the error and its problems, indented under the
    scenario, with no empty decision block after it."""
    invalid = edited(
        tmp_path,
        GOOD,
        "invalid.yaml",
        "indicator: missing_regularly",
        "indicator: missing_sometimes",
    )
    run = scenarios(str(invalid))
    assert run.exit_code == 1
    lines = run.stdout.splitlines()
    assert lines[0].startswith("FAIL  ")
    assert (
        lines[1] == "      error [referral_invalid]: the referral has 1 problem and was not routed"
    )
    assert lines[2].startswith("        - concerns[0].indicator: is not an indicator")
    assert lines[3] == "0 passed, 1 failed"
    assert "the decision:" not in run.stdout


@pytest.mark.parametrize(
    ("written", "example"),
    [
        # 22 May 2026 is in British Summer Time (+01:00); 15 January is in GMT (+00:00). A date
        # alone is given 09:00 in the example.
        ("2026-05-22", "2026-05-22T09:00:00+01:00"),
        ("2026-01-15", "2026-01-15T09:00:00+00:00"),
        ("2026-05-22T14:30:00", "2026-05-22T14:30:00+01:00"),
        ("2026-05-22 14:30", "2026-05-22T14:30:00+01:00"),
        ('"2026-05-22T14:30"', "2026-05-22T14:30:00+01:00"),
    ],
)
def test_a_received_at_without_utc_offset_is_refused_with_an_example(
    tmp_path: Path, written: str, example: str
) -> None:
    """`received_at` without an offset is refused, naming the field and line, with the same
    moment written with England's offset as the example of what to write."""
    file = edited(
        tmp_path,
        GOOD,
        "naive.yaml",
        "received_at: 2026-03-02T09:30:00+00:00",
        f"received_at: {written}",
    )
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenarios([file])
    (problem,) = caught.value.problems
    assert problem.location == "referral.received_at"
    assert problem.line == 8
    assert problem.message.endswith(f"write for example received_at: {example}")


def test_a_journey_event_time_without_offset_is_refused_at_its_path(tmp_path: Path) -> None:
    """`occurred_at` of a journey event without an offset is refused at its own field path."""
    file = edited(
        tmp_path,
        JOURNEY,
        "naive.yaml",
        "occurred_at: 2026-07-29T14:00:00+01:00",
        "occurred_at: 2026-07-29",
    )
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenarios([file])
    (problem,) = caught.value.problems
    assert problem.location == "journey[0].event.occurred_at"
    assert "not just a date" in problem.message
    assert problem.message.endswith("occurred_at: 2026-07-29T09:00:00+01:00")


def test_junit_has_one_case_per_scenario_and_per_invalid_file(tmp_path: Path) -> None:
    """`--junit FILE`: a passing case, a `failure` for the wrong expectation, an `error` for the
    invalid file; the suite's counts say so."""
    wrong = edited(tmp_path, GOOD, "wrong.yaml", "  level: 3", "  level: 4")
    typo = edited(tmp_path, GOOD, "typo.yaml", "  level: 3", "  levl: 3")
    report = tmp_path / "junit.xml"
    run = scenarios(str(GOOD), str(wrong), str(typo), "--junit", str(report), "-q")
    assert run.exit_code == 1
    suite = ET.parse(report).getroot()
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {case.get("classname"): case for case in suite.iter("testcase")}
    assert list(cases[str(GOOD)]) == []
    (failure,) = cases[str(wrong)]
    assert failure.tag == "failure"
    assert failure.get("message") == "level: expected 4, got 3"
    assert "refused_consent_below_level_4" in (failure.text or "")
    (error,) = cases[str(typo)]
    assert (error.tag, error.get("type")) == ("error", "scenario_invalid")


def test_json_gives_counts_each_outcome_and_each_invalid_file(tmp_path: Path) -> None:
    """`--json`: the counts, each scenario with its failures, the invalid file and its problems."""
    wrong = edited(tmp_path, GOOD, "wrong.yaml", "  level: 3", "  level: 4")
    typo = edited(tmp_path, GOOD, "typo.yaml", "  level: 3", "  levl: 3")
    run = scenarios(str(GOOD), str(wrong), str(typo), "--json")
    assert run.exit_code == 1
    data = json.loads(run.stdout)
    assert (data["passed"], data["failed"]) == (1, 1)
    (invalid,) = data["invalid_files"]
    assert invalid["file"] == str(typo)
    assert invalid["code"] == "scenario_invalid"
    assert [p["location"] for p in invalid["problems"]] == ["expect.levl"]
    outcomes = {o["file"]: o for o in data["scenarios"]}
    assert outcomes[str(GOOD)]["passed"] is True
    assert outcomes[str(wrong)]["failures"] == ["level: expected 4, got 3"]
    assert outcomes[str(wrong)]["error"] is None


def test_scenario_schema_names_the_format_keys() -> None:
    """`triage schema scenario` describes the keys docs/scenarios.md documents, and no others."""
    run = CliRunner().invoke(cli, ["schema", "scenario"])
    schema = json.loads(run.stdout)
    assert set(schema["properties"]) == {
        "name",
        "description",
        "as_of",
        "referral",
        "expect",
        "journey",
    }
    assert schema["additionalProperties"] is False


@given(naive_times)
def test_every_time_without_an_offset_is_refused_with_an_example_that_has_one(
    moment: datetime,
) -> None:
    """Any `received_at` without an offset, as YAML reads it or as text, is refused, and the
    example written in its place is that wall-clock time with an offset."""
    for written in (moment, moment.isoformat()):
        item = {"referral": {"received_at": written}}
        ((loc, why),) = _times_without_offset(item)
        assert loc == ("referral", "received_at")
        example = datetime.fromisoformat(why.rsplit("received_at: ", 1)[1])
        assert example.tzinfo is not None
        assert example.replace(tzinfo=None) == moment


@given(aware_times)
def test_a_time_with_an_offset_is_never_refused(moment: datetime) -> None:
    """A `received_at` with any offset, as an object or as text, passes the check."""
    for written in (moment, moment.isoformat()):
        assert list(_times_without_offset({"referral": {"received_at": written}})) == []


@pytest.mark.parametrize(
    ("old", "new", "location", "near"),
    [
        (
            "route: single_agency_support",
            "route: single_agency_suport",
            "expect.route",
            "single_agency_support",
        ),
        (
            "rules_fired: [single_level_3_indicator, refused_consent_below_level_4]",
            "rules_fired: [single_level_3_indicator, refused_consent_below_level4]",
            "expect.rules_fired[1]",
            "refused_consent_below_level_4",
        ),
    ],
)
def test_an_expectation_naming_an_id_the_rulebook_lacks_is_an_error_not_a_failure(
    tmp_path: Path, runner: ScenarioRunner, old: str, new: str, location: str, near: str
) -> None:
    """A typo in an expected route or rule id is a `scenario_invalid` error naming the field,
    the nearest id and the valid ids, not a FAIL that reads as the rules deciding wrongly."""
    (item,) = load_scenarios([edited(tmp_path, GOOD, "typo.yaml", old, new)])
    outcome = runner.run(item)
    assert outcome.failures == []
    assert isinstance(outcome.error, ScenarioInvalid)
    (problem,) = outcome.error.problems
    assert problem.location == location
    assert problem.value == new.split(": ", 1)[1].strip("[]").split(", ")[-1]
    assert f"did you mean {near}?" in problem.message
    assert near in problem.valid
