"""The Kent vocabulary covers what referrers report, in plain words, and cites honestly.

Expected values are written out by hand from their sources: the census factor codes from
`shared/domain.md` section 6 (the DfE Children in Need census), the graded levels and the
edition dates from `docs/vocabulary.md` and issue 12 (Working Together 2018 until 2023-12-14,
the 2023 edition from 2023-12-15).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings

from triage import FrontDoor, Rulebook, load_rulebook
from triage.cli import cli
from triage.errors import TriageError
from triage.journey import Journeys
from triage.rulebook import LOCAL_CHOICE, DatedReference, Indicator, cite, edition_gaps

from .conftest import concerns, make_referral
from .strategies import referrals
from .test_kent_combination import COMBINATION_EXAMPLES

EditRules = Callable[..., Path]

# Factors identified at the end of assessment (domain.md section 6), written out by hand. Not
# listed: 21 "no factors identified" (not a concern a referrer reports) and 18A and 19A (physical
# and sexual abuse before 2021, since split into child on child, B, and adult on child, C).
CENSUS_FACTORS = (
    *(f"{n}{who}" for n in range(1, 7) for who in "ABC"),
    "7A",
    "8B", "8C", "8D", "8E", "8F",
    "9A", "10A", "11A", "12A", "13A", "14A", "15A", "16A", "17A",
    "18B", "18C", "19B", "19C",
    "20", "22A", "23A", "24A",
)  # fmt: skip
RETIRED_OR_NOT_A_CONCERN = ("18A", "19A", "21")

# The graded indicators and their levels, lowest grade first (docs/vocabulary.md).
GRADES = {
    "domestic abuse by assessed risk": (
        ("domestic_abuse_historic", 2),
        ("domestic_abuse_standard_risk", 2),
        ("domestic_abuse_medium_risk", 3),
        ("domestic_abuse_high_risk", 4),
    ),
    "domestic abuse and the child": (
        ("domestic_abuse_child_present", 3),
        ("domestic_abuse_child_hurt", 4),
    ),
    "self-harm and suicide": (
        ("self_harm_low_level", 2),
        ("self_harm_repeated", 3),
        ("suicidal_ideation", 4),
        ("suicide_attempt", 4),
    ),
    "parental mental ill health": (
        ("parental_mental_health_managed", 1),
        ("parental_mental_health", 2),
        ("parental_mental_health_affecting_care", 3),
        ("parental_mental_health_involving_child", 4),
    ),
    "emotional harm": (
        ("emotional_harm_emerging", 2),
        ("emotional_harm_persistent", 3),
        ("emotional_abuse_significant", 4),
    ),
    "neglect": (("neglect_emerging", 2), ("neglect_chronic", 3), ("neglect_severe", 4)),
}

WT_2018 = "Working Together to Safeguard Children (2018)"
WT_2023 = "Working Together to Safeguard Children (2023)"


# ----------------------------------------------------------------------------- coverage


def test_every_census_factor_is_expressible_by_an_indicator(kent: Rulebook) -> None:
    """Each assessment factor code of the census is in some indicator's census_factors."""
    used = {code for indicator in kent.indicators for code in indicator.census_factors}
    assert [code for code in CENSUS_FACTORS if code not in used] == []


def test_the_vocabulary_uses_only_current_census_factor_codes(kent: Rulebook) -> None:
    """No indicator carries a code the census does not have, or has retired."""
    for indicator in kent.indicators:
        for code in indicator.census_factors:
            assert code in CENSUS_FACTORS, (indicator.id, code)
            assert code not in RETIRED_OR_NOT_A_CONCERN, (indicator.id, code)


@pytest.mark.parametrize(
    "indicator_id",
    [
        # Kent's level 2 list (recheck of issue 12): bereavement and loss among them
        "bereavement_loss",
        "attachment_difficulties",
        "talks_of_running_away",
        "challenging_behaviour",
        "home_conditions_hazardous",
        # forms of harm and risks that Working Together 2023 names
        "criminal_exploitation",
        "online_abuse",
        "fgm_risk",
        "forced_marriage_risk",
        "honour_based_abuse",
        "trafficked_or_modern_slavery",
        "radicalisation_vulnerable",
        "serious_youth_violence",
        "domestic_abuse_own_relationship",
    ],
)
def test_named_concerns_have_an_indicator(kent: Rulebook, indicator_id: str) -> None:
    assert indicator_id in kent.indicator_by_id


