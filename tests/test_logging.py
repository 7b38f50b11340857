"""Each decision is logged as data: ids and outcomes, never personal data."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from triage import FrontDoor, Rulebook

from .conftest import concerns, make_referral
from .test_fail_safe import BrokenEvaluator


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
    assert event["rulebook_version"] == "1.1.1"
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
