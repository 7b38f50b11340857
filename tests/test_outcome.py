"""The Front Door manager's outcome: a `triage_outcome` record in the chain, refusals, replay."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner

from tests.conftest import concerns, make_referral
from triage.audit import DecisionLog, replay_log, verify_log
from triage.audit.outcome import ManagerOutcome, parse_outcome
from triage.audit.record import Pseudonymiser
from triage.cli import cli
from triage.engine import FrontDoor
from triage.errors import MoveRefused, OutcomeRefused
from triage.pathway import PathwayGraph, load_pathway
from triage.rulebook import Rulebook

KEY = "synthetic-test-key-0001"


@pytest.fixture(name="pathway", scope="module")
def fixture_pathway() -> PathwayGraph:
    return load_pathway()


def _route(log: DecisionLog, door: FrontDoor, **fields: Any) -> str:
    """Route one synthetic referral into the log; the (only) child's decision id."""
    (decision,) = log.route(door, make_referral(**fields))
    return decision.decision_id


def _override(
    decision_id: str, route: str, reason: str, level: int | None = None
) -> ManagerOutcome:
    return ManagerOutcome(
        decision_id=decision_id,
        outcome="overridden",
        route=route,
        level=level,
        reason=reason,
        decided_by="fdm-synthetic-7",
    )


def _accept(decision_id: str) -> ManagerOutcome:
    return ManagerOutcome(
        decision_id=decision_id,
        outcome="accepted",
        decided_by="fdm-synthetic-7",
    )


def test_an_override_is_a_record_in_the_chain_linked_to_its_decision(
    tmp_path: Path, reference: FrontDoor, pathway: PathwayGraph
) -> None:
    """The outcome is seq 4 (genesis, snapshot, decision, outcome), names the decision record's
    seq and hash, and a tampered outcome fails verify at its own line."""
    target = tmp_path / "log.jsonl"
    with DecisionLog(target, key=KEY) as log:
        # A 6-year-old with domestic abuse (level 3), consent given: intensive early help.
        decision_id = _route(log, reference, concerns=concerns("domestic_abuse"))
        record = log.record_outcome(
            _override(decision_id, "child_and_family_assessment", "history_of_concerns", 4),
            pathway=pathway,
        )
    lines = target.read_text().splitlines()
    decision_line = json.loads(lines[2])
    assert record.seq == 4
    assert record.kind.value == "triage_outcome"
    assert record.input is not None
    link = record.input["decision"]
    assert link == {
        "decision_id": Pseudonymiser(KEY.encode())(decision_id),
        "child_id": Pseudonymiser(KEY.encode())("C-TEST-1"),
        "seq": 3,
        "hash": decision_line["hash"],
    }
    (decided,) = record.output
    assert decided["recommended"] == {"level": 3, "route": "intensive_early_help"}
    assert (decided["route"], decided["level"], decided["direction"]) == (
        "child_and_family_assessment",
        4,
        "up",
    )
    assert verify_log(target).ok
    lines[3] = lines[3].replace("history_of_concerns", "service_already_involved")
    target.write_text("\n".join(lines) + "\n")
    report = verify_log(target)
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad[0] == 4


def test_the_log_holds_no_name_and_no_note_unless_detail_is_kept(
    tmp_path: Path, reference: FrontDoor
) -> None:
    outcome = ManagerOutcome(
        decision_id="unused",
        outcome="accepted",
        note="synthetic note: spoke to the school",
        decided_by="fdm-synthetic-7",
    )
    for keep, target in ((False, tmp_path / "a.jsonl"), (True, tmp_path / "b.jsonl")):
        with DecisionLog(target, key=KEY, keep_detail=keep) as log:
            decision_id = _route(log, reference, concerns=concerns("domestic_abuse"))
            record = log.record_outcome(outcome.model_copy(update={"decision_id": decision_id}))
        text = target.read_text()
        assert "fdm-synthetic-7" not in text
        assert decision_id not in text
        assert record.decided_by == Pseudonymiser(KEY.encode())("fdm-synthetic-7")
        assert ("spoke to the school" in text) is keep
        assert record.privacy.removed == (() if keep else ("output[].note",))


