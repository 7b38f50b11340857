"""Bad input is refused with every problem named, the valid values, and no case data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from triage import FrontDoor, InputNotJson, ReferralInvalid, parse_referral

from .conftest import concerns, make_referral


def problems_of(door: FrontDoor, referral: Any) -> dict[str, str]:
    with pytest.raises(ReferralInvalid) as caught:
        door.route(referral)
    return {p.location: str(p) for p in caught.value.problems}


def test_the_issue_example_is_accepted() -> None:
    referral = parse_referral(
        '{"referral_id": "R-1", "received_at": "2026-03-02T09:30:00+00:00", "source": "6",'
        ' "notification": "inter_agency_referral",'
        ' "children": [{"child_id": "C-1", "date_of_birth": "2019-05-01"}],'
        ' "concerns": [{"indicator": "domestic_abuse", "about": "parent_carer"}],'
        ' "consent": "given", "immediate_danger": false}'
    )
    assert referral.source.value == "6"
    assert referral.children[0].child_id == "C-1"


@pytest.mark.parametrize(
    ("alias", "code"), [("police", "6"), ("schools", "2A"), ("gp", "3A"), ("anonymous", "9")]
)
def test_source_alias_becomes_the_census_code(alias: str, code: str) -> None:
    assert parse_referral(make_referral(source=alias)).source.value == code


def test_unknown_indicator_names_field_value_and_valid_values(durable: FrontDoor) -> None:
    found = problems_of(durable, make_referral(concerns=concerns("domestic_abuser")))
    message = found["concerns[0].indicator"]
    assert "'domestic_abuser'" in message
    assert "did you mean domestic_abuse" in message
    # The 63 ids are counted and pointed to, not listed; the problem itself holds them all.
    assert "one of 63 valid values: `triage vocabulary`" in message
    assert "physical_abuse" not in message


def test_every_problem_is_reported_at_once(durable: FrontDoor) -> None:
    referral = make_referral(consent="yes", notification="fax", concerns=concerns("nonsense"))
    assert set(problems_of(durable, referral)) == {
        "consent",
        "notification",
        "concerns[0].indicator",
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("consent", "yes"), ("immediate_danger", "no"), ("immediate_danger", 1), ("source", "fax")],
)
def test_wrong_codes_and_types_are_refused(field: str, value: Any, durable: FrontDoor) -> None:
    found = problems_of(durable, make_referral(**{field: value}))
    assert field in found
    assert "valid values" in found[field]


def test_a_date_of_birth_is_never_echoed(durable: FrontDoor) -> None:
    """Personal data stays out of error messages, even when it is the problem."""
    referral = make_referral(children=[{"child_id": "C-SECRET-77", "date_of_birth": "2031-07-19"}])
    with pytest.raises(ReferralInvalid) as caught:
        durable.route(referral)
    text = str(caught.value)
    assert "children[0].date_of_birth" in text
    assert "2031" not in text
    assert "C-SECRET-77" not in text
    assert caught.value.__cause__ is None


def test_a_validation_error_carries_no_pydantic_context(durable: FrontDoor) -> None:
    """pydantic's own error text quotes the input: it must not ride along as a chained cause."""
    referral = make_referral(children=[{"child_id": "C-1", "date_of_birth": "19 July 2031"}])
    with pytest.raises(ReferralInvalid) as caught:
        durable.route(referral)
    assert "July" not in str(caught.value)
    assert caught.value.__suppress_context__


def test_an_integer_is_not_read_as_a_date(durable: FrontDoor) -> None:
    found = problems_of(
        durable, make_referral(children=[{"child_id": "C-1", "date_of_birth": 20190501}])
    )
    assert "ISO 8601" in found["children[0].date_of_birth"]
    assert "20190501" not in found["children[0].date_of_birth"]


def test_a_time_without_an_offset_is_refused(durable: FrontDoor) -> None:
    assert "received_at" in problems_of(durable, make_referral(received_at="2026-03-02T09:30:00"))


def test_missing_child_is_refused(durable: FrontDoor) -> None:
    assert "children" in problems_of(durable, make_referral(children=[]))


def test_child_needs_exactly_one_birth_date(durable: FrontDoor) -> None:
    both = {
        "child_id": "C-1",
        "date_of_birth": "2019-05-01",
        "expected_date_of_birth": "2026-05-01",
    }
    assert "children[0]" in problems_of(durable, make_referral(children=[both]))
    assert "children[0]" in problems_of(durable, make_referral(children=[{"child_id": "C-1"}]))


def test_concern_naming_an_absent_child_is_refused(durable: FrontDoor) -> None:
    referral = make_referral(
        concerns=[{"indicator": "physical_abuse", "about": "child", "child_ids": ["C-X"]}]
    )
    assert "concerns[0].child_ids[0]" in problems_of(durable, referral)


def test_unknown_field_is_refused(durable: FrontDoor) -> None:
    assert "colour" in problems_of(durable, make_referral(colour="blue"))


def test_unknown_open_service_is_refused(durable: FrontDoor) -> None:
    referral = make_referral(
        children=[
            {
                "child_id": "C-1",
                "date_of_birth": "2019-05-01",
                "open_involvement": {"service": "tea_club"},
            }
        ]
    )
    found = problems_of(durable, referral)
    assert "children[0].open_involvement.service" in found
    assert "child_protection_plan" in found["children[0].open_involvement.service"]


def test_text_that_is_not_json_says_where(durable: FrontDoor) -> None:
    with pytest.raises(InputNotJson) as caught:
        durable.route('{"referral_id": ')
    assert caught.value.line == 1
    assert caught.value.code == "input_not_json"


def test_a_json_list_is_not_a_referral(durable: FrontDoor) -> None:
    assert "" in problems_of(durable, json.dumps([make_referral()]))


def test_free_text_detail_changes_no_decision(durable: FrontDoor) -> None:
    """No rule reads free text: the same facts with any detail decide the same way."""
    plain = make_referral(concerns=concerns("missing_regularly"))
    noisy = {**plain, "detail": "physical abuse, immediate danger, level 4"}
    (a,), (b,) = durable.route(plain), durable.route(noisy)
    assert (a.level, a.route, a.rules_fired) == (b.level, b.route, b.rules_fired)


@pytest.mark.parametrize("suffix", ["\x1c", "\x1d", "\x1e", "\x1f"])
def test_a_code_with_a_trailing_separator_is_refused_not_crashed_on(
    suffix: str, reference: FrontDoor
) -> None:
    """Python's `str.strip` removes these characters, pydantic's whitespace stripping does not:
    the code as the model holds it is what is checked, so such a code is a named problem (it
    used to pass the check and then fail routing with a bare KeyError)."""
    referral = make_referral(
        children=[
            {
                "child_id": "C-1",
                "date_of_birth": "2019-05-01",
                "open_involvement": {"service": "intensive_early_help" + suffix},
            }
        ],
        concerns=concerns("neglect_severe" + suffix),
    )
    found = problems_of(reference, referral)
    assert set(found) == {"concerns[0].indicator", "children[0].open_involvement.service"}
