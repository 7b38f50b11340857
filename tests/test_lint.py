"""Static checks of a rulebook: each finding kind is made by one edit to a copy of Kent.

Expected counts come from rules/kent/indicators.yaml: 20 level-2 indicators (12
child_development, 6 parenting_capacity, 2 family_and_environment); the only level-1
family_and_environment indicator is adequate_housing; youth_justice_order is level 2 and
associating_with_offending_peers and gang_involvement are level 4."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from triage import Finding, lint_rulebook, load_rulebook

EditRules = Callable[..., Path]

YOUTH_JUSTICE_FILTER = "associating_with_offending_peers, gang_involvement]}"
YOUTH_JUSTICE_AGE = "age: {min_years: 10, max_years: 17}"


def _lint(edited_rules: EditRules, *edits: tuple[str, str, str]) -> list[Finding]:
    return lint_rulebook(load_rulebook(edited_rules(*edits)))


def _only_about(findings: list[Finding], subject: str) -> Finding:
    """The one finding about `subject`, after checking nothing else was found."""
    assert [f.subject for f in findings] == [subject], [str(f) for f in findings]
    return findings[0]


def test_the_bundled_kent_rulebook_has_no_findings() -> None:
    """Kent as shipped: every rule can fire, every level, route and indicator is used."""
    assert lint_rulebook(load_rulebook()) == []


def test_a_concern_filter_that_admits_no_indicator_can_never_fire(
    edited_rules: EditRules,
) -> None:
    """Youth-justice indicators restricted to level 3 (they are levels 2 and 4) admit none."""
    findings = _lint(
        edited_rules,
        ("rules.yaml", YOUTH_JUSTICE_FILTER, YOUTH_JUSTICE_FILTER[:-1] + ", level: 3}"),
    )
    finding = _only_about(findings, "youth_justice_pathway")
    assert finding.severity == "error"
    assert "can never fire" in finding.message
    assert "the filter admits 0" in finding.message


def test_a_count_above_what_the_vocabulary_supplies_can_never_fire(
    edited_rules: EditRules,
) -> None:
    """`min: 999` level-2 indicators cannot be met: the vocabulary has 49 (20 in 1.0.0, 29 added
    in 1.1.0)."""
    findings = _lint(
        edited_rules,
        ("rules.yaml", "- concerns: {level: 2, min: 3}", "- concerns: {level: 2, min: 999}"),
    )
    finding = _only_about(findings, "accumulated_level_2_needs")
    assert finding.severity == "error"
    assert "asks for 999 distinct indicators but the filter admits 49" in finding.message


def test_a_domain_count_above_the_three_domains_can_never_fire(edited_rules: EditRules) -> None:
    """Four distinct domains cannot be met: there are three."""
    findings = _lint(
        edited_rules,
        ("rules.yaml", "- domains: {level: 2, min: 2}", "- domains: {level: 2, min: 4}"),
    )
    finding = _only_about(findings, "accumulated_level_2_needs")
    assert finding.severity == "error"
    assert "asks for 4 distinct domains but the filter admits 3" in finding.message


def test_a_count_with_min_above_max_can_never_fire(edited_rules: EditRules) -> None:
    """`min: 3, max: 2` is an empty range."""
    findings = _lint(
        edited_rules,
        (
            "rules.yaml",
            "- concerns: {level: 2, min: 3}",
            "- concerns: {level: 2, min: 3, max: 2}",
        ),
    )
    finding = _only_about(findings, "accumulated_level_2_needs")
    assert finding.severity == "error"
    assert "at least 3 and at most 2" in finding.message


def test_a_referral_count_with_min_above_max_can_never_fire(edited_rules: EditRules) -> None:
    """`referrals_last_12_months: {min: 2, max: 1}` is an empty range."""
    findings = _lint(
        edited_rules,
        (
            "rules.yaml",
            "referrals_last_12_months: {min: 1}",
            "referrals_last_12_months: {min: 2, max: 1}",
        ),
    )
    finding = _only_about(findings, "re_referral_within_12_months")
    assert finding.severity == "error"
    assert "at least 2 and at most 1 referrals" in finding.message


def test_an_empty_age_range_can_never_fire(edited_rules: EditRules) -> None:
    """Ages 17 to 10 select nobody."""
    findings = _lint(
        edited_rules,
        ("rules.yaml", YOUTH_JUSTICE_AGE, "age: {min_years: 17, max_years: 10}"),
    )
    finding = _only_about(findings, "youth_justice_pathway")
    assert finding.severity == "error"
    assert "age from 17 to 10 is empty" in finding.message


def test_any_with_every_branch_impossible_can_never_fire(edited_rules: EditRules) -> None:
    """An `any` is impossible only when all its branches are; both reasons are given."""
    findings = _lint(
        edited_rules,
        (
            "rules.yaml",
            YOUTH_JUSTICE_AGE,
            "any: [{age: {min_years: 17, max_years: 10}},"
            " {referrals_last_12_months: {min: 2, max: 1}}]",
        ),
    )
    finding = _only_about(findings, "youth_justice_pathway")
    assert finding.severity == "error"
    assert "age from 17 to 10 is empty" in finding.message
    assert "at least 2 and at most 1 referrals" in finding.message


def test_any_with_one_possible_branch_is_not_flagged(edited_rules: EditRules) -> None:
    """An `any` with one satisfiable branch can fire, so nothing is found."""
    findings = _lint(
        edited_rules,
        (
            "rules.yaml",
            YOUTH_JUSTICE_AGE,
            "any: [{age: {min_years: 17, max_years: 10}}, {age: {min_years: 10, max_years: 17}}]",
        ),
    )
    assert findings == []


def test_a_step_up_above_the_highest_level_can_never_fire(edited_rules: EditRules) -> None:
    """A step-up from an open level-4 service needs a level above 4, which no rule gives."""
    findings = _lint(
        edited_rules,
        (
            "rules.yaml",
            "{open_involvement: {step_up: true}}",
            "{open_involvement: {step_up: true, level: 4}}",
        ),
    )
    finding = _only_about(findings, "possible_step_up")
    assert finding.severity == "error"
    assert "step-up above the highest level" in finding.message


def test_a_rule_needing_a_level_no_level_rule_produces_is_flagged(
    edited_rules: EditRules,
) -> None:
    """With single_level_1_indicator giving level 2, level 1 is never produced."""
    findings = _lint(edited_rules, ("rules.yaml", "then: {level: 1}", "then: {level: 2}"))
    assert [(f.severity, f.subject) for f in findings] == [
        ("error", "level_1_universal_services"),
        ("warning", "levels"),
    ]
    rule_finding, level_finding = findings
    assert "can never fire" in rule_finding.message
    assert "needs level 1, which no level rule produces" in rule_finding.message
    assert level_finding.message == "no level rule produces level 1"


def test_a_route_rule_shadowed_by_a_level_only_rule_never_decides(
    edited_rules: EditRules,
) -> None:
    """level_2_single_agency_support ({level: 2}) raised to priority 35 hides the TAF rule."""
    findings = _lint(edited_rules, ("rules.yaml", "    priority: 20\n", "    priority: 35\n"))
    finding = _only_about(findings, "level_2_needs_across_domains_team_around_the_family")
    assert finding.severity == "error"
    assert "never decides" in finding.message
    assert "level_2_single_agency_support has a higher priority" in finding.message


def test_a_higher_rule_that_starts_later_does_not_shadow(edited_rules: EditRules) -> None:
    """A higher-priority rule not yet in force at the lower rule's start shadows nothing."""
    findings = _lint(
        edited_rules,
        (
            "rules.yaml",
            "    effective_from: 2018-10-01\n    priority: 20\n",
            "    effective_from: 2020-01-01\n    priority: 35\n",
        ),
    )
    assert findings == []


