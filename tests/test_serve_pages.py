"""The playground's pages through the test client: the roles a browser presents, the refusals,
and the what-if's revised rulebook (the browser tests drive the pages themselves)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings

from tests.conftest import concerns, make_referral
from tests.strategies import whatif_changes
from triage import FrontDoor, Rulebook, load_rulebook
from triage.audit import DecisionLog, replay_log
from triage.serve import Settings, create_app, hash_token
from triage.serve.pages.whatif import RevisionRefused, revise, thresholds

KEY = "synthetic-test-key-0001"
FRONT_DOOR = "front-door-token-synthetic-0001"
AUDITOR = "auditor-token-synthetic-0002"


def basic(token: str) -> dict[str, str]:
    """A browser's HTTP Basic credentials: the token is the password."""
    return {"authorization": "Basic " + base64.b64encode(f"anyone:{token}".encode()).decode()}


@pytest.fixture(name="log_target")
def fixture_log_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRIAGE_LOG_KEY", KEY)
    target = f"sqlite:///{tmp_path / 'log.sqlite'}"
    with DecisionLog(target) as log:
        log.route(FrontDoor(engine="reference"), make_referral(concerns=concerns("domestic_abuse")))
    return target


@pytest.fixture(name="guarded")
def fixture_guarded(tmp_path: Path, log_target: str) -> Iterator[TestClient]:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"front_door {hash_token(FRONT_DOOR)}\nauditor {hash_token(AUDITOR)}\n")
    settings = Settings(log=log_target, engine="reference", tokens_file=str(tokens))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(name="open_client")
def fixture_open_client(log_target: str) -> Iterator[TestClient]:
    settings = Settings(log=log_target, engine="reference", max_body=2048)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_the_auditor_page_asks_a_browser_for_a_token(guarded: TestClient) -> None:
    """401 with a Basic challenge, so that the browser itself asks; no page content."""
    response = guarded.get("/log")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="triage", charset="UTF-8"'
    assert "This page needs a token" in response.text
    assert "Verify" not in response.text


def test_the_auditor_page_refuses_the_front_door_role_and_serves_the_auditor(
    guarded: TestClient,
) -> None:
    refused = guarded.get("/log", headers=basic(FRONT_DOOR))
    assert refused.status_code == 403
    assert "This page is for another role" in refused.text
    assert guarded.get("/log", headers=basic("not-a-token-at-all")).status_code == 401
    served = guarded.get("/log", headers=basic(AUDITOR))
    assert served.status_code == 200
    assert "Verify: the chain holds" in served.text
    assert "1 of 1 decisions decided again identically" in served.text


def test_with_tokens_only_the_log_pages_are_served(guarded: TestClient) -> None:
    for path in ("/", "/scenarios", "/what-if", "/thresholds"):
        assert guarded.get(path, headers=basic(AUDITOR)).status_code == 404, path
    assert guarded.get("/log/record?which=3", headers=basic(FRONT_DOOR)).status_code == 200


def test_an_outcome_needs_the_front_door_role(guarded: TestClient) -> None:
    form = {"decision_id": "p-x", "seq": "3", "outcome": "accepted", "decided_by": "fdm-1"}
    assert guarded.post("/log/outcome", data=form, headers=basic(AUDITOR)).status_code == 403
    unknown = guarded.post("/log/outcome", data=form, headers=basic(FRONT_DOOR))
    assert unknown.status_code == 409
    assert "no decision record in the log holds that decision id" in unknown.text


def test_an_outcome_posted_from_another_site_is_refused(open_client: TestClient) -> None:
    form = {"decision_id": "p-x", "seq": "3", "outcome": "accepted", "decided_by": "fdm-1"}
    response = open_client.post("/log/outcome", data=form, headers={"sec-fetch-site": "cross-site"})
    assert response.status_code == 403
    assert "refused: the form came from elsewhere" in response.text


def test_an_override_without_a_reason_is_shown_beside_the_reason(open_client: TestClient) -> None:
    record = open_client.get("/log/record?which=3").text
    pseudonym = record.split('name="decision_id" value="')[1].split('"')[0]
    form = {
        "decision_id": pseudonym,
        "seq": "3",
        "outcome": "overridden",
        "decided_by": "fdm-1",
        "route": "strategy_discussion",
    }
    response = open_client.post("/log/outcome", data=form)
    assert response.status_code == 422
    assert '<p class="error" id="o1-reason-error">an override names the reason decided</p>' in (
        response.text
    )


def test_a_scenario_upload_over_the_limit_is_refused_before_it_is_read(
    open_client: TestClient,
) -> None:
    files = {"file": ("big.yaml", b"name: x\n" * 400, "application/yaml")}
    response = open_client.post("/scenarios", files=files)
    assert response.status_code == 413
    assert "the upload is over 2048 bytes" in response.text


def test_the_pages_carry_no_script_and_a_strict_policy(open_client: TestClient) -> None:
    for path in ("/", "/scenarios", "/what-if", "/thresholds", "/log", "/log/record?which=3"):
        response = open_client.get(path)
        assert response.status_code == 200, path
        assert "<script" not in response.text, path
        policy = response.headers["content-security-policy"]
        assert policy.startswith("default-src 'none'; style-src 'self'; form-action 'self'")


# --- the what-if's revised rulebook --------------------------------------------------------------