@pytest.mark.parametrize("grade", sorted(GRADES))
def test_graded_indicators_rise_in_level(kent: Rulebook, grade: str) -> None:
    """A graded concern has one indicator per grade, at the level written in the docs."""
    found = tuple((i, kent.indicator_by_id[i].level) for i, _ in GRADES[grade])
    assert found == GRADES[grade]


def test_every_indicator_of_1_0_0_is_still_there(kent: Rulebook) -> None:
    """Logs and scenarios hold the old ids: none was renamed or removed."""
    old = Path(__file__).parent.parent / "rules" / "kent" / "indicators.yaml"
    text = old.read_text(encoding="utf-8").split("added in rulebook 1.1.0")[0]
    old_ids = re.findall(r"^  - id: ([a-z0-9_]+)$", text, flags=re.MULTILINE)
    assert len(old_ids) == 63
    assert set(old_ids) <= set(kent.indicator_by_id)


# ------------------------------------------------------------------------------ labels

ABBREVIATION = re.compile(r"\b[A-Z]{2,}\b")


def test_labels_are_plain_words(kent: Rulebook) -> None:
    """A label is a sentence fragment a referrer recognises: capitalised, no identifiers, no
    full stop, not too long, and any abbreviation in brackets after the words it stands for."""
    for indicator in kent.indicators:
        label = indicator.label
        assert label, indicator.id
        assert label.strip() == label, indicator.id
        assert label[0].isupper(), indicator.id
        assert "_" not in label, indicator.id
        assert not label.endswith("."), indicator.id
        assert len(label) <= 130, indicator.id
        outside_brackets = re.sub(r"\([^)]*\)", "", label)
        assert not ABBREVIATION.findall(outside_brackets), (indicator.id, label)


def test_labels_are_distinct(kent: Rulebook) -> None:
    labels = [i.label.lower() for i in kent.indicators]
    assert len(labels) == len(set(labels))


# ---------------------------------------------------------------------- local choices

RULE_EXAMPLES: dict[str, dict[str, Any]] = {
    # 3 level-2 needs across child_development and family_and_environment: level 3
    "accumulated_level_2_needs": make_referral(
        concerns=concerns("occasional_truancy", "speech_language_difficulty")
        + concerns("poverty_affecting_child", about="parent_carer")
    ),
    # 3 level-3 needs across child_development and parenting_capacity: level 4
    "accumulated_level_3_needs": make_referral(
        concerns=concerns("persistent_absence", "missing_regularly")
        + concerns("neglect_chronic", about="parent_carer")
    ),
    "high_risk_cse_with_other_indicators": make_referral(
        concerns=concerns("cse_high_risk", "missing_regularly", "occasional_truancy")
    ),
    "level_2_needs_across_domains_team_around_the_family": make_referral(
        concerns=concerns("occasional_truancy") + concerns("poverty_affecting_child")
    ),
    "level_3_child_in_need_assessment": make_referral(concerns=concerns("homeless_child")),
    "suspected_significant_harm_strategy_discussion": make_referral(
        concerns=concerns("physical_abuse")
    ),
    "level_4_child_and_family_assessment": make_referral(concerns=concerns("suicidal_ideation")),
    "refused_consent_below_level_4": make_referral(
        consent="refused", concerns=concerns("missing_regularly")
    ),
    "open_early_help_case": make_referral(
        concerns=concerns("occasional_truancy"),
        children=[
            {
                "child_id": "C-TEST-1",
                "date_of_birth": "2019-05-01",
                "open_involvement": {"service": "intensive_early_help"},
            }
        ],
    ),
    "immediate_danger_unborn_strategy_discussion": make_referral(
        immediate_danger=True,
        children=[{"child_id": "C-UNBORN", "expected_date_of_birth": "2026-06-01"}],
        concerns=concerns("domestic_abuse", about="parent_carer"),
    ),
    "immediate_danger_young_adult_allocated_worker": make_referral(
        immediate_danger=True,
        children=[
            {
                "child_id": "C-ADULT",
                "date_of_birth": "2006-01-01",
                "flags": ["care_leaver"],
                "open_involvement": {"service": "care_leavers"},
            }
        ],
        concerns=concerns("homeless_child"),
    ),
    # rulebook 2.0.0's combination rules
    **COMBINATION_EXAMPLES,
}