def test_an_outcome_for_an_unknown_decision_is_refused(
    tmp_path: Path, reference: FrontDoor
) -> None:
    with DecisionLog(tmp_path / "log.jsonl", key=KEY) as log:
        _route(log, reference, concerns=concerns("domestic_abuse"))
        with pytest.raises(OutcomeRefused, match="no decision record") as refused:
            log.record_outcome(_accept("D-not-in-this-log"))
    assert refused.value.code == "outcome_refused"
    assert "D-not-in-this-log" not in refused.value.message


def test_a_second_outcome_for_one_decision_is_refused(tmp_path: Path, reference: FrontDoor) -> None:
    target = tmp_path / "log.jsonl"
    with DecisionLog(target, key=KEY) as log:
        decision_id = _route(log, reference, concerns=concerns("domestic_abuse"))
        log.record_outcome(_accept(decision_id))
        with pytest.raises(OutcomeRefused, match="already has an outcome, at seq 4"):
            log.record_outcome(_override(decision_id, "strategy_discussion", "history_of_concerns"))
    assert len(target.read_text().splitlines()) == 4  # nothing appended by the refusal


@pytest.mark.parametrize(
    ("route", "reason", "error", "match"),
    [
        (
            "no_such_route",
            "history_of_concerns",
            OutcomeRefused,
            "not in the rulebook.*manual_review",
        ),
        ("strategy_discussion", "gut_feeling", OutcomeRefused, "history_of_concerns"),
        ("intensive_early_help", "history_of_concerns", OutcomeRefused, "accept it instead"),
        # allowed: a route of the rulebook, reached from the Front Door, off the level bands
        ("allocated_worker", "history_of_concerns", None, None),
    ],
)
def test_an_override_the_rulebook_does_not_allow_is_refused(
    tmp_path: Path,
    reference: FrontDoor,
    pathway: PathwayGraph,
    route: str,
    reason: str,
    error: type[Exception] | None,
    match: str | None,
) -> None:
    with DecisionLog(tmp_path / "log.jsonl", key=KEY) as log:
        decision_id = _route(log, reference, concerns=concerns("domestic_abuse"))
        if error is None:
            assert log.record_outcome(_override(decision_id, route, reason), pathway).seq == 4
            return
        with pytest.raises(error, match=match):
            log.record_outcome(_override(decision_id, route, reason), pathway)


def test_an_override_to_a_route_the_pathway_refuses_is_refused(
    tmp_path: Path, reference: FrontDoor, pathway: PathwayGraph
) -> None:
    """An unborn child cannot be taken into immediate protection: the pathway's node for it
    serves born children only (an EPO needs a born child)."""
    unborn = [{"child_id": "C-TEST-1", "expected_date_of_birth": "2026-06-01"}]
    with DecisionLog(tmp_path / "log.jsonl", key=KEY) as log:
        unborn_id = _route(log, reference, children=unborn, concerns=concerns("domestic_abuse"))
        with pytest.raises(MoveRefused, match="emergency_protection serves ages") as refused:
            log.record_outcome(
                _override(unborn_id, "emergency_protection", "history_of_concerns"), pathway
            )
        assert refused.value.code == "move_refused"
        born_id = _route(
            log, reference, referral_id="R-TEST-2", concerns=concerns("domestic_abuse")
        )
        record = log.record_outcome(
            _override(born_id, "emergency_protection", "history_of_concerns"), pathway
        )
    assert record.output[0]["level"] == 4  # the pathway node's level
    assert record.output[0]["direction"] == "up"


def test_a_malformed_outcome_names_the_field_and_not_the_value() -> None:
    with pytest.raises(OutcomeRefused, match="gives a coded reason") as refused:
        parse_outcome(
            {"decision_id": "D-1", "outcome": "overridden", "route": "x", "decided_by": "w"}
        )
    assert refused.value.code == "outcome_refused"
    with pytest.raises(OutcomeRefused, match="takes no route"):
        parse_outcome(
            {"decision_id": "D-1", "outcome": "accepted", "route": "x", "decided_by": "w"}
        )
    with pytest.raises(OutcomeRefused, match="decided_by") as missing:
        parse_outcome({"decision_id": "D-secret-9", "outcome": "accepted"})
    assert "D-secret-9" not in str(missing.value)


