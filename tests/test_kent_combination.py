"""Rulebook 2.0.0's combination rules (issue 12, item 2), one example each, on both evaluators.

Every expectation is worked out by hand from `docs/rules-authoring.md` (thresholds 12-16), not
read from the engine: the levels and domains of the indicators are those of
`rules/kent/indicators.yaml`. Received Monday 2 March 2026; the default child is six.
"""

from __future__ import annotations

from typing import Any

import pytest

from triage import FrontDoor

from .conftest import concerns, make_referral
from .test_kent_rules import Case, child

UNBORN = {"child_id": "C-UNBORN", "expected_date_of_birth": "2026-07-15"}
BABY = {"child_id": "C-BABY", "date_of_birth": "2025-06-01"}  # nine months old
FIFTEEN = {"child_id": "C-TEEN", "date_of_birth": "2011-03-02"}

# One example per new rule with a local choice (test_vocabulary reads its reason).
COMBINATION_EXAMPLES: dict[str, dict[str, Any]] = {
    "high_risk_cse_indicator_level_4": make_referral(
        children=[FIFTEEN], concerns=concerns("cse_high_risk")
    ),
    # level 3: domestic abuse (parenting), young carer affected (family); level 2: parental
    # substance misuse (parenting). Two level-3 needs, three needs, two domains.
    "accumulated_intensive_and_additional_needs": make_referral(
        concerns=concerns("domestic_abuse", "parental_substance_misuse", about="parent_carer")
        + concerns("young_carer_outcomes_affected")
    ),
    # level 3: domestic abuse (parenting); level 2: truancy and speech (child development),
    # poverty (family). One level-3 need, three level-2 needs, all three domains.
    "intensive_need_with_additional_needs_in_every_domain": make_referral(
        concerns=concerns("domestic_abuse", about="parent_carer")
        + concerns("occasional_truancy", "speech_language_difficulty")
        + concerns("poverty_affecting_child", about="parent_carer")
    ),
    "repeated_domestic_abuse_child_present_level_4": make_referral(
        concerns=concerns(
            "domestic_abuse_repeat_incidents", "domestic_abuse_child_present", about="parent_carer"
        )
    ),
    "repeated_domestic_abuse_child_present_strategy_discussion": make_referral(
        concerns=concerns(
            "domestic_abuse_repeat_incidents", "domestic_abuse_child_present", about="parent_carer"
        )
    ),
    "unaccompanied_asylum_seeking_child_flag_level_4": make_referral(
        children=[{**FIFTEEN, "flags": ["uasc"]}]
    ),
    "looked_after_or_care_leaver_additional_needs_level_3": make_referral(
        children=[child(flags=["looked_after"])], concerns=concerns("occasional_truancy")
    ),
    "repeated_referrals_additional_needs_level_3": make_referral(
        children=[child(previous_referrals=["2025-06-01", "2025-11-03"])],
        concerns=concerns("occasional_truancy"),
    ),
    "repeated_referrals_intensive_needs_level_4": make_referral(
        children=[child(previous_referrals=["2025-06-01", "2025-11-03"])],
        concerns=concerns("domestic_abuse", about="parent_carer"),
    ),
    "previous_plan_or_care_additional_needs_level_3": make_referral(
        children=[child(flags=["previous_child_protection_plan"])],
        concerns=concerns("occasional_truancy"),
    ),
    "previous_plan_or_care_intensive_needs_level_4": make_referral(
        children=[child(flags=["previously_looked_after"])],
        concerns=concerns("domestic_abuse", about="parent_carer"),
    ),
    "open_level_4_service_floor": make_referral(
        children=[child(open_involvement={"service": "child_protection_plan"})],
        concerns=concerns("occasional_truancy"),
    ),
    "open_level_3_service_floor": make_referral(
        children=[child(open_involvement={"service": "intensive_early_help"})],
        concerns=concerns("occasional_truancy"),
    ),
    "open_level_2_service_floor": make_referral(
        children=[child(open_involvement={"service": "team_around_the_family"})],
        concerns=concerns("school_attendance_above_90"),
    ),
    "missing_and_exploited_strategy_discussion": make_referral(
        children=[FIFTEEN],
        concerns=concerns("missing_frequently", "criminal_exploitation_vulnerable"),
    ),
    "baby_under_one_intensive_needs_assessment": make_referral(
        children=[BABY], concerns=concerns("domestic_abuse", about="parent_carer")
    ),
    "vulnerable_child_intensive_needs_assessment": make_referral(
        children=[child(flags=["disability"])],
        concerns=concerns("domestic_abuse", about="parent_carer"),
    ),
}