def test_every_rule_with_a_local_choice_has_an_example(kent: Rulebook) -> None:
    """So that the test below reads every rule's local choice in a real reason."""
    chosen = {rule.id for rule in kent.rules if rule.local_choice is not None}
    assert chosen == set(RULE_EXAMPLES)


@pytest.mark.parametrize("rule_id", sorted(RULE_EXAMPLES))
def test_a_rules_local_choice_is_said_in_its_reason(durable: FrontDoor, rule_id: str) -> None:
    """The reason of a rule that is this rulebook's choice says so, in words."""
    (decision,) = durable.route(RULE_EXAMPLES[rule_id])
    assert rule_id in decision.rules_fired
    choice = durable.rulebook.rule_by_id[rule_id].local_choice
    (reason,) = [r for r in decision.reasons if r.endswith(f"[rule {rule_id}]")]
    assert f"{LOCAL_CHOICE}: {choice}" in reason
    assert f"{LOCAL_CHOICE}: {choice}" in durable.explain(decision)


def _about(indicator: Indicator) -> str:
    return "child" if indicator.domain.value == "child_development" else "parent_carer"


def test_every_indicators_local_choice_is_said_in_the_reason(kent: Rulebook) -> None:
    """A referral reporting an indicator whose level this rulebook chose says so in a reason."""
    door = FrontDoor(kent, engine="reference")
    chosen = [i for i in kent.indicators if i.local_choice is not None]
    assert len(chosen) >= 50
    for indicator in chosen:
        about = _about(indicator)
        (decision,) = door.route(make_referral(concerns=concerns(indicator.id, about=about)))
        said = f"{indicator.label.lower()} ({LOCAL_CHOICE}: {indicator.local_choice})"
        assert any(said in reason for reason in decision.reasons), indicator.id


def test_an_indicator_from_the_guidance_says_no_local_choice(durable: FrontDoor) -> None:
    """Kent places physical abuse at level 4 itself: its reason claims no choice of ours."""
    (decision,) = durable.route(make_referral(concerns=concerns("physical_abuse")))
    (level_reason,) = [r for r in decision.reasons if "single_level_4_indicator" in r]
    assert LOCAL_CHOICE not in level_reason


@settings(max_examples=100)
@given(referral=referrals())
def test_every_fired_rules_local_choice_is_in_its_reason(
    referral: dict[str, Any], reference: FrontDoor
) -> None:
    """Whatever the referral, a fired rule with a local choice says it in its reason."""
    rules = reference.rulebook.rule_by_id
    for decision in reference.route(referral):
        reasons = decision.reasons[len(decision.reasons) - len(decision.rules_fired) :]
        for rule_id, reason in zip(decision.rules_fired, reasons, strict=True):
            choice = rules[rule_id].local_choice
            assert reason.endswith(f"[rule {rule_id}]")
            assert (choice is not None) == (f"{LOCAL_CHOICE}: {choice}" in reason)


def test_vocabulary_command_says_the_local_choice(kent: Rulebook) -> None:
    result = CliRunner().invoke(cli, ["vocabulary"])
    assert result.exit_code == 0, result.output
    # Rows sit under level and domain headings, their labels wrapped onto indented lines.
    rows: dict[str, str] = {}
    last = ""
    for line in result.output.splitlines()[1:]:
        if line.startswith("    ") and line[4] != " ":
            last = line.split()[0]
            rows[last] = line
        elif line.startswith("     ") and last:
            rows[last] += " " + line.strip()
    for indicator in kent.indicators:
        row = rows[indicator.id]
        if indicator.local_choice is None:
            assert LOCAL_CHOICE not in row, indicator.id
        else:
            assert f"[{LOCAL_CHOICE}: {indicator.local_choice}]" in row, indicator.id


def test_the_same_day_timescale_is_marked_as_a_local_choice(durable: FrontDoor) -> None:
    (decision,) = durable.route(make_referral(concerns=concerns("physical_abuse")))
    assert decision.urgency == "same_day"
    assert f"The same day ({LOCAL_CHOICE}: the same day is common practice" in durable.explain(
        decision
    )


def test_no_local_choice_keeps_the_dump_of_1_0_0() -> None:
    """An entry without a local choice dumps without the key, so a rulebook that uses none keeps
    the fingerprint it had before the field existed (old decision logs replay)."""
    indicator = Indicator(
        id="x", label="X", domain="child_development", level=2, reference="Somewhere"
    )
    assert "local_choice" not in indicator.model_dump()
    chosen = indicator.model_copy(update={"local_choice": "ours"})
    assert chosen.model_dump()["local_choice"] == "ours"


