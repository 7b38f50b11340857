"""The `triage` command line: most commands run in-process with click's CliRunner, a handful run
the installed console script as a user runs it (exit codes, stdout data, stderr messages)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from click.testing import CliRunner

from triage import load_rulebook
from triage.cli import cli

from .conftest import concerns, make_referral

REPO = Path(__file__).resolve().parent.parent
KENT = REPO / "rules" / "kent"
EXAMPLES = REPO / "examples" / "referrals"
README_EXAMPLE = EXAMPLES / "police-domestic-abuse.json"
SIBLINGS_EXAMPLE = EXAMPLES / "school-siblings.json"
TRIAGE = Path(sys.executable).with_name("triage")

DECISION_KEYS = {
    "decision_id",
    "level",
    "route",
    "urgency",
    "due_by",
    "rules_fired",
    "reasons",
    "rulebook",
    "library_version",
}
COMMANDS = ("route", "explain", "vocabulary", "schema", "lint")
IMPOSSIBLE_OLD = "concerns: {level: 2, min: 3}"
IMPOSSIBLE_NEW = "concerns: {level: 2, min: 999}"


@pytest.fixture(autouse=True)
def _keep_structlog_configuration() -> Iterator[None]:
    """The command line configures structlog for the process; in-process runs put it back."""
    before = structlog.get_config()
    yield
    structlog.configure(**before)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `triage args` in this process with click's CliRunner: stdout and stderr apart."""
    result = CliRunner().invoke(cli, list(args), input=stdin, prog_name="triage")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def script(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed `triage` script with `args`, from the repository root."""
    return subprocess.run(
        [str(TRIAGE), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def kent_yaml(name: str) -> dict[str, Any]:
    """One file of the Kent rulebook, parsed."""
    data = yaml.safe_load((KENT / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def kent_rule(rule_id: str) -> dict[str, Any]:
    """The rule `rule_id` of rules/kent/rules.yaml, as written."""
    rules: list[dict[str, Any]] = kent_yaml("rules.yaml")["rules"]
    (rule,) = (r for r in rules if r["id"] == rule_id)
    return rule


def route_label(route_id: str) -> str:
    """The label rulebook.yaml gives the route `route_id`."""
    routes: list[dict[str, Any]] = kent_yaml("rulebook.yaml")["routes"]
    (label,) = (r["label"] for r in routes if r["id"] == route_id)
    assert isinstance(label, str)
    return label


def decisions_of(stdout: str) -> list[dict[str, Any]]:
    """Parse JSON Lines output; every non-empty line must be one JSON object."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(item, dict) for item in parsed), stdout
    return parsed


def without_ids(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decisions without their decision ids, each checked to be one (`D-` and 20 hex)."""
    for decision in decisions:
        assert re.fullmatch(r"D-[0-9a-f]{20}", decision["decision_id"]), decision["decision_id"]
    return [{k: v for k, v in d.items() if k != "decision_id"} for d in decisions]


def edited_kent(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of rules/kent in tmp_path with the first `old` in `file` replaced by `new`."""
    target = tmp_path / "kent"
    shutil.copytree(KENT, target)
    path = target / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {file} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return target


# -- route ----------------------------------------------------------------------------------


def test_route_readme_example_gives_one_json_line_per_child_at_level_3_intensive_early_help() -> (
    None
):
    """The README example is routed to intensive early help at level 3, as the rulebook says."""
    indicators = {i["id"]: i for i in kent_yaml("indicators.yaml")["indicators"]}
    assert indicators["domestic_abuse"]["level"] == 3
    level_rule = kent_rule("single_level_3_indicator")
    route_rule = kent_rule("level_3_intensive_early_help")
    assert level_rule["then"] == {"level": 3}
    referral = json.loads(README_EXAMPLE.read_text(encoding="utf-8"))

    result = script("route", str(README_EXAMPLE))

    assert result.returncode == 0, result.stderr
    decisions = decisions_of(result.stdout)
    assert len(decisions) == len(referral["children"]) == 1
    (decision,) = decisions
    assert decision.keys() >= DECISION_KEYS
    assert decision["child_id"] == referral["children"][0]["child_id"]
    assert decision["level"] == 3
    assert decision["route"] == route_rule["then"]["route"] == "intensive_early_help"
    assert decision["urgency"] == route_rule["then"]["urgency"]
    # Received Monday 2 March 2026; within one working day is Tuesday 3 March.
    assert decision["due_by"] == "2026-03-03"
    assert decision["rules_fired"] == [level_rule["id"], route_rule["id"]]
    assert decision["reasons"]
    for rule in (level_rule, route_rule):
        assert any(rule["reference"] in reason for reason in decision["reasons"]), rule["id"]
    assert all("Kent Support Levels Guidance" in reason for reason in decision["reasons"])
    rulebook = kent_yaml("rulebook.yaml")["rulebook"]
    assert decision["rulebook"] == {
        "id": rulebook["id"],
        "version": rulebook["version"],
        "fingerprint": load_rulebook(KENT).fingerprint,
    }
    assert decision["library_version"] == metadata.version("frontdoor-triage")


def test_route_reads_standard_input_when_file_is_dash() -> None:
    """`route -` routes the referral on standard input like the same referral in a file."""
    from_file = script("route", str(README_EXAMPLE))
    from_stdin = script("route", "-", stdin=README_EXAMPLE.read_text(encoding="utf-8"))

    assert from_stdin.returncode == 0, from_stdin.stderr
    # Each run is a door with its own random id key: the same decisions, with other ids.
    assert without_ids(decisions_of(from_stdin.stdout)) == without_ids(
        decisions_of(from_file.stdout)
    )
    assert decisions_of(from_stdin.stdout)[0]["route"] == "intensive_early_help"


@pytest.mark.parametrize("example", [README_EXAMPLE, SIBLINGS_EXAMPLE], ids=lambda p: p.stem)
def test_reference_engine_gives_the_same_decision_as_durable(example: Path) -> None:
    """`--engine reference` decides every field as the durable engine does, except `engine`."""
    durable = run("route", "--engine", "durable", str(example))
    reference = run("route", "--engine", "reference", str(example))

    assert durable.returncode == reference.returncode == 0, durable.stderr + reference.stderr
    durable_decisions = decisions_of(durable.stdout)
    reference_decisions = decisions_of(reference.stdout)
    assert [d.pop("engine") for d in durable_decisions] == ["durable"] * len(durable_decisions)
    assert [d.pop("engine") for d in reference_decisions] == ["reference"] * len(
        reference_decisions
    )
    # Decision ids are keyed by each door's own random key: two runs give two sets of ids.
    assert durable_decisions
    assert without_ids(reference_decisions) == without_ids(durable_decisions)


def test_as_of_before_any_rule_is_in_force_routes_to_manual_review() -> None:
    """With `--as-of` before every rule's effective date, the child goes to manual review."""
    rules: list[dict[str, Any]] = kent_yaml("rules.yaml")["rules"]
    as_of = date(2018, 9, 30)
    assert all(rule["effective_from"] > as_of for rule in rules)

    result = run("route", "--as-of", as_of.isoformat(), str(README_EXAMPLE))

    assert result.returncode == 0, result.stderr
    (decision,) = decisions_of(result.stdout)
    assert decision["route"] == "manual_review"
    assert decision["level"] is None
    assert decision["rules_fired"] == []
    assert decision["as_of"] == as_of.isoformat()


def test_rules_option_uses_the_edited_rulebook(tmp_path: Path) -> None:
    """`--rules` on an edited copy of the rulebook changes the decision accordingly."""
    rule = kent_rule("level_3_intensive_early_help")
    assert rule["then"]["urgency"] != "within_2_working_days"
    edited = edited_kent(
        tmp_path,
        "rules.yaml",
        "then: {route: intensive_early_help, urgency: within_1_working_day}",
        "then: {route: intensive_early_help, urgency: within_2_working_days}",
    )

    result = run("route", "--rules", str(edited), str(README_EXAMPLE))

    assert result.returncode == 0, result.stderr
    (decision,) = decisions_of(result.stdout)
    assert decision["route"] == "intensive_early_help"
    assert decision["urgency"] == "within_2_working_days"
    # Received Monday 2 March 2026; two working days later is Wednesday 4 March.
    assert decision["due_by"] == "2026-03-04"
    assert decision["rulebook"]["fingerprint"] == load_rulebook(edited).fingerprint
    assert decision["rulebook"]["fingerprint"] != load_rulebook(KENT).fingerprint


# -- bad input ------------------------------------------------------------------------------


def test_invalid_consent_exits_2_naming_the_field_and_valid_values() -> None:
    """A consent value outside the vocabulary is refused with the field and the valid values."""
    referral = make_referral(concerns=concerns("domestic_abuse"), consent="yes")

    result = run("route", "-", stdin=json.dumps(referral))

    assert result.returncode == 2
    assert result.stdout == ""
    assert "consent" in result.stderr
    assert "given, refused, not_sought" in result.stderr
    assert "Traceback" not in result.stderr


def test_text_that_is_not_json_exits_2_with_input_not_json() -> None:
    """Text that is not JSON is refused with the `input_not_json` code and no traceback."""
    result = run("route", "-", stdin="this is not a referral\n")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "input_not_json" in result.stderr
    assert "Traceback" not in result.stderr


def test_future_date_of_birth_exits_2_without_echoing_the_date() -> None:
    """A date of birth after receipt is refused, and the date (case data) is not echoed."""
    dob = "2099-05-01"
    referral = make_referral(
        children=[{"child_id": "C-TEST-1", "date_of_birth": dob}],
        concerns=concerns("domestic_abuse"),
    )

    result = run("route", "-", stdin=json.dumps(referral))

    assert result.returncode == 2
    assert result.stdout == ""
    assert "date_of_birth" in result.stderr
    assert dob not in result.stderr
    assert "2099" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "bad_line",
    [
        "{this is not json",
        json.dumps(make_referral(referral_id="R-BATCH-2", consent="yes")),
    ],
    ids=["not_json", "invalid_consent"],
)
def test_batch_routes_good_lines_and_reports_the_bad_line_number(
    tmp_path: Path, bad_line: str
) -> None:
    """`--batch` routes every good line, names the bad line on stderr, and exits 2."""
    good_1 = make_referral(referral_id="R-BATCH-1", concerns=concerns("domestic_abuse"))
    good_3 = make_referral(referral_id="R-BATCH-3", concerns=concerns("domestic_abuse"))
    batch = tmp_path / "referrals.jsonl"
    batch.write_text(
        "\n".join([json.dumps(good_1), bad_line, json.dumps(good_3)]) + "\n", encoding="utf-8"
    )

    result = run("route", "--batch", str(batch))

    assert result.returncode == 2
    decisions = decisions_of(result.stdout)
    assert [d["referral_id"] for d in decisions] == ["R-BATCH-1", "R-BATCH-3"]
    assert all(d["route"] == "intensive_early_help" for d in decisions)
    assert f"{batch} line 2" in result.stderr
    assert f"{batch} line 1" not in result.stderr
    assert f"{batch} line 3" not in result.stderr
    assert "Traceback" not in result.stderr


# -- explain, vocabulary, schema ------------------------------------------------------------


def test_explain_prints_level_of_need_and_route_label_for_several_files() -> None:
    """`explain` takes several files and shows each child's level and the route's label."""
    result = run("explain", str(README_EXAMPLE), str(SIBLINGS_EXAMPLE))

    assert result.returncode == 0, result.stderr
    children = [
        child["child_id"]
        for example in (README_EXAMPLE, SIBLINGS_EXAMPLE)
        for child in json.loads(example.read_text(encoding="utf-8"))["children"]
    ]
    assert len(children) == 3
    assert result.stdout.count("Level of need") == len(children)
    for child_id in children:
        assert child_id in result.stdout
    assert route_label("intensive_early_help") in result.stdout
    # The siblings share a level-2 parenting concern and each has a level-2 child_development
    # concern: two domains, so rule level_2_needs_across_domains_team_around_the_family.
    assert route_label("team_around_the_family") in result.stdout


def test_vocabulary_lists_every_indicator_under_its_level_and_domain_in_100_columns() -> None:
    """`vocabulary` lists each indicator of indicators.yaml once, under the heading of its level
    and the subheading of its domain, in lines of at most 100 characters."""
    written = {
        i["id"]: (i["level"], i["domain"]) for i in kent_yaml("indicators.yaml")["indicators"]
    }

    result = run("vocabulary")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 100
    assert lines[0].split() == ["indicator", "census", "label"]
    listed: dict[str, tuple[int, str]] = {}
    level, domain = 0, ""
    for line in lines[1:]:
        if line.startswith("Level "):
            level = int(line.split()[1])
        elif line.startswith("  ") and line[2] != " ":
            domain = line.strip().replace(" ", "_")
        elif line.startswith("    ") and line[4] != " ":
            indicator = line.split()[0]
            assert indicator not in listed
            listed[indicator] = (level, domain)
    assert listed == written


def test_vocabulary_routes_lists_the_route_ids_in_the_rulebooks_order() -> None:
    """`vocabulary --routes` lists rulebook.yaml's routes, in its (continuum) order, with labels."""
    routes = kent_yaml("rulebook.yaml")["routes"]

    result = run("vocabulary", "--routes")

    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["route", "label"]
    assert [row.split()[0] for row in rows[1:]] == [r["id"] for r in routes]
    assert routes[0]["id"] == "universal_services"
    assert route_label("manual_review") in rows[-1]


def test_vocabulary_rule_ids_lists_every_rule_with_its_kind() -> None:
    """`vocabulary --rule-ids --json` gives each rule of rules.yaml and steps.yaml once, in file
    order, with id, kind and title."""
    rules = kent_yaml("rules.yaml")["rules"] + kent_yaml("steps.yaml")["rules"]

    result = run("vocabulary", "--rule-ids", "--json")

    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [r["id"] for r in listed] == [r["id"] for r in rules]
    kinds = {r["id"]: r["kind"] for r in listed}
    assert kinds["single_level_3_indicator"] == "level"
    assert kinds["level_3_intensive_early_help"] == "route"
    assert kinds["step_up_early_help_level_4"] == "step"


def test_vocabulary_refuses_routes_and_rule_ids_together() -> None:
    """`--routes --rule-ids` is a usage error (exit 2), not a silent pick of one."""
    result = run("vocabulary", "--routes", "--rule-ids")

    assert result.returncode == 2
    assert result.stderr.startswith("error [usage_error]: ")


def test_vocabulary_json_is_a_list_of_every_indicator() -> None:
    """`vocabulary --json` is a JSON list holding every indicator id once."""
    ids = {i["id"] for i in kent_yaml("indicators.yaml")["indicators"]}

    result = run("vocabulary", "--json")

    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert isinstance(listed, list)
    assert sorted(item["id"] for item in listed) == sorted(ids)


def _refs(node: Any) -> list[str]:
    """Every `$ref` string anywhere in a JSON document."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


@pytest.mark.parametrize("name", ["referral", "decision", "rulebook", "scenario"])
def test_schema_prints_a_json_schema_object(name: str) -> None:
    """`schema NAME` prints a JSON Schema of an object whose local references all resolve."""
    result = run("schema", name)

    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert isinstance(schema, dict)
    assert schema["type"] == "object"
    assert isinstance(schema["properties"], dict)
    assert schema["properties"]
    definitions = schema.get("$defs", {})
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in definitions, ref


def test_referral_schema_has_the_form_fields() -> None:
    """The referral schema has every top-level field of the README's referral form."""
    readme_form = {
        "referral_id",
        "received_at",
        "source",
        "notification",
        "children",
        "concerns",
        "consent",
        "immediate_danger",
    }

    result = run("schema", "referral")

    assert result.returncode == 0, result.stderr
    assert readme_form <= json.loads(result.stdout)["properties"].keys()


def test_decision_schema_has_the_decision_fields() -> None:
    """The decision schema has every field a routed decision carries."""
    result = run("schema", "decision")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["properties"].keys() >= DECISION_KEYS


# -- lint -----------------------------------------------------------------------------------


def test_lint_of_kent_rulebook_finds_nothing() -> None:
    """`lint rules/kent` exits 0 and reports no findings."""
    result = run("lint", str(KENT))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 finding(s)" in result.stdout


def test_lint_of_missing_directory_exits_2_with_rulebook_not_found(tmp_path: Path) -> None:
    """`lint` on a directory that does not exist exits 2 with `rulebook_not_found`."""
    result = run("lint", str(tmp_path / "no-such-rulebook"))

    assert result.returncode == 2
    assert "rulebook_not_found" in result.stderr
    assert "Traceback" not in result.stderr


def test_lint_names_a_rule_that_can_never_fire(tmp_path: Path) -> None:
    """A rule asking for more level-2 indicators than exist is a finding: exit 1, rule named."""
    rules: list[dict[str, Any]] = kent_yaml("rules.yaml")["rules"]
    impossible = [
        rule["id"]
        for rule in rules
        if {"concerns": {"level": 2, "min": 3}} in rule["when"].get("all", [])
    ]
    assert len(impossible) == 1
    indicators = kent_yaml("indicators.yaml")["indicators"]
    assert sum(1 for i in indicators if i["level"] == 2) < 999
    edited = edited_kent(tmp_path, "rules.yaml", IMPOSSIBLE_OLD, IMPOSSIBLE_NEW)

    result = run("lint", str(edited))

    assert result.returncode == 1, result.stdout + result.stderr
    assert impossible[0] in result.stdout
    assert "1 finding(s)" in result.stdout


# -- help and version -----------------------------------------------------------------------


def test_group_help_lists_every_command_once_by_task() -> None:
    """`triage --help` lists every command once, under a task heading, with a description that
    ends at a whole clause (never `...`)."""
    result = script("--help")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "..." not in "\n".join(lines[1:])  # the usage line ends in click's own `[ARGS]...`
    headings = [line for line in lines if line.endswith(":") and not line.startswith(" ")]
    tasks = ["Route and explain:", "Check the rules:", "Audit a decision log:", "Try it out:"]
    assert [heading for heading in headings if heading in tasks] == tasks
    listed = [line.split()[0] for line in lines if line.startswith("  ") and len(line) > 2]
    listed = [name for name in listed if name in cli.commands]
    assert sorted(listed) == sorted(cli.commands)
    for command in COMMANDS:
        assert command in listed
    route_at = lines.index(next(line for line in lines if line.startswith("  route ")))
    assert lines[route_at - 1] == "Route and explain:"


def test_python_dash_m_runs_the_same_command_line_as_the_script() -> None:
    """`python -m triage.cli` (the Makefile's `schemas` target) and the installed `triage`
    script are one command line: the same help, the same program name, the same commands."""
    module = subprocess.run(
        [sys.executable, "-m", "triage.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    installed = script("--help")

    assert module.returncode == installed.returncode == 0, module.stderr
    assert module.stdout.startswith("Usage: triage [OPTIONS] COMMAND [ARGS]...")
    assert module.stdout == installed.stdout
    (entry,) = metadata.entry_points(group="console_scripts", name="triage")
    assert entry.value == "triage.cli:main"


def test_every_command_is_registered_on_the_group_from_its_module() -> None:
    """The commands live in modules by task (triage/cli/): each of the 17 is on the group, and
    each is defined in the module its section of `triage --help` names."""
    homes = {
        "triage.cli.routing": {"route", "explain", "journey", "outcome"},
        "triage.cli.rules": {"scenarios", "fidelity", "vocabulary", "lint", "graph", "schema"},
        "triage.cli.audit": {"verify", "show", "replay", "report"},
        "triage.cli.demo": {"demo", "simulate"},
        "triage.cli.service": {"serve"},
    }
    found: dict[str, set[str]] = {}
    for name, command in cli.commands.items():
        assert command.callback is not None
        found.setdefault(command.callback.__module__, set()).add(name)
    assert found == homes


def test_route_help_documents_its_options() -> None:
    """`triage route --help` documents --batch, --rules, --engine and --as-of."""
    result = run("route", "--help")

    assert result.returncode == 0, result.stderr
    for option in ("--batch", "--rules", "--engine", "--as-of"):
        assert option in result.stdout


def test_version_prints_the_installed_version() -> None:
    """`triage --version` prints the installed package version."""
    result = script("--version")

    assert result.returncode == 0, result.stderr
    assert metadata.version("frontdoor-triage") in result.stdout


# -- the error boundary and global options --------------------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_logs_each_decision_whether_given_before_or_after_the_subcommand(
    where: str,
) -> None:
    """`-v` logs the decision to stderr as `triage -v route x` and as `triage route x -v`."""
    args = ["route", str(README_EXAMPLE)]
    result = script(*(["-v", *args] if where == "before" else [*args, "-v"]))

    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["event"] for e in events] == ["referral_triaged"]
    assert decisions_of(result.stdout)[0]["route"] == "intensive_early_help"


def test_without_verbose_nothing_is_logged() -> None:
    """Without `-v` a routed referral writes nothing to stderr."""
    result = script("route", str(README_EXAMPLE))

    assert result.returncode == 0
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("lint", "no-such-rulebook"), "rulebook_not_found"),
        (("vocabulary", "--rules", "no-such-rulebook"), "rulebook_not_found"),
        (("explain", "-"), "input_not_json"),
        (("journey", "-"), "input_not_json"),
        (("scenarios", "triage/audit"), "scenario_invalid"),
    ],
)
def test_every_triage_error_is_one_stderr_line_and_exit_2(args: tuple[str, ...], code: str) -> None:
    """A `TriageError` from any command: `error [code]: message` on stderr, exit 2."""
    result = script(*args, stdin="not json")

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"error [{code}]: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# -- --json on every command that prints data, and errors as JSON ---------------------------


