"""Loading a rulebook directory: the fingerprint, and every problem named by file, line, rule id
and field path. Expected lines and rule indexes are computed from the edited YAML text."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from triage import (
    Problem,
    RulebookInvalid,
    RulebookNotFound,
    bundled_rules_dir,
    load_rulebook,
)
from triage.conditions import All, Concerns

EditRules = Callable[..., Path]

# single_level_3_indicator, a level rule whose `when` and `then` are one-line flow mappings.
LEVEL_3_WHEN = "    when: {concerns: {level: 3}}\n"
LEVEL_3_THEN = "    then: {level: 3}\n"


def _line_of(path: Path, line: str, after: str | None = None) -> int:
    """The 1-based number of the only line equal to `line` (after the line `after`, if given)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = 0 if after is None else lines.index(after) + 1
    found = [number for number, text in enumerate(lines, 1) if number > start and text == line]
    assert found, f"{line!r} not in {path.name}"
    return found[0] if after is not None else _only(found)


def _only(values: list[int]) -> int:
    assert len(values) == 1, values
    return values[0]


def _rule_index(path: Path, rule_id: str) -> int:
    """The position of a rule in the `rules:` list of a rules file, read from its text."""
    ids = re.findall(r"^  - id: (\S+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return ids.index(rule_id)


def _problems(directory: Path) -> tuple[Problem, ...]:
    with pytest.raises(RulebookInvalid) as caught:
        load_rulebook(directory)
    assert caught.value.code == "rulebook_invalid"
    return caught.value.problems


def _single_problem(directory: Path) -> Problem:
    problems = _problems(directory)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# ------------------------------------------------------------------------- the bundled rulebook


def test_bundled_kent_rulebook_loads() -> None:
    """The bundled Kent rulebook loads with its id, rules and vocabulary."""
    rulebook = load_rulebook()
    assert rulebook.id == "kent"
    assert "single_level_3_indicator" in rulebook.rule_by_id
    assert "manual_review" in rulebook.route_ids
    assert len(rulebook.indicators) == 159  # 63 in 1.0.0, 95 added in 1.1.0, 1 in 2.0.0


def test_fingerprint_is_a_sha256_hex_digest() -> None:
    """The fingerprint is 64 lower-case hex digits (SHA-256)."""
    assert re.fullmatch(r"[0-9a-f]{64}", load_rulebook().fingerprint)


def test_fingerprint_is_stable_across_loads_and_locations(edited_rules: EditRules) -> None:
    """Two loads, and a byte-identical copy elsewhere, give the same fingerprint."""
    first = load_rulebook()
    second = load_rulebook()
    assert first is not second
    assert first.fingerprint == second.fingerprint
    assert load_rulebook(edited_rules()).fingerprint == first.fingerprint


def test_changing_one_threshold_changes_the_fingerprint(edited_rules: EditRules) -> None:
    """`min: 3` -> `min: 4` in accumulated_level_2_needs gives a different fingerprint."""
    edited = edited_rules(
        ("rules.yaml", "- concerns: {level: 2, min: 3}", "- concerns: {level: 2, min: 4}")
    )
    rulebook = load_rulebook(edited)
    when = rulebook.rule_by_id["accumulated_level_2_needs"].when
    assert isinstance(when, All)
    assert isinstance(when.all[0], Concerns)
    assert when.all[0].concerns.min == 4
    assert rulebook.fingerprint != load_rulebook().fingerprint


def test_a_comment_edit_does_not_change_the_fingerprint(edited_rules: EditRules) -> None:
    """The fingerprint covers the validated rulebook, not the YAML text."""
    edited = edited_rules(("rules.yaml", "# Kent threshold rules.", "# Kent threshold rules!"))
    assert load_rulebook(edited).fingerprint == load_rulebook().fingerprint


# ------------------------------------------------------------------------- problems in one rule


def test_unknown_key_in_a_rule_names_file_line_rule_and_path(edited_rules: EditRules) -> None:
    """An unknown rule key is reported at its own line, with the rule id and `rules[N].key`."""
    edited = edited_rules(("rules.yaml", LEVEL_3_WHEN, LEVEL_3_WHEN + "    colour: red\n"))
    rules_file = edited / "rules.yaml"
    index = _rule_index(rules_file, "single_level_3_indicator")
    line = _line_of(rules_file, "    colour: red")

    with pytest.raises(RulebookInvalid) as caught:
        load_rulebook(edited)
    (problem,) = caught.value.problems
    assert Path(problem.file or "") == rules_file
    assert problem.line == line
    assert problem.rule_id == "single_level_3_indicator"
    assert problem.location == f"rules[{index}].colour"
    assert index == 2
    text = str(caught.value)
    assert f"rules.yaml:{line}: rules[{index}].colour (rule single_level_3_indicator)" in text


def test_unknown_condition_kind_names_file_line_rule_and_path(edited_rules: EditRules) -> None:
    """`when: {colour: red}` is reported under `.when`, listing the condition kinds."""
    edited = edited_rules(("rules.yaml", LEVEL_3_WHEN, "    when: {colour: red}\n"))
    rules_file = edited / "rules.yaml"
    problem = _single_problem(edited)
    assert Path(problem.file or "").name == "rules.yaml"
    assert problem.line == _line_of(rules_file, "    when: {colour: red}")
    assert problem.rule_id == "single_level_3_indicator"
    assert problem.location == f"rules[{_rule_index(rules_file, 'single_level_3_indicator')}].when"
    assert "concerns" in problem.message
    assert "immediate_danger" in problem.message


def test_unknown_condition_kind_nested_in_all_is_located_by_index(edited_rules: EditRules) -> None:
    """A bad condition inside `all:` is reported at `.when.all[i]` and its own line."""
    edited = edited_rules(
        ("rules.yaml", "        - domains: {level: 2, min: 2}\n", "        - colour: red\n")
    )
    rules_file = edited / "rules.yaml"
    problem = _single_problem(edited)
    assert problem.rule_id == "accumulated_level_2_needs"
    index = _rule_index(rules_file, "accumulated_level_2_needs")
    assert problem.location == f"rules[{index}].when.all[1]"
    assert problem.line == _line_of(rules_file, "        - colour: red")


def test_unknown_indicator_is_echoed_with_the_valid_indicators(edited_rules: EditRules) -> None:
    """A rule naming an unknown indicator echoes it and lists the vocabulary."""
    new_when = "    when: {concerns: {indicator: [domestic_abuse, not_an_indicator]}}\n"
    edited = edited_rules(("rules.yaml", LEVEL_3_WHEN, new_when))
    rules_file = edited / "rules.yaml"
    problem = _single_problem(edited)
    assert problem.value == "not_an_indicator"
    assert "unknown indicator" in problem.message
    assert "domestic_abuse" in problem.valid
    assert "physical_abuse" in problem.valid
    assert "not_an_indicator" not in problem.valid
    assert problem.rule_id == "single_level_3_indicator"
    assert problem.location == f"rules[{_rule_index(rules_file, 'single_level_3_indicator')}].when"
    assert problem.line == _line_of(rules_file, new_when.rstrip("\n"))


def test_unknown_route_in_then_is_reported_with_the_declared_routes(
    edited_rules: EditRules,
) -> None:
    """`then.route` naming an undeclared route is echoed; declared routes are listed."""
    new_then = "    then: {route: intensive_help, urgency: within_1_working_day}"
    edited = edited_rules(
        (
            "rules.yaml",
            "    then: {route: intensive_early_help, urgency: within_1_working_day}",
            new_then,
        )
    )
    rules_file = edited / "rules.yaml"
    problem = _single_problem(edited)
    index = _rule_index(rules_file, "level_3_intensive_early_help")
    assert problem.location == f"rules[{index}].then.route"
    assert problem.rule_id == "level_3_intensive_early_help"
    assert problem.value == "intensive_help"
    assert "not a declared route" in problem.message
    assert {"intensive_early_help", "manual_review", "current_service"} <= set(problem.valid)
    assert problem.line == _line_of(rules_file, new_then)


def test_urgency_with_no_timescale_is_reported_with_the_known_urgencies(
    edited_rules: EditRules,
) -> None:
    """A route rule whose urgency has no timescale names the urgencies that have one."""
    new_then = "    then: {route: intensive_early_help, urgency: within_a_fortnight}"
    edited = edited_rules(
        (
            "rules.yaml",
            "    then: {route: intensive_early_help, urgency: within_1_working_day}",
            new_then,
        )
    )
    rules_file = edited / "rules.yaml"
    problem = _single_problem(edited)
    index = _rule_index(rules_file, "level_3_intensive_early_help")
    assert problem.location == f"rules[{index}].then.urgency"
    assert problem.value == "within_a_fortnight"
    assert "no timescale" in problem.message
    # The four urgencies of rulebook.yaml's timescales.
    assert set(problem.valid) == {
        "immediate",
        "same_day",
        "within_1_working_day",
        "within_2_working_days",
    }
    assert problem.line == _line_of(rules_file, new_then)


def test_two_route_rules_with_the_same_priority_are_rejected(edited_rules: EditRules) -> None:
    """The later of two route rules sharing a priority is reported, naming the earlier one."""
    # level_3_child_in_need_assessment has priority 45; level_3_intensive_early_help has 40.
    edited = edited_rules(("rules.yaml", "    priority: 40\n", "    priority: 45\n"))
    rules_file = edited / "rules.yaml"
    problem = _single_problem(edited)
    assert problem.rule_id == "level_3_intensive_early_help"
    index = _rule_index(rules_file, "level_3_intensive_early_help")
    assert problem.location == f"rules[{index}].priority"
    assert "level_3_child_in_need_assessment" in problem.message
    assert "unique" in problem.message
    assert problem.line == _line_of(
        rules_file, "    priority: 45", after="  - id: level_3_intensive_early_help"
    )


@pytest.mark.parametrize(
    "condition",
    ["{level: 3}", "{open_involvement: {step_up: true}}"],
    ids=["level", "step_up"],
)
def test_a_level_rule_cannot_read_the_decided_level(
    edited_rules: EditRules, condition: str
) -> None:
    """A level rule testing `level` or `step_up` is rejected at its `when`."""
    new_when = f"    when: {condition}\n"
    edited = edited_rules(("rules.yaml", LEVEL_3_WHEN, new_when))
    rules_file = edited / "rules.yaml"
    problem = _single_problem(edited)
    assert problem.rule_id == "single_level_3_indicator"
    assert problem.location == f"rules[{_rule_index(rules_file, 'single_level_3_indicator')}].when"
    assert "cannot read the decided level" in problem.message
    assert problem.line == _line_of(
        rules_file, new_when.rstrip("\n"), after="  - id: single_level_3_indicator"
    )


def test_effective_to_before_effective_from_is_rejected(edited_rules: EditRules) -> None:
    """A rule that ends the day before it starts is reported at `effective_to`."""
    edited = edited_rules(
        (
            "rules.yaml",
            "    effective_from: 2018-10-01\n" + LEVEL_3_WHEN,
            "    effective_from: 2018-10-01\n    effective_to: 2018-09-30\n" + LEVEL_3_WHEN,
        )
    )
    rules_file = edited / "rules.yaml"
    problem = _single_problem(edited)
    assert problem.rule_id == "single_level_3_indicator"
    index = _rule_index(rules_file, "single_level_3_indicator")
    assert problem.location == f"rules[{index}].effective_to"
    assert "before effective_from" in problem.message
    assert problem.line == _line_of(rules_file, "    effective_to: 2018-09-30")


def test_a_rule_in_force_for_one_day_loads(edited_rules: EditRules) -> None:
    """`effective_to` equal to `effective_from` is a valid one-day window (inclusive)."""
    edited = edited_rules(
        (
            "rules.yaml",
            "    effective_from: 2018-10-01\n" + LEVEL_3_WHEN,
            "    effective_from: 2018-10-01\n    effective_to: 2018-10-01\n" + LEVEL_3_WHEN,
        )
    )
    rule = load_rulebook(edited).rule_by_id["single_level_3_indicator"]
    assert rule.effective_to == rule.effective_from


def test_an_outcome_that_is_not_level_route_or_flag_is_rejected(edited_rules: EditRules) -> None:
    """`then: {escalate: true}` is reported at `.then` with the three outcome shapes."""
    edited = edited_rules(("rules.yaml", LEVEL_3_THEN, "    then: {escalate: true}\n"))
    rules_file = edited / "rules.yaml"
    problem = _single_problem(edited)
    assert problem.rule_id == "single_level_3_indicator"
    assert problem.location == f"rules[{_rule_index(rules_file, 'single_level_3_indicator')}].then"
    assert "{level: N}" in problem.message
    assert "{route: R, urgency: U}" in problem.message
    assert "{flag: F}" in problem.message
    assert problem.line == _line_of(rules_file, "    then: {escalate: true}")


def test_a_duplicate_rule_id_is_rejected(edited_rules: EditRules) -> None:
    """A second rule reusing an id is reported at its own `id` line."""
    edited = edited_rules(
        ("rules.yaml", "  - id: single_level_2_indicator\n", "  - id: single_level_3_indicator\n")
    )
    rules_file = edited / "rules.yaml"
    problem = _single_problem(edited)
    assert problem.value == "single_level_3_indicator"
    assert problem.rule_id == "single_level_3_indicator"
    assert "repeats an earlier id" in problem.message
    # The duplicate is the second `- id: single_level_3_indicator`, right after the first rule.
    first = _rule_index(rules_file, "single_level_3_indicator")
    assert problem.location == f"rules[{first + 1}].id"
    assert problem.line == _line_of(
        rules_file, "  - id: single_level_3_indicator", after="  - id: single_level_3_indicator"
    )


# ------------------------------------------------------------------------- problems in a file


def test_invalid_yaml_reports_file_and_line(edited_rules: EditRules) -> None:
    """A stray `}` is reported as invalid YAML at its file and line."""
    edited = edited_rules(("rules.yaml", LEVEL_3_THEN, "    then: {level: 3}}\n"))
    problem = _single_problem(edited)
    assert Path(problem.file or "") == edited / "rules.yaml"
    assert problem.line == _line_of(edited / "rules.yaml", "    then: {level: 3}}")
    assert "not valid YAML" in problem.message
    assert problem.rule_id is None


def test_a_top_level_key_that_is_not_a_rulebook_key_is_rejected(edited_rules: EditRules) -> None:
    """An unknown top-level key is echoed with the rulebook keys."""
    edited = edited_rules(("rulebook.yaml", "routes:\n", "colours: [red]\nroutes:\n"))
    problem = _single_problem(edited)
    assert Path(problem.file or "") == edited / "rulebook.yaml"
    assert problem.line == _line_of(edited / "rulebook.yaml", "colours: [red]")
    assert problem.location == "colours"
    assert problem.value == "colours"
    assert "not a rulebook key" in problem.message
    assert set(problem.valid) == {
        "rulebook",
        "report",
        "simulation",
        "indicators",
        "routes",
        "services",
        "timescales",
        "override_reasons",
        "rules",
        # a revision's (docs/rules-authoring.md, "Revisions")
        "revision",
        "retire",
        "replace",
        "add",
    }


def test_two_files_giving_rulebook_are_rejected(edited_rules: EditRules) -> None:
    """A second file with `rulebook:` is reported at that file (read in name order)."""
    edited = edited_rules()
    extra = edited / "zz_extra.yaml"
    extra.write_text("# another header\nrulebook: {id: other}\n", encoding="utf-8")
    problem = _single_problem(edited)
    assert Path(problem.file or "") == extra
    assert problem.line == 2
    assert problem.location == "rulebook"
    assert "more than one file" in problem.message


def test_a_file_that_is_not_a_mapping_is_rejected(edited_rules: EditRules) -> None:
    """A YAML file holding a list instead of top-level keys is reported by file."""
    edited = edited_rules()
    extra = edited / "zz_extra.yaml"
    extra.write_text("- just\n- a list\n", encoding="utf-8")
    problem = _single_problem(edited)
    assert Path(problem.file or "") == extra
    assert "mapping" in problem.message


def test_a_list_key_that_is_not_a_list_is_rejected(edited_rules: EditRules) -> None:
    """`routes:` given as a mapping is reported as `routes` in its file."""
    edited = edited_rules()
    extra = edited / "zz_extra.yaml"
    extra.write_text("routes: {id: extra}\n", encoding="utf-8")
    problem = _single_problem(edited)
    assert Path(problem.file or "") == extra
    assert problem.line == 1
    assert problem.location == "routes"
    assert "must be a list" in problem.message


def test_an_empty_yaml_file_is_ignored(edited_rules: EditRules) -> None:
    """A comment-only YAML file adds nothing and breaks nothing."""
    edited = edited_rules()
    (edited / "zz_extra.yaml").write_text("# nothing here yet\n", encoding="utf-8")
    assert load_rulebook(edited).fingerprint == load_rulebook().fingerprint


# ------------------------------------------------------------------------- several problems


def test_several_problems_in_several_rules_are_reported_at_once(edited_rules: EditRules) -> None:
    """Problems in two rules both appear, each with its own rule id and line."""
    edited = edited_rules(
        ("rules.yaml", LEVEL_3_WHEN, LEVEL_3_WHEN + "    colour: red\n"),
        ("rules.yaml", "    when: {level: 1}\n", "    when: {colour: blue}\n"),
    )
    rules_file = edited / "rules.yaml"
    with pytest.raises(RulebookInvalid) as caught:
        load_rulebook(edited)
    problems = caught.value.problems
    assert len(problems) >= 2
    by_rule = {problem.rule_id: problem for problem in problems}
    assert by_rule["single_level_3_indicator"].line == _line_of(rules_file, "    colour: red")
    assert by_rule["level_1_universal_services"].line == _line_of(
        rules_file, "    when: {colour: blue}"
    )
    assert f"has {len(problems)} problems" in str(caught.value)


def test_several_cross_reference_problems_are_reported_at_once(edited_rules: EditRules) -> None:
    """A repeated priority and an unknown route in different rules are both reported."""
    edited = edited_rules(
        ("rules.yaml", "    priority: 40\n", "    priority: 45\n"),
        ("rules.yaml", "then: {route: universal_services,", "then: {route: universal,"),
    )
    problems = _problems(edited)
    assert len(problems) >= 2
    assert {(p.rule_id, p.location.rsplit(".", 1)[-1]) for p in problems} >= {
        ("level_3_intensive_early_help", "priority"),
        ("level_1_universal_services", "route"),
    }


def test_problems_in_several_files_are_reported_at_once(edited_rules: EditRules) -> None:
    """A bad top-level key in one file and invalid YAML in another are both reported."""
    edited = edited_rules(
        ("rulebook.yaml", "routes:\n", "colours: [red]\nroutes:\n"),
        ("rules.yaml", LEVEL_3_THEN, "    then: {level: 3}}\n"),
    )
    problems = _problems(edited)
    assert len(problems) >= 2
    assert {Path(p.file or "").name for p in problems} == {"rulebook.yaml", "rules.yaml"}


# ------------------------------------------------------------------------- lines of block values


def test_a_problem_on_a_block_valued_key_reports_the_key_line(edited_rules: EditRules) -> None:
    """accumulated_level_2_needs's block `when:` is reported at the `when:` line."""
    edited = edited_rules(
        (
            "rules.yaml",
            "        - domains: {level: 2, min: 2}\n    then: {level: 3}",
            "        - level: 2\n    then: {level: 3}",
        )
    )
    rules_file = edited / "rules.yaml"
    problem = _single_problem(edited)
    assert problem.rule_id == "accumulated_level_2_needs"
    assert problem.location.endswith(".when")
    assert problem.line == _line_of(
        rules_file, "    when:", after="  - id: accumulated_level_2_needs"
    )


def test_a_second_block_rulebook_key_reports_the_key_line(edited_rules: EditRules) -> None:
    """`rulebook:` followed by an indented block is reported at the `rulebook:` line."""
    edited = edited_rules()
    extra = edited / "zz_extra.yaml"
    extra.write_text("# another header\nrulebook:\n  id: other\n", encoding="utf-8")
    problem = _single_problem(edited)
    assert Path(problem.file or "") == extra
    assert problem.line == 2


# ------------------------------------------------------------------------- no rulebook


def test_a_missing_directory_is_rulebook_not_found(tmp_path: Path) -> None:
    """A directory that does not exist raises RulebookNotFound naming it."""
    missing = tmp_path / "nowhere"
    with pytest.raises(RulebookNotFound) as caught:
        load_rulebook(missing)
    assert caught.value.code == "rulebook_not_found"
    assert caught.value.path == str(missing)
    assert "does not exist" in caught.value.message


def test_a_directory_without_yaml_files_is_rulebook_not_found(tmp_path: Path) -> None:
    """A directory holding only non-`.yaml` files raises RulebookNotFound."""
    (tmp_path / "rules.yml").write_text("rules: []\n", encoding="utf-8")
    (tmp_path / "README.txt").write_text("not a rulebook\n", encoding="utf-8")
    with pytest.raises(RulebookNotFound) as caught:
        load_rulebook(tmp_path)
    assert caught.value.code == "rulebook_not_found"
    assert caught.value.path == str(tmp_path)
    assert "no *.yaml" in caught.value.message


def test_a_file_instead_of_a_directory_is_rulebook_not_found(tmp_path: Path) -> None:
    """A path to a file, even a YAML file, is not a rulebook directory."""
    file = tmp_path / "rules.yaml"
    file.write_text("rules: []\n", encoding="utf-8")
    with pytest.raises(RulebookNotFound, match="not a directory") as caught:
        load_rulebook(file)
    assert caught.value.code == "rulebook_not_found"


def test_an_unknown_bundled_rulebook_is_rulebook_not_found() -> None:
    """Asking for a bundled rulebook that is not shipped raises RulebookNotFound."""
    with pytest.raises(RulebookNotFound) as caught:
        bundled_rules_dir("atlantis")
    assert caught.value.code == "rulebook_not_found"
    assert "atlantis" in caught.value.message


# ------------------------------------------------------------- hostile YAML (review D3, D14, D15)

LEVEL_4_THEN = "    when: {concerns: {level: 4}}\n    then: {level: 4}\n"


def _extra_file(edited_rules: EditRules, text: str, name: str = "zz.yaml") -> Path:
    directory = edited_rules()
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_a_duplicate_key_in_a_rule_is_refused_with_file_line_and_key(
    edited_rules: EditRules,
) -> None:
    """Review D3: `then: {level: 4, level: 1}` silently gave level 1 to physical abuse."""
    edited = edited_rules(
        ("rules.yaml", LEVEL_4_THEN, LEVEL_4_THEN.replace("{level: 4}\n", "{level: 4, level: 1}\n"))
    )
    problem = _single_problem(edited)
    path = edited / "rules.yaml"
    assert problem.file == str(path)
    assert problem.line == _line_of(path, "    then: {level: 4, level: 1}")
    assert problem.location.endswith(".then.level")
    assert "given twice" in problem.message


def test_a_repeated_priority_line_is_refused(edited_rules: EditRules) -> None:
    edited = edited_rules(
        ("rules.yaml", "    priority: 90\n", "    priority: 90\n    priority: 1\n")
    )
    problem = _single_problem(edited)
    assert problem.line == _line_of(edited / "rules.yaml", "    priority: 1")
    assert problem.location.endswith("priority")
    assert f"first at line {problem.line - 1}" in problem.message


def test_a_second_top_level_rules_key_is_refused(edited_rules: EditRules) -> None:
    problem = _single_problem(_extra_file(edited_rules, "rules: []\nrules: []\n"))
    assert (problem.location, problem.line) == ("rules", 2)


@pytest.mark.parametrize("key", ["1", "true", "null", "~", "1.5"])
def test_a_key_yaml_reads_as_no_text_is_refused(key: str, edited_rules: EditRules) -> None:
    """Review D14: top-level keys 1:, true:, null: raised StopIteration."""
    problem = _single_problem(_extra_file(edited_rules, f"rules: []\n{key}: x\n"))
    assert problem.line == 2
    assert "quote it" in problem.message


def test_a_merge_key_is_refused(edited_rules: EditRules) -> None:
    problem = _single_problem(_extra_file(edited_rules, "base: &b {rules: []}\n<<: *b\n"))
    assert (problem.line, problem.location) == (2, "<<")
    assert "merge key" in problem.message


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("    effective_from: 2018-10-01\n", "    effective_from: 2018-02-30\n", "is a date"),
        ("    effective_from: 2018-10-01\n", "    effective_from: 2018-13-01\n", "is a date"),
        ("    priority: 90\n", "    priority: " + "9" * 5000 + "\n", "too many digits"),
    ],
)
def test_a_value_pyyaml_cannot_construct_is_refused_with_its_line(
    old: str, new: str, says: str, edited_rules: EditRules
) -> None:
    """Review D14: these raised ValueError from PyYAML's constructors, a traceback."""
    edited = edited_rules(("rules.yaml", old, new))
    problem = _single_problem(edited)
    assert problem.file == str(edited / "rules.yaml")
    assert problem.line == _line_of(edited / "rules.yaml", new.rstrip("\n"))
    assert says in problem.message


