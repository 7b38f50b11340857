"""The Kent rulebook, rule by rule: each expectation is read from the guidance and
docs/rules-authoring.md, not from the engine's output. Both evaluators must meet every one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from triage import FrontDoor

from .conftest import concerns, make_referral


@dataclass(frozen=True)
class Case:
    name: str
    referral: dict[str, Any]
    level: int | None
    route: str
    must_fire: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    urgency: str | None = None
    due_by: date | None = None
    as_of: date | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def child(**fields: Any) -> dict[str, Any]:
    return {"child_id": "C-TEST-1", "date_of_birth": "2019-05-01", **fields}


# Received Monday 2 March 2026 unless said otherwise.
CASES = [
    Case(
        "physical abuse is level 4 and a same-day strategy discussion",
        make_referral(concerns=concerns("physical_abuse")),
        4,
        "strategy_discussion",
        ("single_level_4_indicator", "suspected_significant_harm_strategy_discussion"),
        urgency="same_day",
        due_by=date(2026, 3, 2),
    ),
    Case(
        "immediate danger with no indicator is immediate protection",
        make_referral(immediate_danger=True),
        4,
        "emergency_protection",
        ("immediate_danger_level_4", "immediate_danger_emergency_protection"),
        urgency="immediate",
        due_by=date(2026, 3, 2),
    ),
    Case(
        "domestic abuse alone is intensive early help within one working day",
        make_referral(concerns=concerns("domestic_abuse", about="parent_carer")),
        3,
        "intensive_early_help",
        ("single_level_3_indicator", "level_3_intensive_early_help"),
        urgency="within_1_working_day",
        due_by=date(2026, 3, 3),
    ),
    Case(
        "suicidal ideation is level 4 without suspected abuse: a child and family assessment",
        make_referral(concerns=concerns("suicidal_ideation")),
        4,
        "child_and_family_assessment",
        ("single_level_4_indicator", "level_4_child_and_family_assessment"),
    ),
    Case(
        "one additional need is the referrer's own agency within two working days",
        make_referral(concerns=concerns("occasional_truancy")),
        2,
        "single_agency_support",
        ("single_level_2_indicator", "level_2_single_agency_support"),
        urgency="within_2_working_days",
        due_by=date(2026, 3, 4),
    ),
    Case(
        "additional needs in two domains are a team around the family",
        make_referral(
            concerns=[
                *concerns("occasional_truancy"),
                *concerns("parental_mental_health", about="parent_carer"),
            ]
        ),
        2,
        "team_around_the_family",
        ("level_2_needs_across_domains_team_around_the_family",),
    ),
    Case(
        "three additional needs across two domains add up to level 3",
        make_referral(
            concerns=[
                *concerns("occasional_truancy", "speech_language_difficulty"),
                *concerns("parental_mental_health", about="parent_carer"),
            ]
        ),
        3,
        "intensive_early_help",
        ("accumulated_level_2_needs",),
    ),
    Case(
        "three additional needs in one domain stay at level 2",
        make_referral(
            concerns=concerns(
                "occasional_truancy", "speech_language_difficulty", "risky_online_behaviour"
            )
        ),
        2,
        "single_agency_support",
        ("single_level_2_indicator",),
    ),
    Case(
        "three intensive needs across two domains add up to level 4",
        make_referral(
            concerns=[
                *concerns("persistent_absence", "missing_regularly"),
                *concerns("neglect_chronic", about="parent_carer"),
            ]
        ),
        4,
        "child_and_family_assessment",
        ("accumulated_level_3_needs",),
    ),
    Case(
        "universal needs only are universal services",
        make_referral(concerns=concerns("school_attendance_above_90")),
        1,
        "universal_services",
        ("single_level_1_indicator", "level_1_universal_services"),
    ),
    Case(
        "a referral with no concern cannot be decided: manual review",
        make_referral(),
        None,
        "manual_review",
        urgency="same_day",
        due_by=date(2026, 3, 2),
    ),
    Case(
        "refused consent at level 3 leaves the referrer's agency with advice",
        make_referral(consent="refused", concerns=concerns("domestic_abuse", about="parent_carer")),
        3,
        "single_agency_support",
        ("refused_consent_below_level_4",),
    ),
    Case(
        "refused consent at level 2 cannot open a team around the family",
        make_referral(
            consent="refused",
            concerns=[
                *concerns("occasional_truancy"),
                *concerns("parental_mental_health", about="parent_carer"),
            ],
        ),
        2,
        "single_agency_support",
        ("refused_consent_below_level_4",),
    ),
    Case(
        "refused consent at level 1 changes nothing",
        make_referral(consent="refused", concerns=concerns("adequate_housing")),
        1,
        "universal_services",
    ),
    Case(
        "refused consent does not block level 4",
        make_referral(consent="refused", concerns=concerns("sexual_abuse")),
        4,
        "strategy_discussion",
        flags=("proceeding_without_consent",),
    ),
    Case(
        "consent not sought at level 3 is flagged, the route stands",
        make_referral(consent="not_sought", concerns=concerns("missing_regularly")),
        3,
        "intensive_early_help",
        flags=("consent_to_be_sought",),
    ),
    Case(
        "a child open to a team around the family stays with it, flagged for step-up at level 3",
        make_referral(
            children=[child(open_involvement={"service": "team_around_the_family"})],
            concerns=concerns("missing_regularly"),
        ),
        3,
        "team_around_the_family",
        ("open_early_help_case", "possible_step_up"),
        flags=("possible_step_up",),
    ),
    Case(
        "a child open to early help with level-4 needs steps up to an assessment",
        make_referral(
            children=[child(open_involvement={"service": "intensive_early_help"})],
            concerns=concerns("suicidal_ideation"),
        ),
        4,
        "child_and_family_assessment",
        flags=("possible_step_up",),
    ),
    Case(
        "a child on a child protection plan goes to the allocated worker",
        make_referral(
            children=[child(open_involvement={"service": "child_protection_plan"})],
            concerns=concerns("missing_regularly"),
        ),
        # Level 4 since 2.0.0: an open case is never shown below its service's level.
        4,
        "allocated_worker",
        ("open_level_4_service_floor", "open_social_care_case"),
    ),
    Case(
        "new abuse on a child protection plan still calls a strategy discussion",
        make_referral(
            children=[child(open_involvement={"service": "child_protection_plan"})],
            concerns=concerns("physical_abuse"),
        ),
        4,
        "strategy_discussion",
    ),
    Case(
        "an unborn child with intensive needs around it gets a pre-birth assessment",
        make_referral(
            children=[{"child_id": "C-UNBORN", "expected_date_of_birth": "2026-06-01"}],
            concerns=concerns("domestic_abuse", about="parent_carer"),
        ),
        3,
        "child_and_family_assessment",
        ("unborn_child_pre_birth_assessment",),
    ),
    Case(
        "a homeless 16-year-old gets a child in need assessment",
        make_referral(
            children=[child(date_of_birth="2009-11-30")], concerns=concerns("homeless_child")
        ),
        3,
        "child_and_family_assessment",
        ("level_3_child_in_need_assessment",),
    ),
    Case(
        "high-risk exploitation with several other indicators: level 4, strategy discussion",
        make_referral(
            children=[child(date_of_birth="2011-01-15")],
            concerns=concerns("cse_high_risk", "missing_regularly", "risky_online_behaviour"),
        ),
        4,
        "strategy_discussion",
        ("high_risk_cse_with_other_indicators",),
        flags=("adolescent_support_pathway",),
    ),
    Case(
        "a referral within the last 12 months is flagged as a re-referral",
        make_referral(
            children=[child(previous_referrals=["2025-06-01"])],
            concerns=concerns("occasional_truancy"),
        ),
        2,
        "single_agency_support",
        flags=("re_referral_within_12_months",),
    ),
    Case(
        "a referral more than 12 months ago is not a re-referral",
        make_referral(
            children=[child(previous_referrals=["2024-06-01"])],
            concerns=concerns("occasional_truancy"),
        ),
        2,
        "single_agency_support",
    ),
    Case(
        "a young person with a youth justice order is flagged for youth justice",
        make_referral(
            children=[child(date_of_birth="2012-01-01")], concerns=concerns("youth_justice_order")
        ),
        4,
        "child_and_family_assessment",
        flags=("youth_justice_pathway",),
    ),
    Case(
        "a referral received on a Saturday is due on Monday",
        make_referral(
            received_at="2026-03-07T22:00:00+00:00", concerns=concerns("missing_regularly")
        ),
        3,
        "intensive_early_help",
        due_by=date(2026, 3, 9),
    ),
    Case(
        "a young adult open to early help in immediate danger is reviewed at once, never sent "
        "to early help",
        make_referral(
            immediate_danger=True,
            children=[
                child(
                    date_of_birth="2007-01-01", open_involvement={"service": "intensive_early_help"}
                )
            ],
        ),
        4,
        "manual_review",
        ("immediate_danger_young_adult_allocated_worker",),
        flags=("possible_step_up",),
        urgency="immediate",
        due_by=date(2026, 3, 2),
    ),
    Case(
        "a young adult open to no service in immediate danger: a manager reviews the same day",
        make_referral(immediate_danger=True, children=[child(date_of_birth="2007-01-01")]),
        4,
        "manual_review",
        ("immediate_danger_level_4",),
        urgency="same_day",
        due_by=date(2026, 3, 2),
    ),
    Case(
        "a date before the Support Levels Guidance has no rules in force: manual review",
        make_referral(concerns=concerns("physical_abuse")),
        None,
        "manual_review",
        as_of=date(2018, 9, 30),
    ),
]


@pytest.mark.parametrize("engine", ["durable", "reference", "compiled"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_kent_rule_examples(
    case: Case, engine: str, durable: FrontDoor, reference: FrontDoor, compiled: FrontDoor
) -> None:
    """Each example gets the level, route, rules, flags and timescale the guidance gives."""
    door = {"durable": durable, "reference": reference, "compiled": compiled}[engine]
    (decision,) = door.route(case.referral, as_of=case.as_of)
    assert (decision.level, decision.route) == (case.level, case.route)
    for rule_id in case.must_fire:
        assert rule_id in decision.rules_fired
    assert set(case.flags) <= set(decision.flags)
    if not case.flags:
        assert "possible_step_up" not in decision.flags
        assert "re_referral_within_12_months" not in decision.flags or case.must_fire
    if case.urgency is not None:
        assert decision.urgency == case.urgency
    if case.due_by is not None:
        assert decision.due_by == case.due_by
    assert len(decision.reasons) >= len(decision.rules_fired)


def test_siblings_each_get_their_own_decision(durable: FrontDoor) -> None:
    """A concern naming one sibling raises that child alone."""
    referral = make_referral(
        children=[child(child_id="C-A"), child(child_id="C-B", date_of_birth="2025-12-01")],
        concerns=[
            *concerns("domestic_abuse", about="parent_carer"),
            {"indicator": "non_mobile_baby_injury", "about": "child", "child_ids": ["C-B"]},
        ],
    )
    older, baby = durable.route(referral)
    assert (older.child_id, older.level, older.route) == ("C-A", 3, "intensive_early_help")
    assert (baby.child_id, baby.level, baby.route) == ("C-B", 4, "strategy_discussion")
    assert older.decision_id != baby.decision_id


def test_reasons_cite_the_guidance_and_the_concern(durable: FrontDoor) -> None:
    """A reason names the indicator in words and the guidance it comes from."""
    (decision,) = durable.route(make_referral(concerns=concerns("physical_abuse")))
    first = decision.reasons[0]
    assert "physical abuse" in first.lower()
    assert "Kent Support Levels Guidance" in first
    assert "single_level_4_indicator" in first


def test_explain_reads_as_plain_english(durable: FrontDoor) -> None:
    (decision,) = durable.route(make_referral(concerns=concerns("physical_abuse")))
    text = durable.explain(decision)
    assert "Level of need: 4 (Specialist)" in text
    assert "Strategy discussion and section 47 enquiry" in text
    assert "by 2026-03-02" in text