def test_lint_json_gives_the_counts_and_no_findings_for_kent() -> None:
    """`lint --json` on Kent: its rule and indicator counts, full fingerprint, no findings."""
    written = kent_yaml("rules.yaml")["rules"] + kent_yaml("steps.yaml")["rules"]

    result = run("lint", "--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rules"] == len(written)
    assert summary["indicators"] == len(kent_yaml("indicators.yaml")["indicators"])
    assert summary["fingerprint"] == load_rulebook(KENT).fingerprint
    assert summary["findings"] == []


def test_lint_json_lists_a_rule_that_can_never_fire_and_exits_1(tmp_path: Path) -> None:
    """`lint --json` names the impossible rule as a finding with its subject, and exits 1."""
    edited = edited_kent(tmp_path, "rules.yaml", IMPOSSIBLE_OLD, IMPOSSIBLE_NEW)
    # rules.yaml: the one rule with `concerns: {level: 2, min: 3}`.
    rule = "accumulated_level_2_needs"
    assert "{'level': 2, 'min': 3}" in str(kent_rule(rule)["when"])

    result = run("lint", str(edited), "--json")

    assert result.returncode == 1, result.stderr
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["subject"] == rule
    assert finding["severity"] == "error"


def test_explain_json_gives_each_decision_with_its_explanation() -> None:
    """`explain --json` on two files: one object per child, the decision and its explanation."""
    result = run("explain", "--json", str(README_EXAMPLE), str(SIBLINGS_EXAMPLE))

    assert result.returncode == 0, result.stderr
    explained = json.loads(result.stdout)
    assert len(explained) == 3  # one child in the README example, two siblings
    first = explained[0]
    assert first["decision"]["route"] == "intensive_early_help"
    assert first["decision"]["child_id"] in first["explanation"]
    assert route_label("intensive_early_help") in first["explanation"]