def test_a_declared_route_no_rule_produces_is_a_warning(edited_rules: EditRules) -> None:
    """A route added to rulebook.yaml with no rule sending children to it is reported."""
    findings = _lint(
        edited_rules,
        (
            "rulebook.yaml",
            "  - id: manual_review\n",
            "  - id: family_group_conference\n"
            "    label: Family group conference\n"
            "  - id: manual_review\n",
        ),
    )
    finding = _only_about(findings, "routes")
    assert finding.severity == "warning"
    assert finding.message == "no rule produces route family_group_conference"


def test_an_indicator_no_rule_reads_is_a_warning(edited_rules: EditRules) -> None:
    """Level-1 rule limited to two domains, and the open-case floors (2.0.0) to levels 2-4: the
    level-1 family and environment indicators (adequate_housing and, since 1.1.0, three more)
    are read by no rule."""
    floor = ("rules.yaml", "concerns: {level: [1, 2, 3, 4]}", "concerns: {level: [2, 3, 4]}")
    findings = _lint(
        edited_rules,
        (
            "rules.yaml",
            "when: {concerns: {level: 1}}",
            "when: {concerns: {level: 1, domain: [child_development, parenting_capacity]}}",
        ),
        floor,
        floor,
        floor,
    )
    unread = (
        "adequate_housing",
        "positive_relationships_with_parents",
        "positive_relationships_with_siblings_and_peers",
        "family_support_network",
    )
    assert sorted(str(f) for f in findings) == sorted(
        f"warning: indicators: no rule reads indicator {i}" for i in unread
    )