# --------------------------------------------------------------------- dated references


@pytest.mark.parametrize(
    ("as_of", "edition", "other"),
    [
        (date(2023, 12, 14), WT_2018, WT_2023),
        (date(2023, 12, 15), WT_2023, WT_2018),
        (date(2020, 1, 7), WT_2018, WT_2023),
        (date(2026, 3, 2), WT_2023, WT_2018),
    ],
)
def test_a_reason_cites_the_edition_in_force_on_the_as_of_date(
    durable: FrontDoor, as_of: date, edition: str, other: str
) -> None:
    referral = make_referral(
        received_at=f"{as_of.isoformat()}T09:30:00+00:00", concerns=concerns("physical_abuse")
    )
    (decision,) = durable.route(referral)
    (reason,) = [r for r in decision.reasons if "suspected_significant_harm" in r]
    assert edition in reason
    assert other not in reason


def test_an_as_of_date_overrides_the_edition_too(durable: FrontDoor) -> None:
    """Received in 2026, decided as of 2023-12-01: the 2018 edition was then in force."""
    referral = make_referral(concerns=concerns("physical_abuse"))
    (decision,) = durable.route(referral, as_of=date(2023, 12, 1))
    (reason,) = [r for r in decision.reasons if "suspected_significant_harm" in r]
    assert WT_2018 in reason


def test_no_rule_or_timescale_cites_working_together_2018_undated(kent: Rulebook) -> None:
    for item in (*kent.rules, *kent.timescales):
        if isinstance(item.reference, str):
            assert "Working Together" not in item.reference, item


def test_cite_adds_the_local_choice_after_the_source() -> None:
    indicator = Indicator(
        id="x",
        label="X",
        domain="child_development",
        level=3,
        reference=(
            DatedReference(text="Old", effective_to=date(2023, 12, 14)),
            DatedReference(text="New", effective_from=date(2023, 12, 15)),
        ),
        local_choice="level 3, ours",
    )
    assert cite(indicator, date(2023, 12, 14)) == f"Old; {LOCAL_CHOICE}: level 3, ours"
    assert cite(indicator, date(2023, 12, 15)) == f"New; {LOCAL_CHOICE}: level 3, ours"


def test_editions_with_a_gap_are_found() -> None:
    editions = (
        DatedReference(text="Old", effective_to=date(2023, 12, 13)),
        DatedReference(text="New", effective_from=date(2023, 12, 15)),
    )
    (why,) = edition_gaps(editions, date(2018, 10, 1), None)
    assert "2023-12-15" in why
    assert "2023-12-13" in why


def test_editions_that_start_after_the_rule_are_found() -> None:
    editions = (DatedReference(text="New", effective_from=date(2023, 12, 15)),)
    assert edition_gaps(editions, date(2018, 10, 1), None) == [
        "no edition is in force before 2023-12-15"
    ]
    assert edition_gaps(editions, date(2024, 1, 1), None) == []


def test_a_rulebook_with_a_gap_between_editions_is_refused(edited_rules: EditRules) -> None:
    rules_dir = edited_rules(
        ("rules.yaml", "effective_to: 2023-12-14", "effective_to: 2023-12-10"),
    )
    with pytest.raises(TriageError) as raised:
        load_rulebook(rules_dir)
    assert "does not start the day after" in str(raised.value)


@pytest.mark.parametrize(
    ("occurred_at", "edition", "other"),
    [
        ("2023-12-14T10:00:00+00:00", WT_2018, WT_2023),
        ("2023-12-15T10:00:00+00:00", WT_2023, WT_2018),
    ],
)
def test_a_step_rule_cites_the_edition_in_force_on_the_event(
    kent: Rulebook, occurred_at: str, edition: str, other: str
) -> None:
    """Escalating concerns on a child in need plan: the step rule's Working Together citation
    is the edition in force on the day of the review."""
    journeys = Journeys(kent, engine="reference")
    decision = journeys.decide(
        {
            "event_id": "E-TEST-1",
            "child_id": "C-TEST-1",
            "occurred_at": occurred_at,
            "event": "review",
            "service": "child_in_need_plan",
            "date_of_birth": "2015-01-01",
            "findings": ["concerns_escalated"],
        }
    )
    (reason,) = decision.reasons
    assert reason.endswith("[rule step_up_child_in_need_significant_harm]")
    assert edition in reason
    assert other not in reason
