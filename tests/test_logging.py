"""Each decision is logged as data: ids and outcomes, never personal data."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from triage import FrontDoor, Rulebook

from .conftest import concerns, make_referral
from .test_fail_safe import BrokenEvaluator

README_EXAMPLE = (
    Path(__file__).resolve().parent.parent / "examples" / "referrals" / "police-domestic-abuse.json"
)


def test_referral_triaged_event_carries_outcomes_not_personal_data(durable: FrontDoor) -> None:
    referral = make_referral(
        referral_id="R-PRIVATE-9",
        children=[{"child_id": "C-PRIVATE-9", "date_of_birth": "2019-05-01"}],
        concerns=concerns("physical_abuse"),
        detail="free text that must never be logged",
    )
    with capture_logs() as events:
        (decision,) = durable.route(referral)
    (event,) = [e for e in events if e["event"] == "referral_triaged"]
    assert event["decision_id"] == decision.decision_id
    assert (event["level"], event["route"]) == (4, "strategy_discussion")
    assert event["rulebook_version"] == "2.0.0"
    text = repr(events)
    for secret in ("R-PRIVATE-9", "C-PRIVATE-9", "2019-05-01", "free text"):
        assert secret not in text


def test_an_engine_fault_is_logged_without_case_data(kent: Rulebook) -> None:
    door = FrontDoor(kent, engine=BrokenEvaluator(kent, "level"))
    with capture_logs() as events:
        (decision,) = door.route(make_referral(concerns=concerns("physical_abuse")))
    assert decision.route == "manual_review"
    fault = next(e for e in events if e["event"] == "engine_fault")
    assert fault["log_level"] == "error"
    assert "R-TEST-1" not in repr(fault)


def test_the_library_obeys_each_new_structlog_configuration(reference: FrontDoor) -> None:
    """Each `capture_logs` (a new configuration) receives the events routed inside it."""
    referral = make_referral(concerns=concerns("physical_abuse"))
    with capture_logs() as first:
        reference.route(referral)
        with capture_logs() as second:
            reference.route(referral)
            reference.route(referral)
        reference.route(referral)
    assert [e["event"] for e in second] == ["referral_triaged", "referral_triaged"]
    assert [e["event"] for e in first] == ["referral_triaged", "referral_triaged"]


@pytest.fixture(name="restored_logging")
def fixture_restored_logging() -> Iterator[None]:
    before = structlog.get_config()
    yield
    structlog.configure(**before)


@pytest.mark.usefixtures("restored_logging")
def test_a_logger_factory_that_chooses_its_stream_per_call_is_obeyed(reference: FrontDoor) -> None:
    """An application whose logger factory writes to the stream of the moment (here the
    current stdout) gets each referral's events there, even after the earlier stream closed:
    the library never keeps a logger from one referral to the next."""
    structlog.configure(
        processors=[structlog.processors.KeyValueRenderer(key_order=["event"])],
        logger_factory=lambda *args: structlog.PrintLogger(sys.stdout),
    )
    referral = make_referral(concerns=concerns("physical_abuse"))
    first, second = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(first):
        reference.route(referral)
    first.close()
    with contextlib.redirect_stdout(second):
        (decision,) = reference.route(referral)
    assert decision.route == "strategy_discussion"
    assert "event='referral_triaged'" in second.getvalue()


# A host that configured nothing: route, decide a journey, and write a decision log.
QUIET_HOST = """
import sys
from pathlib import Path

from triage import FrontDoor
from triage.audit import DecisionLog, replay_log
from triage.journey import Journeys

referral = Path(sys.argv[1]).read_text()
door = FrontDoor()
door.route(referral)
FrontDoor(engine="reference").route(referral)
Journeys(door.rulebook).decide({
    "event_id": "E-1", "child_id": "C-1", "occurred_at": "2026-05-04T10:00:00+01:00",
    "event": "plan_ended", "service": "child_protection_plan", "date_of_birth": "2015-01-01",
    "findings": ["concerns_reduced"], "consent": "given",
})
with DecisionLog(Path(sys.argv[2]), key="a synthetic key, 16+ chars") as log:
    log.route(door, referral)
    log.route_batch(door, [referral] * 3)
assert replay_log(sys.argv[2], workers=2).identical == 4  # in worker processes
"""


def _host(
    tmp_path: Path, *lines: str, script: str = QUIET_HOST
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "\n".join(lines) + script,
            str(README_EXAMPLE),
            str(tmp_path / "log.jsonl"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_the_library_writes_nothing_where_the_host_configured_no_logging(tmp_path: Path) -> None:
    """Unconfigured structlog would print each decision on stdout; the library stays silent."""
    done = _host(tmp_path)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
    assert (tmp_path / "log.jsonl").stat().st_size > 0  # the work was done


def test_a_host_that_configures_stdlib_logging_gets_the_events(tmp_path: Path) -> None:
    """With `logging.basicConfig(level=INFO)` and no structlog configuration, each decision's
    event reaches the host's handler (stderr here) as one JSON line; stdout stays the host's."""
    done = _host(tmp_path, "import logging", "logging.basicConfig(level=logging.INFO)")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    events = [
        json.loads(line.split(":", 2)[2])
        for line in done.stderr.splitlines()
        if line.startswith("INFO:triage")
    ]
    names = [e["event"] for e in events]
    # Two routes and four logged, each of one child; one journey move (a protection plan ending
    # with concerns reduced and consent steps down); the four logged decisions' records, from
    # the `triage.audit` logger. (The replay workers' own events stay in the workers: the
    # host's `logging` set-up is not theirs.)
    assert names.count("referral_triaged") == 6
    assert names.count("case_stepped_down") == 1
    assert names.count("decision_recorded") == 4
    assert sum(line.startswith("INFO:triage.audit:") for line in done.stderr.splitlines()) == 4
    assert all(e["log_level"] == "info" for e in events)
    assert {e["level"] for e in events if e["event"] == "referral_triaged"} == {3}
    assert "R-1" not in done.stderr
    assert "C-1" not in done.stderr


def test_the_cli_verbose_flag_still_logs_each_decision_to_stderr() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "triage.cli", "-v", "route", str(README_EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["route"] == "intensive_early_help"
    # (Where durable_rules does not import, an `engine_fallback` line comes first.)
    (event,) = [
        e for e in map(json.loads, done.stderr.splitlines()) if e["event"] != "engine_fallback"
    ]
    assert (event["event"], event["level"], event["log_level"]) == ("referral_triaged", 3, "info")