def test_the_count_thresholds_are_each_rules_min_and_max(kent: Rulebook) -> None:
    found = {t.id: t for t in thresholds(kent)}
    level_2 = found["accumulated_level_2_needs/0/min"]
    assert level_2.value == 3
    assert level_2.words == "accumulated_level_2_needs: at least 3 distinct concerns (level 2)"
    assert found["accumulated_level_2_needs/1/min"].value == 2  # the domains it spans


def test_a_revised_rulebook_is_a_validated_copy_with_the_one_change(kent: Rulebook) -> None:
    revised, words = revise(
        kent, {"change": "threshold", "threshold": "accumulated_level_2_needs/0/min", "value": "2"}
    )
    assert words == "accumulated_level_2_needs: min 3 -> 2"
    assert revised.version == kent.version + "+what-if"
    changed = revised.rule_by_id["accumulated_level_2_needs"].model_dump(mode="json")
    assert changed["when"]["all"][0]["concerns"]["min"] == 2
    others = [r for r in revised.rules if r.id != "accumulated_level_2_needs"]
    assert others == [r for r in kent.rules if r.id != "accumulated_level_2_needs"]
    moved, _ = revise(kent, {"change": "indicator", "indicator": "bullying", "level": "3"})
    assert moved.indicator_by_id["bullying"].level == 3


def test_a_change_the_rulebook_refuses_is_shown_beside_its_field(kent: Rulebook) -> None:
    with pytest.raises(RevisionRefused) as refused:
        revise(kent, {"change": "indicator", "indicator": "no_such_indicator", "level": "3"})
    assert refused.value.field == "indicator"
    with pytest.raises(RevisionRefused) as refused:
        revise(
            kent,
            {"change": "threshold", "threshold": "accumulated_level_2_needs/0/min", "value": "-1"},
        )
    assert refused.value.field == "value"


def test_replay_against_a_rulebook_in_memory_agrees_with_one_on_disk(
    kent: Rulebook, edited_rules: object, log_target: str
) -> None:
    """The what-if against a `Rulebook` decides as the same change made in a directory."""
    with DecisionLog(log_target) as log:
        door = FrontDoor(engine="reference")
        for needs in (("speech_language_difficulty", "poverty_affecting_child"), ("bullying",)):
            log.route(door, make_referral(referral_id=f"R-{needs[0]}", concerns=concerns(*needs)))
    revised, _ = revise(
        kent, {"change": "threshold", "threshold": "accumulated_level_2_needs/0/min", "value": "2"}
    )
    directory = edited_rules(  # type: ignore[operator]
        ("rules.yaml", "concerns: {level: 2, min: 3}", "concerns: {level: 2, min: 2}")
    )
    in_memory = replay_log(log_target, against=revised)
    on_disk = replay_log(log_target, against=directory)
    # Worked by hand: domestic abuse stays level 3; two level-2 needs in two domains move from
    # level 2 to 3; one level-2 need stays level 2.
    assert (in_memory.decisions, in_memory.different) == (3, 1)
    assert in_memory.levels == on_disk.levels
    assert in_memory.routes == on_disk.routes
    assert in_memory.continuum == tuple(route.id for route in load_rulebook(directory).routes)


KENT = load_rulebook()


def _differences(old: Any, new: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths at which two JSON values differ."""
    if isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys():
        return [p for key in old for p in _differences(old[key], new[key], (*at, key))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            p
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for p in _differences(a, b, (*at, i))
        ]
    return [] if old == new else [at]


# Each example validates a whole rulebook (about 60 ms): 50 keep the test to a few seconds.
@settings(max_examples=50)
@given(change=whatif_changes([t.id for t in thresholds(KENT)], [i.id for i in KENT.indicators]))
def test_a_revision_changes_the_one_value_asked_and_the_version_only(
    change: dict[str, str],
) -> None:
    """Invariant: the what-if's rulebook is the loaded one but for the version and the one value
    the form names (or the change is refused, beside a field)."""
    try:
        revised, _ = revise(KENT, change)
    except RevisionRefused as refused:
        assert refused.field in ("value", "level")
        return
    old, new = KENT.model_dump(mode="json"), revised.model_dump(mode="json")
    changed = [p for p in _differences(old, new) if p != ("rulebook", "version")]
    assert new["rulebook"]["version"] == old["rulebook"]["version"] + "+what-if"
    if change["change"] == "indicator":
        index = [i["id"] for i in old["indicators"]].index(change["indicator"])
        same = old["indicators"][index]["level"] == int(change["level"])
        assert changed == ([] if same else [("indicators", index, "level")])
        assert new["indicators"][index]["level"] == int(change["level"])
        return
    rule, _, bound = change["threshold"].split("/")
    index = [r["id"] for r in old["rules"]].index(rule)
    assert len(changed) <= 1
    for path in changed:
        assert path[:3] == ("rules", index, "when")
        assert path[-1] == bound
        value: Any = new
        for part in path:
            value = value[part]
        assert value == int(change["value"])


def test_a_form_over_the_size_limit_is_refused_whole(open_client: TestClient) -> None:
    """413, never a form read in part (a cut body could drop a concern and route lower)."""
    form = {"received_on": "2026-03-02", "concern": ["domestic_abuse"] * 200}
    response = open_client.post("/", data=form)
    assert response.status_code == 413
    assert "refused: the form is over the size limit" in response.text
    outcome = {"decision_id": "p-x", "seq": "3", "outcome": "accepted", "note": "x" * 3000}
    assert open_client.post("/log/outcome", data=outcome).status_code == 413