def _laughs(levels: int) -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]")
    return "\n".join(f"  {line}" for line in ["laughs:", *lines])[2:] + "\n"


@pytest.mark.parametrize("levels", [6, 9])
def test_a_billion_laughs_file_is_refused_in_seconds(levels: int, edited_rules: EditRules) -> None:
    """Review D15: 487 bytes of nested aliases took 41 s and 2 GB; 10^9 leaves never ended."""
    import time

    directory = _extra_file(edited_rules, _laughs(levels).replace("laughs:", "rules_x:"))
    started = time.monotonic()
    problem = _single_problem(directory)
    assert time.monotonic() - started < 10
    assert "aliases expand to more than 100,000 nodes" in problem.message


def test_an_alias_that_holds_itself_is_refused(edited_rules: EditRules) -> None:
    problem = _single_problem(_extra_file(edited_rules, "rules: &r [*r]\n"))
    assert "alias refers to itself" in problem.message


def test_a_fifo_named_yaml_is_refused_without_blocking(edited_rules: EditRules) -> None:
    """Review D15: a FIFO named zz.yaml blocked the load for ever."""
    import os

    directory = edited_rules()
    os.mkfifo(directory / "zz.yaml")
    problem = _single_problem(directory)
    assert "not a regular file" in problem.message