def test_with_json_an_error_is_a_json_object_on_stderr_with_each_problem() -> None:
    """With `--json`, a refused referral is one JSON object on stderr: code, message, and each
    problem's location and valid values; exit 2, nothing on stdout."""
    referral = make_referral(concerns=concerns("domestic_abuse"), consent="yes")

    result = run("explain", "--json", "-", stdin=json.dumps(referral))

    assert result.returncode == 2
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert error["code"] == "referral_invalid"
    assert error["message"].startswith("the referral has 1 problem")
    assert error["problems"] == [
        {
            "location": "consent",
            "message": error["problems"][0]["message"],
            "valid": ["given", "refused", "not_sought"],
        }
    ]


def test_with_json_an_error_without_problems_has_an_empty_list() -> None:
    """`lint --json` of a missing rulebook: `rulebook_not_found` as JSON, with no problems."""
    result = run("lint", "--json", "no-such-rulebook")

    assert result.returncode == 2
    assert json.loads(result.stderr) == {
        "code": "rulebook_not_found",
        "message": "no rulebook at no-such-rulebook: the directory does not exist",
        "problems": [],
    }


def test_lint_takes_the_rulebook_as_rules_too(tmp_path: Path) -> None:
    """`lint --rules DIR` checks DIR as `lint DIR` does; both at once is a usage error."""
    edited = edited_kent(tmp_path, "rules.yaml", IMPOSSIBLE_OLD, IMPOSSIBLE_NEW)

    by_option = run("lint", "--rules", str(edited))
    both = run("lint", str(edited), "--rules", str(KENT))

    assert by_option.returncode == 1
    assert by_option.stdout == run("lint", str(edited)).stdout
    assert "accumulated_level_2_needs" in by_option.stdout
    assert both.returncode == 2
    assert both.stderr.startswith("error [usage_error]: ")


def test_every_commands_json_flag_turns_its_errors_into_json(tmp_path: Path) -> None:
    """`report --json` (a command with its own --json) also gets its errors as JSON, from the
    one boundary: a log that does not exist is `log_unusable` as an object, exit 2."""
    target = f"sqlite:///{tmp_path / 'missing' / 'log.sqlite'}"

    plain = run("report", target)
    as_json = run("report", target, "--json")

    assert plain.returncode == as_json.returncode == 2
    assert plain.stderr.startswith("error [log_unusable]: ")
    error = json.loads(as_json.stderr)
    assert error["code"] == "log_unusable"
    assert error["message"] == plain.stderr.removeprefix("error [log_unusable]: ").rstrip("\n")
