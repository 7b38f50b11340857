"""What would change this decision: single changes to the facts, decided by the same door."""

from __future__ import annotations

import json
from pathlib import Path

import structlog
from click.testing import CliRunner
from structlog.testing import capture_logs

from tests.conftest import concerns, make_referral
from triage.changes import ChangeKind, what_would_change
from triage.cli import cli
from triage.engine import FrontDoor

# A 6-year-old with domestic abuse in the household (level 3), consent given: intensive early
# help (rule level_3_intensive_early_help).
REFERRAL = make_referral(concerns=concerns("domestic_abuse"))


def test_the_changes_that_move_a_level_three_referral(reference: FrontDoor) -> None:
    """Worked out from rules/kent/rules.yaml: refused consent below level 4 goes to the
    referrer's agency (priority 60 over 40); immediate danger is level 4, emergency
    protection; a level-3 child in need indicator (significant_disability) calls for an
    assessment; a level-4 indicator of significant harm (non_mobile_baby_injury) for a
    strategy discussion; with no concern at all no level rule applies (manual review)."""
    (child,) = what_would_change(reference, REFERRAL)
    assert (child.level, child.route) == (3, "intensive_early_help")
    found = {(c.kind, c.indicator, c.consent, c.level, c.route, c.direction) for c in child.changes}
    assert (ChangeKind.CONSENT, None, "refused", 3, "single_agency_support", "across") in found
    assert (ChangeKind.IMMEDIATE_DANGER, None, None, 4, "emergency_protection", "up") in found
    assert (
        ChangeKind.REMOVE_CONCERN,
        "domestic_abuse",
        None,
        None,
        "manual_review",
        "undecided",
    ) in found
    routes_added = {(c.level, c.route) for c in child.changes if c.kind is ChangeKind.ADD_CONCERN}
    assert {(3, "child_and_family_assessment"), (4, "strategy_discussion")} <= routes_added
    # consent not sought only adds a flag: the level and route stay, so it is not a change
    assert all(c.consent != "not_sought" for c in child.changes)
    # one added concern per outcome, the others counted
    added = [(c.level, c.route) for c in child.changes if c.kind is ChangeKind.ADD_CONCERN]
    assert len(added) == len(set(added))


def test_nearby_referrals_are_not_logged_as_decisions(reference: FrontDoor) -> None:
    structlog.reset_defaults()  # a CLI test may have left info events filtered out
    with capture_logs() as events:
        what_would_change(reference, REFERRAL)
    assert [e for e in events if e["event"] == "referral_triaged"] == []


def test_both_evaluators_find_the_same_changes(durable: FrontDoor, reference: FrontDoor) -> None:
    assert what_would_change(durable, REFERRAL) == what_would_change(reference, REFERRAL)


def test_explain_changes_prints_them_under_the_decision(tmp_path: Path) -> None:
    path = tmp_path / "referral.json"
    path.write_text(json.dumps(REFERRAL))
    saved = structlog.get_config()
    try:
        result = CliRunner().invoke(
            cli, ["explain", str(path), "--changes", "--engine", "reference"]
        )
    finally:
        structlog.configure(**saved)  # the CLI configures logging for the whole process
    assert result.exit_code == 0, result.output
    assert "What would change this decision" in result.output
    assert "with consent refused: level 3, single_agency_support (across)" in result.output