X = COMBINATION_EXAMPLES
CASES = [
    Case(
        "one high-risk exploitation indicator alone is level 4 and a strategy discussion",
        X["high_risk_cse_indicator_level_4"],
        4,
        "strategy_discussion",
        ("high_risk_cse_indicator_level_4", "suspected_significant_harm_strategy_discussion"),
        flags=("adolescent_support_pathway",),
    ),
    Case(
        "two intensive needs and an additional one in two domains: level 4, an assessment",
        X["accumulated_intensive_and_additional_needs"],
        4,
        "child_and_family_assessment",
        ("accumulated_intensive_and_additional_needs", "level_4_child_and_family_assessment"),
    ),
    Case(
        "two intensive needs and an additional one, all in one domain, stay at level 3",
        make_referral(
            concerns=concerns(
                "domestic_abuse", "neglect_chronic", "parental_mental_health", about="parent_carer"
            )
        ),
        3,
        "intensive_early_help",
        ("single_level_3_indicator", "level_3_intensive_early_help"),
    ),
    Case(
        "one intensive need with additional needs in both other domains: level 4",
        X["intensive_need_with_additional_needs_in_every_domain"],
        4,
        "child_and_family_assessment",
        ("intensive_need_with_additional_needs_in_every_domain", "accumulated_level_2_needs"),
    ),
    Case(
        "one intensive need with three additional needs in its own and one other domain: level 3",
        make_referral(
            concerns=concerns("domestic_abuse", about="parent_carer")
            + concerns("occasional_truancy", "speech_language_difficulty", "fixed_term_exclusions")
        ),
        3,
        "intensive_early_help",
        ("single_level_3_indicator", "level_3_intensive_early_help"),
    ),
    Case(
        "repeated domestic abuse with the child present: level 4, a strategy discussion",
        X["repeated_domestic_abuse_child_present_level_4"],
        4,
        "strategy_discussion",
        (
            "repeated_domestic_abuse_child_present_level_4",
            "repeated_domestic_abuse_child_present_strategy_discussion",
        ),
        urgency="same_day",
    ),
    Case(
        "repeated domestic abuse in a pregnancy, the unborn child present: a strategy discussion",
        make_referral(
            children=[UNBORN],
            concerns=concerns(
                "domestic_abuse_repeat_incidents",
                "domestic_abuse_child_present",
                about="parent_carer",
            ),
        ),
        4,
        "strategy_discussion",
        ("repeated_domestic_abuse_child_present_strategy_discussion",),
    ),
    Case(
        "repeated domestic abuse without the child present stays at level 3",
        make_referral(concerns=concerns("domestic_abuse_repeat_incidents", about="parent_carer")),
        3,
        "intensive_early_help",
    ),
    Case(
        "the UASC flag alone is level 4 and an assessment, not a manual review",
        X["unaccompanied_asylum_seeking_child_flag_level_4"],
        4,
        "child_and_family_assessment",
        ("unaccompanied_asylum_seeking_child_flag_level_4",),
    ),
    Case(
        "a looked-after child not open here with one additional need: level 3, an assessment",
        X["looked_after_or_care_leaver_additional_needs_level_3"],
        3,
        "child_and_family_assessment",
        (
            "looked_after_or_care_leaver_additional_needs_level_3",
            "vulnerable_child_intensive_needs_assessment",
        ),
    ),
    Case(
        "a child in care open to social care: level 4, the allocated worker",
        make_referral(
            children=[
                child(flags=["looked_after"], open_involvement={"service": "children_in_care"})
            ],
            concerns=concerns("occasional_truancy"),
        ),
        4,
        "allocated_worker",
        ("open_level_4_service_floor", "open_social_care_case"),
    ),
    Case(
        "a third referral in 12 months with an additional need: level 3",
        X["repeated_referrals_additional_needs_level_3"],
        3,
        "intensive_early_help",
        ("repeated_referrals_additional_needs_level_3", "re_referral_within_12_months"),
        flags=("re_referral_within_12_months",),
    ),
    Case(
        "a second referral in 12 months with an additional need stays at level 2",
        make_referral(
            children=[child(previous_referrals=["2025-11-03"])],
            concerns=concerns("occasional_truancy"),
        ),
        2,
        "single_agency_support",
        ("re_referral_within_12_months",),
        flags=("re_referral_within_12_months",),
    ),
    Case(
        "a third referral in 12 months with an intensive need: level 4, an assessment",
        X["repeated_referrals_intensive_needs_level_4"],
        4,
        "child_and_family_assessment",
        ("repeated_referrals_intensive_needs_level_4",),
        flags=("re_referral_within_12_months",),
    ),
    Case(
        "referrals more than 12 months ago do not count",
        make_referral(
            children=[child(previous_referrals=["2024-06-01", "2024-11-03"])],
            concerns=concerns("occasional_truancy"),
        ),
        2,
        "single_agency_support",
    ),
    Case(
        "a previous child protection plan with an additional need: level 3, an assessment",
        X["previous_plan_or_care_additional_needs_level_3"],
        3,
        "child_and_family_assessment",
        (
            "previous_plan_or_care_additional_needs_level_3",
            "vulnerable_child_intensive_needs_assessment",
        ),
    ),
    Case(
        "time in care before, with an intensive need: level 4, an assessment",
        X["previous_plan_or_care_intensive_needs_level_4"],
        4,
        "child_and_family_assessment",
        ("previous_plan_or_care_intensive_needs_level_4",),
    ),
    Case(
        "an additional need on an open intensive early help case is level 3, with that service",
        X["open_level_3_service_floor"],
        3,
        "intensive_early_help",
        ("open_level_3_service_floor", "open_early_help_case"),
    ),
    Case(
        "a universal need on an open team around the family is level 2, with that service",
        X["open_level_2_service_floor"],
        2,
        "team_around_the_family",
        ("open_level_2_service_floor", "open_early_help_case"),
    ),
    Case(
        "an open case with no concern is still a manual review",
        make_referral(children=[child(open_involvement={"service": "intensive_early_help"})]),
        None,
        "manual_review",
    ),
    Case(
        "frequently missing and vulnerable to criminal exploitation: a strategy discussion",
        X["missing_and_exploited_strategy_discussion"],
        4,
        "strategy_discussion",
        ("missing_and_exploited_strategy_discussion",),
        flags=("adolescent_support_pathway",),
    ),
    Case(
        "frequently missing alone is level 4 and an assessment",
        make_referral(children=[FIFTEEN], concerns=concerns("missing_frequently")),
        4,
        "child_and_family_assessment",
        flags=("adolescent_support_pathway",),
    ),
    Case(
        "domestic abuse with a baby under one: level 3, a social work assessment",
        X["baby_under_one_intensive_needs_assessment"],
        3,
        "child_and_family_assessment",
        ("baby_under_one_intensive_needs_assessment",),
    ),
    Case(
        "domestic abuse with an unborn child: level 3, a pre-birth assessment",
        make_referral(children=[UNBORN], concerns=concerns("domestic_abuse", about="parent_carer")),
        3,
        "child_and_family_assessment",
        ("unborn_child_pre_birth_assessment",),
    ),
    Case(
        "domestic abuse with a disabled child: level 3, a social work assessment",
        X["vulnerable_child_intensive_needs_assessment"],
        3,
        "child_and_family_assessment",
        ("vulnerable_child_intensive_needs_assessment",),
    ),
    Case(
        "an unborn child whose parents' earlier children were removed: a strategy discussion",
        make_referral(
            children=[UNBORN],
            concerns=concerns(
                "unborn_pre_birth_assessment", "previous_children_removed", about="parent_carer"
            ),
        ),
        4,
        "strategy_discussion",
        ("single_level_4_indicator", "suspected_significant_harm_strategy_discussion"),
    ),
]


@pytest.mark.parametrize("engine", ["durable", "reference"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_combination_rule_examples(
    case: Case, engine: str, durable: FrontDoor, reference: FrontDoor
) -> None:
    door = durable if engine == "durable" else reference
    (decision,) = door.route(case.referral)
    assert (decision.level, decision.route) == (case.level, case.route)
    for rule_id in case.must_fire:
        assert rule_id in decision.rules_fired or rule_id in decision.flags
    assert set(case.flags) <= set(decision.flags)
    if case.urgency is not None:
        assert decision.urgency == case.urgency


def test_refused_consent_on_an_open_early_help_case_stays_with_that_service(
    durable: FrontDoor, reference: FrontDoor
) -> None:
    """A universal need on an open intensive early help case, consent refused: the floor makes
    it level 3, and the route stays with the open service (it went there on 1.1.0, at level 1),
    not to the referrer's own agency."""
    referral = make_referral(
        consent="refused",
        children=[child(open_involvement={"service": "intensive_early_help"})],
        concerns=concerns("school_attendance_above_90"),
    )
    for door in (durable, reference):
        (decision,) = door.route(referral)
        assert (decision.level, decision.route) == (3, "intensive_early_help")
        assert "refused_consent_below_level_4" not in decision.rules_fired
