"""`triage serve` through FastAPI's test client: each refusal, each endpoint, the contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from tests.conftest import concerns, make_referral
from triage.audit.record import Pseudonymiser
from triage.errors import UsageError
from triage.referral import Referral
from triage.rulebook import Rulebook
from triage.serve import Settings, create_app, hash_token
from triage.serve.settings import TOKENS_VARIABLE

KEY = "synthetic-test-key-0001"
FRONT_DOOR = "front-door-token-synthetic-0001"
AUDITOR = "auditor-token-synthetic-0002"
ROOT = Path(__file__).resolve().parent.parent
JSON = {"content-type": "application/json"}


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **headers}


@pytest.fixture(name="tokens")
def fixture_tokens(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text(
        f"# role sha256 name\nfront_door {hash_token(FRONT_DOOR)} front door\n"
        f"auditor {hash_token(AUDITOR)} auditor\n"
    )
    return path


@pytest.fixture(name="client")
def fixture_client(
    tmp_path: Path, tokens: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("TRIAGE_LOG_KEY", KEY)
    settings = Settings(
        log=f"sqlite:///{tmp_path / 'log.sqlite'}",
        engine="reference",
        tokens_file=str(tokens),
        max_body=4096,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _referral(**fields: Any) -> str:
    # A 6-year-old with domestic abuse in the household (level 3), consent given.
    return json.dumps(make_referral(concerns=concerns("domestic_abuse"), **fields))


def _is_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body.get("code") == code
    assert "Traceback" not in response.text
    return body


# -- refusals --------------------------------------------------------------------------------


def test_no_token_is_refused_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.post("/v1/route", content=_referral(), headers=JSON)
    _is_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_wrong_token_is_refused(client: TestClient) -> None:
    response = client.post("/v1/route", content=_referral(), headers=bearer("guess", **JSON))
    _is_problem(response, 401)


def test_a_role_that_may_not_is_refused(client: TestClient) -> None:
    routed = client.post("/v1/route", content=_referral(), headers=bearer(AUDITOR, **JSON))
    assert "front_door" in _is_problem(routed, 403)["detail"]
    verified = client.get("/v1/log/verify", headers=bearer(FRONT_DOOR))
    assert "auditor" in _is_problem(verified, 403)["detail"]


def test_a_body_over_the_limit_is_refused_with_413(client: TestClient) -> None:
    big = _referral(detail="x" * 5000)  # over the fixture's 4096 bytes
    _is_problem(client.post("/v1/route", content=big, headers=bearer(FRONT_DOOR, **JSON)), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield big.encode()[:3000]
        yield big.encode()[3000:]

    streamed = client.post("/v1/route", content=chunks(), headers=bearer(FRONT_DOOR, **JSON))
    _is_problem(streamed, 413)


def test_malformed_json_is_input_not_json(client: TestClient) -> None:
    response = client.post("/v1/route", content="{not json", headers=bearer(FRONT_DOOR, **JSON))
    body = _is_problem(response, 400, "input_not_json")
    assert "line 1, column 2" in body["detail"]


def test_a_wrong_content_type_is_refused_with_415(client: TestClient) -> None:
    headers = bearer(FRONT_DOOR, **{"content-type": "text/plain"})
    _is_problem(client.post("/v1/route", content=_referral(), headers=headers), 415)


def test_an_invalid_referral_names_the_field_and_valid_values_but_no_case_data(
    client: TestClient,
) -> None:
    bad = make_referral(
        referral_id="R-SYNTHETIC-SECRET", consent="maybe", concerns=concerns("domestic_abuse")
    )
    response = client.post("/v1/route", content=json.dumps(bad), headers=bearer(FRONT_DOOR, **JSON))
    body = _is_problem(response, 422, "referral_invalid")
    (problem,) = body["problems"]
    assert problem["location"] == "consent"
    assert set(problem["valid"]) == {"given", "refused", "not_sought"}
    assert "R-SYNTHETIC-SECRET" not in response.text
    assert "C-TEST-1" not in response.text


def test_an_unexpected_failure_is_a_500_problem_without_a_traceback(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]

    def broken(body: bytes) -> None:
        raise RuntimeError("synthetic failure mentioning C-TEST-1")

    monkeypatch.setattr(service, "route", broken)
    response = client.post("/v1/route", content=_referral(), headers=bearer(FRONT_DOOR, **JSON))
    _is_problem(response, 500)
    assert "C-TEST-1" not in response.text
    assert "RuntimeError" not in response.text


def test_a_non_loopback_host_without_tokens_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKENS_VARIABLE, raising=False)
    with pytest.raises(UsageError, match=r"refusing to serve on 0\.0\.0\.0 without tokens"):
        create_app(Settings(host="0.0.0.0", engine="reference"))
    monkeypatch.setenv(TOKENS_VARIABLE, f"auditor:{hash_token(AUDITOR)}")
    assert create_app(Settings(host="0.0.0.0", engine="reference")) is not None


def test_a_plain_token_in_a_token_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"front_door {FRONT_DOOR}\n")
    with pytest.raises(UsageError, match="line 1: a token is given as its SHA-256"):
        Settings(tokens_file=str(path)).tokens()


# -- endpoints -------------------------------------------------------------------------------


def test_route_returns_the_decision_and_its_explanation(client: TestClient) -> None:
    response = client.post(
        "/v1/route?explain=true", content=_referral(), headers=bearer(FRONT_DOOR, **JSON)
    )
    assert response.status_code == 200, response.text
    (decision,) = response.json()["decisions"]
    assert (decision["level"], decision["route"]) == (3, "intensive_early_help")
    (words,) = response.json()["explanations"]
    assert "level_3_intensive_early_help" in words or "Intensive early help" in words


def test_a_batch_streams_one_line_per_referral(client: TestClient) -> None:
    lines = _referral(referral_id="R-1") + "\n" + '{"referral_id": "R-2"}\n'
    headers = bearer(FRONT_DOOR, **{"content-type": "application/x-ndjson"})
    response = client.post("/v1/route/batch", content=lines, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    first, second = (json.loads(line) for line in response.text.splitlines())
    assert first["line"] == 1
    assert first["decisions"][0]["route"] == "intensive_early_help"
    assert second["line"] == 2
    assert second["problem"]["code"] == "referral_invalid"


def test_a_journey_event_is_decided(client: TestClient) -> None:
    event = {
        "event_id": "E-TEST-1",
        "child_id": "C-TEST-1",
        "occurred_at": "2026-05-04T10:00:00+01:00",
        "event": "review",
        "service": "team_around_the_family",
        "date_of_birth": "2015-01-01",
        "findings": ["outcomes_achieved"],
    }
    response = client.post("/v1/journey", json=event, headers=bearer(FRONT_DOOR))
    assert response.status_code == 200, response.text
    assert (response.json()["kind"], response.json()["to_service"]) == (
        "step_down",
        "universal_services",
    )


def test_vocabulary_rulebook_and_schemas(client: TestClient, kent: Rulebook) -> None:
    vocabulary = client.get("/v1/vocabulary", headers=bearer(AUDITOR)).json()
    assert len(vocabulary) == 159  # CHANGELOG: 63 in kent 1.0.0, 158 in 1.1.0, 159 in 2.0.0
    assert {"id", "label", "domain", "level"} <= set(vocabulary[0])
    summary = client.get("/v1/rulebook", headers=bearer(FRONT_DOOR)).json()
    assert summary["fingerprint"] == kent.fingerprint
    # Read from the YAML here, not from the library: every rule, and those marked local.
    files = [ROOT / "rules" / "kent" / name for name in ("rules.yaml", "steps.yaml")]
    written = [rule for path in files for rule in yaml.safe_load(path.read_text())["rules"]]
    assert [rule["id"] for rule in summary["rules"]] == [rule["id"] for rule in written]
    marked = {rule["id"] for rule in summary["rules"] if rule["local_choice"]}
    assert marked == {rule["id"] for rule in written if rule.get("local_choice")}
    assert marked  # Kent marks its own choices
    assert {reason["id"] for reason in summary["override_reasons"]} >= {"history_of_concerns"}
    assert all(reason["local_choice"] for reason in summary["override_reasons"])
    referral = client.get("/v1/schemas/referral", headers=bearer(AUDITOR)).json()
    assert referral == Referral.model_json_schema()
    unknown = client.get("/v1/schemas/nothing", headers=bearer(AUDITOR))
    assert "referral" in _is_problem(unknown, 400, "usage_error")["detail"]


def test_an_outcome_is_recorded_then_seen_by_the_auditor(client: TestClient) -> None:
    routed = client.post("/v1/route", content=_referral(), headers=bearer(FRONT_DOOR, **JSON))
    decision_id = routed.json()["decisions"][0]["decision_id"]
    outcome = {
        "decision_id": decision_id,
        "outcome": "overridden",
        "route": "child_and_family_assessment",
        "level": 4,
        "reason": "information_not_in_referral",
        "decided_by": "fdm-synthetic-7",
    }
    recorded = client.post("/v1/outcomes", json=outcome, headers=bearer(FRONT_DOOR))
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["seq"] == 4  # genesis, snapshot, decision, outcome
    assert "fdm-synthetic-7" not in recorded.text
    again = client.post("/v1/outcomes", json=outcome, headers=bearer(FRONT_DOOR))
    _is_problem(again, 409, "outcome_refused")
    verified = client.get("/v1/log/verify", headers=bearer(AUDITOR)).json()
    assert (verified["ok"], verified["records"]) == (True, 4)
    pseudonym = Pseudonymiser(KEY.encode())(decision_id)
    record = client.get(f"/v1/log/records/{pseudonym}", headers=bearer(AUDITOR)).json()
    assert record["seq"] == 3
    assert record["output"][0]["decision_id"] == pseudonym


def test_health_and_readiness_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json()["status"] == "ready"


def test_every_response_has_security_headers_and_no_cors(client: TestClient) -> None:
    for response in (
        client.get("/healthz", headers={"origin": "https://elsewhere.invalid"}),
        client.post("/v1/route", content=_referral(), headers=JSON),  # a 401
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "access-control-allow-origin" not in response.headers


def test_the_access_log_names_route_templates_never_ids(client: TestClient) -> None:
    pseudonym = "p-" + "0" * 32
    structlog.reset_defaults()  # a CLI test may have left info events filtered out
    with capture_logs() as events:
        client.get(f"/v1/log/records/{pseudonym}", headers=bearer(AUDITOR))
        client.post("/v1/route", content=_referral(), headers=bearer(FRONT_DOOR, **JSON))
    access = [event for event in events if event["event"] == "http_request"]
    assert [event["route"] for event in access] == ["/v1/log/records/{which}", "/v1/route"]
    assert pseudonym not in repr(access)
    assert "R-TEST-1" not in repr(access)


def test_the_checked_in_openapi_document_is_the_generated_one(client: TestClient) -> None:
    """`triage serve --openapi > docs/schemas/openapi.json` after an API change."""
    checked_in = json.loads((ROOT / "docs" / "schemas" / "openapi.json").read_text())
    assert checked_in == json.loads(json.dumps(client.app.openapi()))  # type: ignore[attr-defined]
    assert sorted(checked_in["paths"]) == [
        "/healthz",
        "/readyz",
        "/v1/journey",
        "/v1/log/records/{which}",
        "/v1/log/verify",
        "/v1/outcomes",
        "/v1/route",
        "/v1/route/batch",
        "/v1/rulebook",
        "/v1/schemas/{name}",
        "/v1/vocabulary",
    ]


def test_route_can_say_what_would_change_each_decision(client: TestClient) -> None:
    response = client.post(
        "/v1/route?changes=true", content=_referral(), headers=bearer(FRONT_DOOR, **JSON)
    )
    assert response.status_code == 200, response.text
    (child,) = response.json()["changes"]
    refused = [c for c in child["changes"] if c["kind"] == "consent" and c["consent"] == "refused"]
    assert [(c["level"], c["route"]) for c in refused] == [(3, "single_agency_support")]
    verified = client.get("/v1/log/verify", headers=bearer(AUDITOR)).json()
    assert verified["records"] == 3  # genesis, snapshot, the one decision: no nearby referral