def test_a_link_to_dev_zero_is_refused(edited_rules: EditRules) -> None:
    """Review D14: a symlink to /dev/zero read until MemoryError at 3.8 GB."""
    directory = edited_rules()
    (directory / "zz.yaml").symlink_to("/dev/zero")
    assert "not a regular file" in _single_problem(directory).message


def test_a_link_to_a_regular_file_is_read(edited_rules: EditRules, tmp_path: Path) -> None:
    directory = edited_rules()
    target = tmp_path / "elsewhere.yaml"
    (directory / "rulebook.yaml").rename(target)
    (directory / "rulebook.yaml").symlink_to(target)
    assert load_rulebook(directory).id == "kent"


def test_a_file_over_the_size_bound_is_refused(edited_rules: EditRules) -> None:
    from triage.loader import MAX_FILE_BYTES

    text = "# " + "x" * MAX_FILE_BYTES + "\n"
    problem = _single_problem(_extra_file(edited_rules, text))
    assert "larger than 16 MiB" in problem.message


def test_the_duplicate_id_check_is_linear() -> None:
    """Review D15: 40,000 indicators took 19 s; the repeated-id check scanned the list before
    each id, so 30 times the ids took 900 times as long. Now about 30 times (the best of three
    runs, against a bound of 8 times per id that a quadratic check misses by far)."""
    import time

    from triage.rulebook import Rulebook

    kent = load_rulebook()
    per_id = []
    for count in (1_000, 30_000):
        extra = [kent.indicators[0].model_copy(update={"id": f"extra_{i}"}) for i in range(count)]
        big = Rulebook.model_construct(**{**dict(kent), "indicators": (*kent.indicators, *extra)})
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            big.problems()
            runs.append(time.perf_counter() - started)
        per_id.append(min(runs) / count)
    assert per_id[1] < 8 * per_id[0]
