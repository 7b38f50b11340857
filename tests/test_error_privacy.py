"""Errors carry no case data and stay small, whatever the input (review D8)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from triage import FrontDoor, ReferralInvalid, TriageError
from triage.errors import PROBLEM_MAX, PROBLEMS_LISTED

from .conftest import concerns, make_referral
from .strategies import referrals_with_planted_data


def _refusal(door: FrontDoor, data: Any) -> TriageError:
    with pytest.raises(TriageError) as caught:
        door.route(data)
    return caught.value


@given(case=referrals_with_planted_data())
def test_no_planted_data_in_any_error_and_every_error_is_bounded(
    case: tuple[dict[str, Any], tuple[str, ...]], reference: FrontDoor
) -> None:
    referral, planted = case
    error = _refusal(reference, json.dumps(referral))
    text = str(error)
    for secret in planted:
        assert secret not in text
    problems = getattr(error, "problems", ())
    assert all(len(str(problem)) <= PROBLEM_MAX for problem in problems)
    assert len(text.splitlines()) <= 1 + PROBLEMS_LISTED + 1
    assert len(text) <= (PROBLEMS_LISTED + 2) * PROBLEM_MAX


def test_an_unknown_key_named_like_a_code_field_is_named_not_echoed(durable: FrontDoor) -> None:
    """Review D8: `children[0].consent` (not a field there) echoed 'mother Jane Smith ...'."""
    referral = make_referral(
        children=[
            {
                "child_id": "C-1",
                "date_of_birth": "2019-05-01",
                "consent": "mother Odile Fenwright 2017-02-11",
            }
        ]
    )
    error = _refusal(durable, referral)
    assert isinstance(error, ReferralInvalid)
    assert [str(p) for p in error.problems] == ["children[0].consent: is not a field of this form"]


@pytest.mark.parametrize(
    "value", ["Odile Fenwright, born 2017-02-11", "2017-02-11", "x " * 5_000_000]
)
def test_a_code_field_value_that_is_not_code_shaped_is_never_echoed(
    value: str, durable: FrontDoor
) -> None:
    error = _refusal(durable, make_referral(consent=value, concerns=concerns(value)))
    text = str(error)
    assert "Fenwright" not in text
    assert "2017" not in text
    assert len(text) < 2_000
    assert "consent: not one of the valid values; valid values: given, refused" in text


def test_a_long_code_shaped_value_is_cut(durable: FrontDoor) -> None:
    error = _refusal(durable, make_referral(consent="a" * 1000))
    assert f"(got '{'a' * 40}...')" in str(error)


def test_many_unknown_indicators_give_a_bounded_message(durable: FrontDoor) -> None:
    """Review D8: 10^5 unknown indicators made 164 MB of stderr, every problem listing every
    indicator id (63 then)."""
    error = _refusal(durable, make_referral(concerns=concerns(*["physical_abuze"] * 100_000)))
    assert isinstance(error, ReferralInvalid)
    assert len(error.problems) == 100_000
    lines = str(error).splitlines()
    assert len(lines) == 1 + 50 + 1
    assert lines[-1] == "  - and 99950 more"
    count = len(durable.rulebook.indicators)
    assert lines[1].startswith(
        "  - concerns[0].indicator: is not an indicator of the rulebook (got 'physical_abuze'); "
        "did you mean physical_abuse"
    )
    assert lines[1].endswith(f"? (one of {count} valid values: `triage vocabulary`)")
    assert len(str(error)) < 50 * 300
