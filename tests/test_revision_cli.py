"""The routing commands on a revision: `--rules rules/kent-families-first` routes and decides
journeys on the edition in force (`--go-live DATE`, default the revision's), `lint` checks the
move, and a log routed across go-live verifies and replays."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from triage.cli import cli

from .conftest import concerns, make_referral

FF = str(Path(__file__).parent.parent / "rules" / "kent-families-first")
KEY = "a test key for the command line's revision tests"


@pytest.fixture(autouse=True)
def _keep_structlog_configuration() -> Iterator[None]:
    """The command line configures structlog for the process; in-process runs put it back."""
    before = structlog.get_config()
    yield
    structlog.configure(**before)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = CliRunner(env={"TRIAGE_LOG_KEY": KEY}).invoke(
        cli, list(args), input=stdin, prog_name="triage"
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def level_3(received: str, referral_id: str = "R-CLI-1") -> str:
    return json.dumps(
        make_referral(
            referral_id=referral_id,
            received_at=received,
            children=[{"child_id": "C-CLI-1", "date_of_birth": "2016-01-10"}],
            concerns=concerns("persistent_absence"),
        )
    )


def routes(output: str) -> list[tuple[str, str]]:
    decisions = [json.loads(line) for line in output.splitlines()]
    return [(d["route"], d["rulebook"]["id"]) for d in decisions]


def test_route_on_a_revision_follows_the_edition_in_force() -> None:
    after = level_3("2026-04-02T10:00:00+01:00")
    result = run("route", "-", "--rules", FF, "--engine", "reference", stdin=after)
    assert result.returncode == 0, result.stderr
    assert routes(result.stdout) == [("family_help", "kent_families_first")]
    later = run(
        "route", "-", "--rules", FF, "--go-live", "2026-06-01", "--engine", "reference", stdin=after
    )
    assert routes(later.stdout) == [("intensive_early_help", "kent")]
    before = run(
        "route",
        "-",
        "--rules",
        FF,
        "--engine",
        "reference",
        stdin=level_3("2026-03-31T10:00:00+01:00"),
    )
    assert routes(before.stdout) == [("intensive_early_help", "kent")]


def test_go_live_needs_a_revision() -> None:
    result = run("route", "-", "--go-live", "2026-04-01", stdin=level_3("2026-04-02"))
    assert result.returncode == 2
    assert "--go-live goes with --rules naming a revision" in result.stderr


def test_journey_on_a_revision_moves_an_open_case_on_go_live() -> None:
    event = {
        "event_id": "E-CLI-1",
        "child_id": "C-CLI-1",
        "occurred_at": "2026-04-01T09:00:00+01:00",
        "event": "service_redesign",
        "service": "intensive_early_help",
        "date_of_birth": "2016-01-10",
    }
    result = run("journey", "-", "--rules", FF, "--engine", "reference", stdin=json.dumps(event))
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert (decision["kind"], decision["to_service"]) == ("redesign", "family_help")


def test_lint_of_a_revision_checks_the_move_from_the_rulebook_it_revises() -> None:
    result = run("lint", FF)
    assert result.returncode == 0, result.stdout
    assert "revises kent 2.0.0: every service it retires has one successor" in result.stdout


def test_a_batch_routed_across_go_live_is_logged_verified_and_replayed(tmp_path: Path) -> None:
    log = str(tmp_path / "log.jsonl")
    lines = "\n".join(
        level_3(received, f"R-CLI-{n}")
        for n, received in enumerate(["2026-03-30T10:00:00+01:00", "2026-04-02T10:00:00+01:00"])
    )
    routed = run("route", "-", "--batch", "--rules", FF, "--log", log, stdin=lines)
    assert routed.returncode == 0, routed.stderr
    assert routes(routed.stdout) == [
        ("intensive_early_help", "kent"),
        ("family_help", "kent_families_first"),
    ]
    assert run("verify", log).returncode == 0
    replayed = run("replay", log, "--json")
    assert replayed.returncode == 0, replayed.stderr
    summary = json.loads(replayed.stdout)
    assert (summary["decisions"], summary["different"]) == (2, 0)