def _three_outcomes(target: Path, door: FrontDoor, pathway: PathwayGraph) -> None:
    """Domestic abuse overridden up (3 -> 4, assessment), a non-mobile baby's injury overridden
    down (strategy discussion, 4 -> the assessment's level 3 on the pathway), domestic abuse
    accepted."""
    with DecisionLog(target, key=KEY) as log:
        up = _route(log, door, referral_id="R-1", concerns=concerns("domestic_abuse"))
        down = _route(log, door, referral_id="R-2", concerns=concerns("non_mobile_baby_injury"))
        kept = _route(log, door, referral_id="R-3", concerns=concerns("domestic_abuse"))
        log.record_outcome(
            _override(up, "child_and_family_assessment", "professional_judgement_risk_higher", 4),
            pathway,
        )
        log.record_outcome(
            _override(down, "child_and_family_assessment", "professional_judgement_risk_lower"),
            pathway,
        )
        log.record_outcome(_accept(kept), pathway)


def test_replay_reports_recommendations_against_outcomes(
    tmp_path: Path, reference: FrontDoor, pathway: PathwayGraph
) -> None:
    target = tmp_path / "log.jsonl"
    _three_outcomes(target, reference, pathway)
    report = replay_log(target)
    assert report.different == 0
    assert report.manager is not None
    summary = report.manager.to_json()
    assert summary["outcomes"] == 3
    assert summary["accepted"] == 1
    assert summary["overridden"] == 2
    assert summary["overridden_by_direction"] == {
        "up": 1,
        "down": 1,
        "across": 0,
        "from_undecided": 0,
    }
    assert summary["overridden_by_route"] == {"child_and_family_assessment": 2}
    assert summary["overridden_by_reason"] == {
        "professional_judgement_risk_higher": 1,
        "professional_judgement_risk_lower": 1,
    }


def test_a_what_if_counts_the_overrides_the_revised_rulebook_makes_as_the_manager_did(
    tmp_path: Path,
    reference: FrontDoor,
    pathway: PathwayGraph,
    edited_rules: Callable[..., Path],
) -> None:
    """With domestic abuse at level 4, a 6-year-old with it (no suspected significant harm
    indicator) goes to a child and family assessment at level 4: what the manager decided for
    the first referral; the accepted one changes; the baby's injury is still level 4."""
    target = tmp_path / "log.jsonl"
    _three_outcomes(target, reference, pathway)
    revised = edited_rules(
        (
            "indicators.yaml",
            "  - id: domestic_abuse\n    label: Domestic abuse in the child's household\n"
            "    domain: parenting_capacity\n    level: 3",
            "  - id: domestic_abuse\n    label: Domestic abuse in the child's household\n"
            "    domain: parenting_capacity\n    level: 4",
        )
    )
    report = replay_log(target, against=revised, engine="reference")
    assert report.manager is not None
    summary = report.manager.to_json()
    assert summary["overrides_now_as_manager_decided"] == 1
    assert summary["accepted_now_changed"] == 1


def test_the_cli_records_an_outcome_and_refuses_both_accept_and_override(
    tmp_path: Path,
    reference: FrontDoor,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.setenv("TRIAGE_LOG_KEY", KEY)
    target = tmp_path / "log.jsonl"
    with DecisionLog(target, key=KEY) as log:
        decision_id = _route(log, reference, concerns=concerns("domestic_abuse"))
    runner = CliRunner()
    saved = structlog.get_config()  # the CLI configures logging for the whole process
    request.addfinalizer(lambda: structlog.configure(**saved))
    both = runner.invoke(
        cli, ["outcome", str(target), decision_id, "--accept", "--override", "x", "--by", "w"]
    )
    assert both.exit_code == 2
    assert "exactly one of --accept and --override" in both.output
    done = runner.invoke(
        cli,
        [
            "outcome",
            str(target),
            decision_id,
            "--override",
            "strategy_discussion",
            "--reason",
            "information_not_in_referral",
            "--by",
            "fdm-synthetic-7",
        ],
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["output"][0]["direction"] == "up"  # level 3 -> the node's 4
    again = runner.invoke(cli, ["outcome", str(target), decision_id, "--accept", "--by", "w"])
    assert again.exit_code == 2
    assert "[outcome_refused]" in again.output


def test_a_rulebook_without_override_reasons_keeps_its_fingerprint(kent: Rulebook) -> None:
    """Logs written before override_reasons existed name fingerprints of dumps without it."""
    data = kent.model_dump(mode="json")
    del data["override_reasons"]
    old = Rulebook.model_validate(data)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert old.fingerprint == hashlib.sha256(text.encode()).hexdigest()
    assert kent.fingerprint != old.fingerprint  # Kent's own list is part of its fingerprint
