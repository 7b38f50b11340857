"""A second, made-up council (Fenwold, `tests/councils/fenwold/`) runs on the library as data
alone: three levels instead of Kent's four, and no id of Kent's. Every command a council uses
runs on it (route, explain, journey, lint, graph, simulate, log, verify, replay, what-if,
report), with outcomes worked out by hand from its rules, not read back from the code."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from hypothesis import given, settings

from triage import (
    FrontDoor,
    Journeys,
    PathwayGraph,
    PathwayInvalid,
    ReferralInvalid,
    Rulebook,
    RulebookInvalid,
    lint_rulebook,
    load_pathway,
    load_rulebook,
)
from triage.audit import DecisionLog, replay_log, verify_log
from triage.cli import cli
from triage.report import kpi_report
from triage.simulation import simulate, simulate_journeys

from .conftest import DURABLE_MISSING
from .strategies import fenwold_referrals

REPO = Path(__file__).resolve().parent.parent
COUNCIL = REPO / "tests" / "councils" / "fenwold"
RULES = COUNCIL / "rules"
PATHWAY = COUNCIL / "pathway.yaml"
TRIAGE = Path(sys.executable).with_name("triage")
KEY = "synthetic-fenwold-key-0001"
RECEIVED = "2026-03-02T09:30:00+00:00"  # a Monday; no bank holiday in the week after
# Working days from Monday 2 March 2026: 0 -> the 2nd, 1 -> Tue 3rd, 3 -> Thu 5th, 5 -> Mon 9th.
DUE = {"today": "2026-03-02", "next_working_day": "2026-03-03"}
DUE |= {"within_3_working_days": "2026-03-05", "within_5_working_days": "2026-03-09"}
ENGINES = ["reference", "compiled", "durable"]


@pytest.fixture(autouse=True)
def _keep_structlog_configuration() -> Iterator[None]:
    """The command line configures structlog for the process; in-process runs put it back."""
    before = structlog.get_config()
    yield
    structlog.configure(**before)


@pytest.fixture(name="fenwold", scope="module")
def fixture_fenwold() -> Rulebook:
    return load_rulebook(RULES)


@pytest.fixture(name="pathway", scope="module")
def fixture_pathway(fenwold: Rulebook) -> PathwayGraph:
    return load_pathway(PATHWAY, rulebook=fenwold)


@pytest.fixture(name="keeping", scope="module")
def fixture_keeping(tmp_path_factory: pytest.TempPathFactory) -> Rulebook:
    """Fenwold with its key worker rule keeping open cases at level 3 as well."""
    rules = edited(
        tmp_path_factory.mktemp("keeping") / "rules",
        (
            "rules.yaml",
            "- level: [1, 2]\n        - open_involvement: {service: [key_worker_support]}",
            "- level: [1, 2, 3]\n        - open_involvement: {service: [key_worker_support]}",
        ),
    )
    return load_rulebook(rules)


def referral(
    number: int,
    *children: dict[str, Any],
    concerns: tuple[tuple[str, str], ...] = (),
    consent: str = "given",
    danger: bool = False,
) -> dict[str, Any]:
    return {
        "referral_id": f"R-FEN-{number}",
        "received_at": RECEIVED,
        "source": "schools",
        "notification": "inter_agency_referral",
        "children": list(children),
        "concerns": [{"indicator": i, "about": about} for i, about in concerns],
        "consent": consent,
        "immediate_danger": danger,
    }


def child(child_id: str, born: str, **more: Any) -> dict[str, Any]:
    return {"child_id": child_id, "date_of_birth": born, **more}


# Each referral with what Fenwold's rules (tests/councils/fenwold/rules/rules.yaml) decide for
# each child, worked out by hand: (level, route, urgency, rules fired, flags).
Expected = tuple[int, str, str, tuple[str, ...], tuple[str, ...]]
CASES: list[tuple[dict[str, Any], list[Expected]]] = [
    (  # a strength only: level 1, signposting
        referral(
            1, child("C-F1", "2018-05-01"), concerns=(("settled_at_nursery_or_school", "child"),)
        ),
        [
            (
                1,
                "community_signposting",
                "within_5_working_days",
                ("strength_reported_community_level", "community_level_signposting"),
                (),
            )
        ],
    ),
    (  # two targeted needs in one domain: a key worker
        referral(
            2,
            child("C-F2", "2015-09-10"),
            concerns=(("frequent_lateness_or_absence", "child"), ("worried_low_mood", "child")),
        ),
        [
            (
                2,
                "key_worker_support",
                "within_3_working_days",
                ("targeted_need_level_2", "targeted_need_key_worker"),
                (),
            )
        ],
    ),
    (  # two targeted needs in two domains: a family hub plan (the what-if's one mover)
        referral(
            3,
            child("C-F3", "2019-11-20"),
            concerns=(
                ("frequent_lateness_or_absence", "child"),
                ("carer_struggling_with_routines", "parent_carer"),
            ),
        ),
        [
            (
                2,
                "family_hub_plan",
                "within_3_working_days",
                ("targeted_need_level_2", "targeted_needs_across_domains_plan"),
                (),
            )
        ],
    ),
    (  # three targeted needs in three domains add up to level 3: an assessment
        referral(
            4,
            child("C-F4", "2021-06-01"),
            concerns=(
                ("frequent_lateness_or_absence", "child"),
                ("carer_struggling_with_routines", "parent_carer"),
                ("overcrowded_home", "parent_carer"),
            ),
        ),
        [
            (
                3,
                "social_work_assessment",
                "next_working_day",
                (
                    "targeted_need_level_2",
                    "several_targeted_needs_level_3",
                    "statutory_needs_assessment",
                ),
                (),
            )
        ],
    ),
    (  # an unexplained injury to a baby: a strategy meeting today
        referral(
            5, child("C-F5", "2024-10-15"), concerns=(("injury_without_explanation", "child"),)
        ),
        [
            (
                3,
                "protection_strategy_meeting",
                "today",
                ("statutory_need_level_3", "harm_suspected_strategy_meeting"),
                (),
            )
        ],
    ),
    (  # level 3 on a key worker case: not kept by the key worker; flagged above its level
        referral(
            6,
            child("C-F6", "2012-07-07", open_involvement={"service": "key_worker_support"}),
            concerns=(("self_injury_needing_treatment", "child"),),
        ),
        [
            (
                3,
                "social_work_assessment",
                "next_working_day",
                ("statutory_need_level_3", "statutory_needs_assessment", "open_case_needs_more"),
                ("above_open_service_level",),
            )
        ],
    ),
    (  # a targeted need on an open safeguarding plan: level 3, to the plan's social worker
        referral(
            7,
            child("C-F7", "2017-08-08", open_involvement={"service": "safeguarding_plan"}),
            concerns=(("worried_low_mood", "child"),),
        ),
        [
            (
                3,
                "case_holder",
                "next_working_day",
                ("targeted_need_level_2", "open_plan_keeps_level_3", "open_plan_to_case_holder"),
                (),
            )
        ],
    ),
    (  # siblings, consent refused at level 2: each signposted
        referral(
            8,
            child("C-F8A", "2016-04-04"),
            child("C-F8B", "2020-09-09"),
            concerns=(("overcrowded_home", "parent_carer"),),
            consent="refused",
        ),
        [
            (
                2,
                "community_signposting",
                "within_5_working_days",
                ("targeted_need_level_2", "refused_consent_targeted_signposting"),
                (),
            )
        ]
        * 2,
    ),
    (  # referred before within the year, the family not yet asked: two flags
        referral(
            9,
            child("C-F9", "2010-12-12", previous_referrals=["2025-10-01"]),
            concerns=(("worried_low_mood", "child"),),
            consent="not_sought",
        ),
        [
            (
                2,
                "key_worker_support",
                "within_3_working_days",
                (
                    "targeted_need_level_2",
                    "targeted_need_key_worker",
                    "referred_again_within_a_year",
                    "family_not_yet_asked",
                ),
                ("referred_within_a_year", "ask_family_first"),
            )
        ],
    ),
    (  # a young child left alone, in danger now: a strategy meeting today
        referral(
            10,
            child("C-F10", "2022-02-02"),
            concerns=(("left_alone_overnight", "child"),),
            danger=True,
        ),
        [
            (
                3,
                "protection_strategy_meeting",
                "today",
                ("statutory_need_level_3", "danger_now_level_3", "danger_now_strategy_meeting"),
                (),
            )
        ],
    ),
]
REFERRALS = [item for item, _ in CASES]
NAMES = {1: "Community", 2: "Targeted", 3: "Statutory"}


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`triage args` in this process (click's CliRunner), stdout and stderr apart."""
    result = CliRunner().invoke(cli, list(args), input=stdin, prog_name="triage")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def script(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed `triage` script, run as a user runs it."""
    import os

    return subprocess.run(
        [str(TRIAGE), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def edited(target: Path, *edits: tuple[str, str, str]) -> Path:
    """A copy of Fenwold's rulebook directory with text replaced: (file, old, new), once each."""
    shutil.copytree(RULES, target)
    for file, old, new in edits:
        path = target / file
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} is not once in {file}"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return target


def jsonl(items: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(item) + "\n" for item in items)


# -- the council is its own -----------------------------------------------------------------------


def kent_ids() -> set[str]:
    kent = load_rulebook()
    ids = {i.id for i in kent.indicators} | {r.id for r in kent.routes}
    ids |= {s.id for s in kent.services} | {r.id for r in kent.rules}
    ids |= {t.urgency for t in kent.timescales} | set(kent.prepared.flag_of.values())
    ids |= {n.id for n in load_pathway(rulebook=kent).nodes}
    return ids


def test_fenwold_has_three_levels_and_shares_no_id_with_kent(
    fenwold: Rulebook, pathway: PathwayGraph
) -> None:
    assert fenwold.level_names == NAMES
    assert fenwold.highest_level == 3
    ours = {i.id for i in fenwold.indicators} | {r.id for r in fenwold.routes}
    ours |= {s.id for s in fenwold.services} | {r.id for r in fenwold.rules}
    ours |= {t.urgency for t in fenwold.timescales} | set(fenwold.prepared.flag_of.values())
    ours |= {n.id for n in pathway.nodes} | {fenwold.id, pathway.id}
    # manual_review is the fail-safe route every rulebook must declare.
    assert ours & kent_ids() == {"manual_review"}
    assert (len(fenwold.indicators), len(fenwold.routes)) == (9, 7)
    assert {i.domain.value for i in fenwold.indicators} == {
        "child_development",
        "parenting_capacity",
        "family_and_environment",
    }


def test_fenwold_says_it_is_made_up_wherever_it_cites(
    fenwold: Rulebook, pathway: PathwayGraph
) -> None:
    """It cites no real guidance for what it decides: every reference names its invented
    guide, except the national census code a closure carries (which says what it is cited for)."""
    on = date(2026, 3, 2)
    cited = [*fenwold.indicators, *fenwold.rules, *fenwold.timescales]
    assert all("made up for tests" in item.reference_on(on) for item in cited)
    assert all("made up" in t.local_choice for t in fenwold.timescales if t.local_choice)
    for edge in pathway.edges:
        assert "made up" in edge.reference or edge.reference.startswith("DfE Children in Need"), (
            edge
        )


# Strings in triage/ that equal a Kent id by coincidence of words, not as Kent's data.
NOT_KENT = {
    ("conditions.py", "closure"),  # the journey event kind (EventKind.CLOSURE)
    ("report/figures.py", "front_door"),  # a row key of the starts figure: routed, not moved
    ("serve/settings.py", "front_door"),  # the API's role for Front Door staff
}


def test_no_kent_id_is_written_as_a_string_in_the_code() -> None:
    """No string constant in triage/ is one of Kent's ids (routes, services, indicators, rules,
    flags, urgencies, pathway nodes): a council's ids are data. fidelity.py is left out: its
    cases are mapped by hand to Kent's continuum, and `ROUTE_CLASSES` maps Kent's routes (a
    rulebook with other routes passes its own, docs/fidelity.md)."""
    ids = kent_ids() - {"manual_review"}
    package = REPO / "triage"
    found = set()
    for module in sorted(package.rglob("*.py")):
        name = module.relative_to(package).as_posix()
        if name == "fidelity.py":
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if node.value in ids and (name, node.value) not in NOT_KENT:
                found.add((name, node.lineno, node.value))
    assert not found


# -- route and explain, on every engine -----------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_each_referral_is_routed_as_worked_out_by_hand(fenwold: Rulebook, engine: str) -> None:
    if engine == "durable" and DURABLE_MISSING is not None:
        pytest.skip(DURABLE_MISSING)
    door = FrontDoor(fenwold, engine=engine)  # type: ignore[arg-type]
    for item, expected in CASES:
        decided = [(d.level, d.route, d.urgency, d.rules_fired, d.flags) for d in door.route(item)]
        assert decided == expected, item["referral_id"]
        for decision in door.route(item):
            assert decision.level is not None
            assert decision.level_name == NAMES[decision.level]
            assert decision.due_by.isoformat() == DUE[decision.urgency]
            assert decision.rulebook.id == "fenwold"


def test_explain_speaks_fenwold(tmp_path: Path) -> None:
    """`triage explain --rules`: Fenwold's level name, route label, timescale and citation."""
    file = tmp_path / "f5.json"
    file.write_text(json.dumps(REFERRALS[4]), encoding="utf-8")
    result = run("explain", str(file), "--rules", str(RULES), "--engine", "reference")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Level of need: 3 (Statutory)" in text
    assert "Route: Protection strategy meeting [protection_strategy_meeting]" in text
    assert "How soon: Today (local choice of this rulebook: made up for the tests" in text
    assert "by 2026-03-02" in text
    assert "calls for a protection strategy meeting: an injury to the child that no one" in text
    assert "[rule harm_suspected_strategy_meeting]" in text
    assert "Rulebook fenwold 0.1.0" in text
    assert "Intensive" not in text
    assert "Specialist" not in text


@pytest.fixture(name="doors", scope="module")
def fixture_doors(fenwold: Rulebook) -> list[FrontDoor]:
    """Fenwold on each evaluator, with one id key (so their decisions agree to the id)."""
    engines = ["reference", "compiled"] + ([] if DURABLE_MISSING else ["durable"])
    return [FrontDoor(fenwold, engine=e, id_key=b"fenwold-ids") for e in engines]  # type: ignore[arg-type]


@settings(max_examples=300)
@given(item=fenwold_referrals())
def test_the_three_evaluators_agree_on_fenwold(
    item: dict[str, Any], doors: list[FrontDoor]
) -> None:
    """durable = compiled = reference on a rulebook that is not Kent's (all but the engine's
    name), and no child at Fenwold's highest level is sent to a level-1 or level-2 route."""
    low = {"community_signposting", "key_worker_support", "family_hub_plan"}
    decided = [
        [d.model_dump(mode="json") | {"engine": None} for d in door.route(item)] for door in doors
    ]
    assert all(other == decided[0] for other in decided[1:])
    for decision in decided[0]:
        assert decision["level"] != 3 or decision["route"] not in low, decision


@settings(max_examples=300)
@given(item=fenwold_referrals())
def test_a_level_3_child_is_never_kept_by_a_level_2_service_whatever_the_rules(
    item: dict[str, Any], keeping: Rulebook
) -> None:
    """On a copy of Fenwold whose key worker rule keeps cases at every level: the engine still
    sends each level-3 child it would keep to manual review, and keeps the others."""
    door = FrontDoor(keeping, engine="compiled")
    by_child = {kid["child_id"]: kid for kid in item["children"]}
    for decision in door.route(item):
        open_to = (by_child[decision.child_id].get("open_involvement") or {}).get("service")
        if "open_key_worker_keeps_case" not in decision.rules_fired:
            continue  # another route rule won
        assert open_to == "key_worker_support"
        assert decision.route == ("manual_review" if decision.level == 3 else "key_worker_support")


# -- fixes a three-level council needed (each fails on the code before it) ------------------------


def test_a_child_at_the_highest_level_is_never_kept_by_a_lower_service(tmp_path: Path) -> None:
    """The engine's invariant is at the rulebook's highest level (3 here, not the form's 4): a
    rule that would keep a level-3 child with its level-2 key worker goes to manual review."""
    rules = edited(
        tmp_path / "rules",
        (
            "rules.yaml",
            "- level: [1, 2]\n        - open_involvement: {service: [key_worker_support]}",
            "- level: [1, 2, 3]\n        - open_involvement: {service: [key_worker_support]}",
        ),
    )
    door = FrontDoor(load_rulebook(rules), engine="reference")
    (decision,) = door.route(REFERRALS[5])  # C-F6: level 3, open to key_worker_support
    assert (decision.level, decision.route) == (3, "manual_review")
    assert "serves open cases up to level 2, below the decided level 3" in decision.reasons[0]
    assert decision.urgency == "today"  # the manual-review urgency (sooner than the rule's)


def test_an_open_service_level_the_rulebook_does_not_count_is_refused(fenwold: Rulebook) -> None:
    """A level-4 open service sent to a three-level council would meet none of its open-case
    rules (and could be routed lower than the plan): it is bad input, named with the valid
    levels."""
    item = referral(
        11,
        child("C-F11", "2017-08-08", open_involvement={"service": "safeguarding_plan", "level": 4}),
        concerns=(("worried_low_mood", "child"),),
    )
    with pytest.raises(ReferralInvalid) as raised:
        FrontDoor(fenwold, engine="reference").route(item)
    (problem,) = raised.value.problems
    assert problem.location == "children[0].open_involvement.level"
    assert (problem.message, problem.value, problem.valid) == (
        "is not a level of this rulebook",
        "4",
        ("1", "2", "3"),
    )


@pytest.mark.parametrize(
    ("file", "old", "new", "location"),
    [
        (
            "indicators.yaml",
            "    domain: family_and_environment\n    level: 3",
            "    domain: family_and_environment\n    level: 4",
            "indicators[8].level",
        ),
        (
            "rules.yaml",
            "    then: {level: 3}\n\n  - id: open_plan",
            "    then: {level: 4}\n\n  - id: open_plan",
            "rules[4].then.level",
        ),
        (
            "rules.yaml",
            "        - level: 3\n        - concerns: {indicator: [injury",
            "        - level: 4\n        - concerns: {indicator: [injury",
            "rules[7].when",
        ),
        (
            "rulebook.yaml",
            "{id: safeguarding_plan, label: Fenwold safeguarding plan, level: 3",
            "{id: safeguarding_plan, label: Fenwold safeguarding plan, level: 4",
            "services[1].level",
        ),
        (
            "report.yaml",
            "    protection_strategy_meeting: 3",
            "    protection_strategy_meeting: 4",
            "report.route_levels.protection_strategy_meeting",
        ),
    ],
)
def test_a_level_the_rulebook_does_not_count_does_not_load(
    tmp_path: Path, file: str, old: str, new: str, location: str
) -> None:
    rules = edited(tmp_path / "rules", (file, old, new))
    with pytest.raises(RulebookInvalid) as raised:
        load_rulebook(rules)
    found = [(p.location, p.message, p.value, p.valid) for p in raised.value.problems]
    assert (location, "is not a level of this rulebook", "4", ("1", "2", "3")) in found


def test_levels_are_numbered_from_one_without_gaps(tmp_path: Path) -> None:
    rules = edited(tmp_path / "rules", ("rulebook.yaml", "    3: Statutory", "    4: Statutory"))
    with pytest.raises(RulebookInvalid) as raised:
        load_rulebook(rules)
    locations = {(p.location, p.message) for p in raised.value.problems}
    assert ("rulebook.levels", "must number the levels 1, 2, 3 ... without gaps") in locations


def test_a_rulebook_that_names_no_levels_keeps_the_four_and_its_fingerprint() -> None:
    """Kent names none: the form's four levels with their names, and `levels` left out of the
    dump (so out of the fingerprint and the snapshot) as before the field existed."""
    kent = load_rulebook()
    assert kent.level_names == {1: "Universal", 2: "Additional", 3: "Intensive", 4: "Specialist"}
    assert kent.highest_level == 4
    assert "levels" not in kent.model_dump(mode="json")["rulebook"]
    fenwold_dump = load_rulebook(RULES).model_dump(mode="json")["rulebook"]
    assert fenwold_dump["levels"] == {"1": "Community", "2": "Targeted", "3": "Statutory"}


def test_lint_finds_nothing_in_fenwold(fenwold: Rulebook) -> None:
    """No "no level rule produces level 4": the levels linted are the rulebook's three."""
    assert lint_rulebook(fenwold) == []
    result = run("lint", str(RULES), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["findings"] == []


def test_a_top_level_node_without_a_way_down_is_refused(tmp_path: Path, fenwold: Rulebook) -> None:
    """The way-down check is on the rulebook's highest level: a level-3 node here."""
    text = PATHWAY.read_text(encoding="utf-8")
    text = text.replace(
        "\nedges:\n",
        "  - {id: secure_unit, label: Secure unit, level: 3, kind: service,\n"
        "     age_range: {min_years: 10, max_years: 17, unborn: false}}\n\nedges:\n",
    ).replace(
        "\nforbidden:\n",
        "  - {from: social_work_assessment, to: secure_unit, kind: step_up,\n"
        '     reference: "local choice: made up"}\n'
        "\nforbidden:\n",
    )
    file = tmp_path / "pathway.yaml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(PathwayInvalid) as raised:
        load_pathway(file, rulebook=fenwold)
    messages = [str(p) for p in raised.value.problems]
    assert any("(node secure_unit): is a level-3 node with no way down" in m for m in messages), (
        messages
    )


def test_a_pathway_node_at_a_level_the_rulebook_does_not_count_is_refused(
    tmp_path: Path, fenwold: Rulebook
) -> None:
    file = tmp_path / "pathway.yaml"
    file.write_text(
        PATHWAY.read_text(encoding="utf-8").replace(
            "{id: protection_strategy_meeting, label: Protection strategy meeting, level: 3",
            "{id: protection_strategy_meeting, label: Protection strategy meeting, level: 4",
        ),
        encoding="utf-8",
    )
    load_pathway(file)  # on its own a pathway may use the form's four levels
    with pytest.raises(PathwayInvalid) as raised:
        load_pathway(file, rulebook=fenwold)
    found = [(p.location, p.message, p.value, p.valid) for p in raised.value.problems]
    assert ("nodes[5].level", "is not a level of rulebook fenwold", "4", ("1", "2", "3")) in found


def test_fidelity_refuses_a_rulebook_whose_levels_are_not_kents_four(fenwold: Rulebook) -> None:
    """The published fidelity cases are mapped by hand to Kent's four levels (`kent_level`):
    Fenwold's level 3 is not Kent's level 3, so comparing them would give figures that mean
    nothing. Refused, naming why, on the API and the command line."""
    from triage.errors import UsageError
    from triage.fidelity import run_fidelity

    with pytest.raises(UsageError, match="rulebook fenwold counts levels 1, 2, 3"):
        run_fidelity([], fenwold, engine="reference")
    result = run("fidelity", "--rules", str(RULES), "--engine", "reference")
    assert result.returncode == 2
    assert result.stderr.startswith("error [usage_error]: the fidelity cases are mapped to Kent")


# -- graph ----------------------------------------------------------------------------------------


def test_graph_draws_fenwold_with_its_level_names(tmp_path: Path, pathway: PathwayGraph) -> None:
    """A real `dot`: the svg names Fenwold's three levels and draws every node of its pathway."""
    if shutil.which("dot") is None:
        pytest.skip("Graphviz dot is not installed")
    out = tmp_path / "fenwold.svg"
    result = run(
        "graph",
        "--rules",
        str(RULES),
        "--pathway",
        str(PATHWAY),
        "--format",
        "svg",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    svg = out.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg[:400]
    for level, name in NAMES.items():
        assert f"Level {level}: {name}" in svg  # the legend's fills
    assert "Intensive" not in svg
    assert "Specialist" not in svg
    assert "Level 4" not in svg
    for node in pathway.nodes:
        assert f'id="node&#45;{node.id}"' in svg, node.id  # dot escapes the hyphen
    mermaid = run("graph", "--rules", str(RULES), "--pathway", str(PATHWAY)).stdout
    assert "subgraph band_level_3[" in mermaid
    assert "Level 3: Statutory" in mermaid
    assert "band_level_4" not in mermaid


# -- journeys -------------------------------------------------------------------------------------


def event(number: int, service: str, kind: str, *findings: str, **more: Any) -> dict[str, Any]:
    return {
        "event_id": f"E-FEN-{number}",
        "child_id": f"C-FJ{number}",
        "occurred_at": "2026-03-12T10:00:00+00:00",
        "event": kind,
        "service": service,
        "date_of_birth": "2016-01-01",
        "findings": list(findings),
        **more,
    }


EVENTS = [
    event(1, "key_worker_support", "review", "concerns_escalated"),
    event(2, "safeguarding_plan", "plan_ended", "concerns_reduced", consent="given"),
    event(3, "social_work_assessment", "review", "no_further_action"),
    event(4, "key_worker_support", "review", "outcomes_achieved", service_since="2025-06-01"),
    event(5, "key_worker_support", "review", "concerns_unchanged"),
]
# (kind, to, rules fired, closure reason), by hand from steps.yaml
MOVES = [
    ("step_up", "social_work_assessment", ("key_worker_steps_up_to_assessment",), None),
    ("step_down", "key_worker_support", ("plan_ends_steps_down_to_key_worker",), "RC9"),
    ("close", "case_closed", ("assessment_finds_no_further_action",), "RC8"),
    ("step_down", "community_signposting", ("key_worker_closes_when_achieved",), None),
    ("stay", "key_worker_support", (), None),
]


def test_journeys_move_along_fenwolds_pathway(fenwold: Rulebook, pathway: PathwayGraph) -> None:
    journeys = Journeys(fenwold, pathway, engine="reference")
    decided = [journeys.decide(e) for e in EVENTS]
    assert [(d.kind, d.to_service, d.rules_fired, d.closure_reason) for d in decided] == MOVES
    assert {d.pathway.id for d in decided} == {"fenwold"}


def test_a_journey_event_at_a_level_the_rulebook_does_not_count_is_refused(
    fenwold: Rulebook, pathway: PathwayGraph
) -> None:
    """A new referral at level 4 on a key worker case would meet no step rule of a three-level
    rulebook (its step-up asks for level 3): the child would stay. It is bad input instead."""
    journeys = Journeys(fenwold, pathway, engine="reference")
    at_three = event(6, "key_worker_support", "new_referral", level=3)
    assert journeys.decide(at_three).to_service == "social_work_assessment"
    with pytest.raises(ReferralInvalid) as raised:
        journeys.decide(event(6, "key_worker_support", "new_referral", level=4))
    (problem,) = raised.value.problems
    assert (problem.location, problem.message, problem.value, problem.valid) == (
        "level",
        "is not a level of this rulebook",
        "4",
        ("1", "2", "3"),
    )


def test_journey_on_the_command_line_needs_fenwolds_own_pathway(tmp_path: Path) -> None:
    """`triage journey --pathway`: without it the bundled pathway is Kent's, which does not fit
    Fenwold's rulebook (a clear error, exit 2); with it, the moves worked out by hand."""
    file = tmp_path / "e2.json"
    file.write_text(json.dumps(EVENTS[1]), encoding="utf-8")
    rules = ("--rules", str(RULES), "--engine", "reference")
    refused = run("journey", str(file), *rules)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error [pathway_invalid]")
    assert "has no node for route community_signposting of rulebook fenwold" in refused.stderr
    moved = run("journey", str(file), *rules, "--pathway", str(PATHWAY))
    assert moved.returncode == 0, moved.stderr
    decision = json.loads(moved.stdout)
    assert (decision["from_service"], decision["to_service"], decision["kind"]) == (
        "safeguarding_plan",
        "key_worker_support",
        "step_down",
    )
    assert decision["closure_reason"] == "RC9"
    assert decision["pathway"]["id"] == "fenwold"


def test_vocabulary_heads_each_of_fenwolds_levels_with_its_name() -> None:
    result = run("vocabulary", "--rules", str(RULES))
    assert result.returncode == 0, result.stderr
    headings = [line for line in result.stdout.splitlines() if line.startswith("Level ")]
    assert headings == ["Level 1 Community", "Level 2 Targeted", "Level 3 Statutory"]


# -- log, verify, replay, what-if, report ---------------------------------------------------------


@pytest.fixture(name="logs", scope="module")
def fixture_logs(
    tmp_path_factory: pytest.TempPathFactory, fenwold: Rulebook, pathway: PathwayGraph
) -> dict[str, str]:
    """The ten referrals routed by `triage route --batch --log` into a JSON Lines and an SQLite
    log, and the five journey events recorded after them: by `triage journey --batch --log
    --pathway` into the first, by the Python API into the second."""
    folder = tmp_path_factory.mktemp("fenwold-logs")
    batch, events = folder / "referrals.jsonl", folder / "events.jsonl"
    batch.write_text(jsonl(REFERRALS), encoding="utf-8")
    events.write_text(jsonl(EVENTS), encoding="utf-8")
    targets = {"jsonl": str(folder / "log.jsonl"), "sqlite": f"sqlite:///{folder / 'log.sqlite'}"}
    runner = CliRunner(env={"TRIAGE_LOG_KEY": KEY})
    for kind, target in targets.items():
        rules = ["--rules", str(RULES), "--engine", "reference"]
        result = runner.invoke(cli, ["route", str(batch), "--batch", "--log", target, *rules])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(d["level"], d["route"]) for d in lines] == [
            (e[0], e[1]) for _, expected in CASES for e in expected
        ]
        if kind == "jsonl":
            moved = runner.invoke(
                cli,
                [
                    "journey",
                    str(events),
                    "--batch",
                    "--log",
                    target,
                    "--pathway",
                    str(PATHWAY),
                    *rules,
                ],
            )
            assert moved.exit_code == 0, moved.output
            decided = [json.loads(line) for line in moved.stdout.splitlines()]
            assert [(d["kind"], d["to_service"]) for d in decided] == [m[:2] for m in MOVES]
            continue
        journeys = Journeys(fenwold, pathway, engine="reference")
        with DecisionLog(target, key=KEY) as log:
            log.record_transitions(
                journeys,
                [journeys.validate(e) for e in EVENTS],
                [journeys.decide(e) for e in EVENTS],
            )
    return targets


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_the_logs_verify_and_replay_identically(logs: dict[str, str], kind: str) -> None:
    target = logs[kind]
    verified = run("verify", target, "--json")
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["ok"] is True
    assert verify_log(target).ok
    report = replay_log(target)
    # 10 referrals (11 children) and 5 journey moves, every one decided again the same
    assert (report.decisions, report.different) == (11, 0)
    assert (report.journeys, report.journeys_different) == (5, 0)
    replayed = run("replay", target)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "identical: 11   different: 0" in replayed.stdout


@pytest.fixture(name="revised", scope="module")
def fixture_revised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fenwold with one threshold changed: two targeted needs across two domains, not three,
    add up to level 3."""
    return edited(
        tmp_path_factory.mktemp("revised") / "rules",
        (
            "rules.yaml",
            "        - concerns: {level: 2, min: 3}",
            "        - concerns: {level: 2, min: 2}",
        ),
    )


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_what_if_moves_exactly_the_child_worked_out_by_hand(
    logs: dict[str, str], revised: Path, kind: str
) -> None:
    """Only C-F3 (two targeted needs in two domains; seq 5: after the genesis, the snapshot and
    R-FEN-1, 2) moves: level 2 family_hub_plan -> level 3 social_work_assessment. C-F2's two
    needs are in one domain; C-F4 was at level 3 already; the others have one targeted need."""
    report = replay_log(logs[kind], against=revised)
    changed = [
        (o.seq, o.old_level, o.old_route, o.new_level, o.new_route)
        for o in report.outcomes
        if not o.identical
    ]
    assert changed == [(5, 2, "family_hub_plan", 3, "social_work_assessment")]
    assert (report.decisions, report.crossing_up(), report.crossing_down()) == (11, 1, 0)
    assert report.journeys_different == 0
    result = run("replay", logs[kind], "--against", str(revised), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["different"], summary["crossing_up"]) == (1, 1)
    assert [2, 3, 1] in summary["level_matrix"]
    assert ["family_hub_plan", "social_work_assessment", 1] in summary["route_matrix"]


def test_the_report_counts_fenwolds_three_levels_and_its_routes(
    logs: dict[str, str], tmp_path: Path
) -> None:
    report = kpi_report(logs["sqlite"], population=20_000)
    assert report.title == "Fenwold front door figures (made up for tests)"
    by_level = report.figure("decisions_by_level")
    # F1 at 1; F2, F3, F8 (two children), F9 at 2; F4, F5, F6, F7, F10 at 3; no level 4 row
    assert [(r.key, r.label, r.count) for r in by_level.rows] == [
        ("1", "Level 1 Community", 1),
        ("2", "Level 2 Targeted", 5),
        ("3", "Level 3 Statutory", 5),
    ]
    routes = {r.key: (r.label, r.count) for r in report.figure("decisions_by_route").rows}
    assert routes["community_signposting"] == ("Signposting to community services", 3)
    assert routes["key_worker_support"][1] == 2
    assert routes["family_hub_plan"][1] == 1
    assert routes["social_work_assessment"][1] == 2
    assert routes["protection_strategy_meeting"][1] == 2
    assert routes["case_holder"][1] == 1
    starts = report.figure("family_hub_plan_starts")
    assert (starts.numerator, starts.value) == (1, 0.5)  # F3; 1 * 10,000 / 20,000
    stepped = report.figure("closures_stepped_down_to_early_help")
    assert (stepped.numerator, stepped.denominator) == (1, 2)  # E2 to a key worker; E3 closed
    open_time = report.figure("tafs_open_12_months_or_less")
    assert (open_time.numerator, open_time.denominator) == (1, 1)  # E4: about 9 months open
    again = report.figure("re_referrals_within_12_months")
    assert (again.numerator, again.denominator) == (1, 11)  # C-F9 of 11 children
    html = tmp_path / "report.html"
    result = run("report", logs["jsonl"], "--json", "--html", str(html))
    assert result.returncode == 0, result.stderr
    levels = next(
        f for f in json.loads(result.stdout)["figures"] if f["key"] == "decisions_by_level"
    )
    assert [row["key"] for row in levels["rows"]] == ["1", "2", "3"]
    assert "Level 3 Statutory" in html.read_text(encoding="utf-8")


# -- simulate -------------------------------------------------------------------------------------


def test_simulated_fenwold_referrals_route_and_reach_its_highest_level(fenwold: Rulebook) -> None:
    """Every simulated referral is valid for Fenwold and routes; draws at level 4 fall to its
    highest level, 3, so some children there are in immediate danger (none were before)."""
    referrals = list(simulate(400, 11, fenwold, start=date(2026, 1, 5), days=60))
    door = FrontDoor(fenwold, engine="reference")
    decided = [(r, door.route(r)) for r in referrals]
    levels = {d.level for _, ds in decided for d in ds}
    assert levels <= {1, 2, 3, None}
    assert 3 in levels
    danger = [r for r in referrals if r["immediate_danger"]]
    assert danger, "no simulated child in immediate danger"
    assert all(
        d.route == "protection_strategy_meeting"
        for r, ds in decided
        if r["immediate_danger"]
        for d in ds
    )
    journeys = Journeys(fenwold, load_pathway(PATHWAY, rulebook=fenwold), engine="reference")
    events = list(simulate_journeys(decided, 11, fenwold))
    assert events
    moved = {journeys.decide(e).kind for e in events}
    assert moved <= {"step_up", "step_down", "close", "stay"}
    assert len(moved) >= 2


def test_simulate_on_the_command_line_writes_fenwold_referrals(tmp_path: Path) -> None:
    out = tmp_path / "referrals.jsonl"
    result = run("simulate", "--n", "50", "--seed", "3", "--rules", str(RULES), "--out", str(out))
    assert result.returncode == 0, result.stderr
    indicators = {i.id for i in load_rulebook(RULES).indicators}
    for line in out.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        assert {c["indicator"] for c in item["concerns"]} <= indicators


# -- the installed script -------------------------------------------------------------------------


def test_the_installed_script_routes_logs_and_verifies_fenwold(tmp_path: Path) -> None:
    """Two real runs of the console script: route with a log, then verify it."""
    log = tmp_path / "log.jsonl"
    routed = script(
        "route",
        "-",
        "--rules",
        str(RULES),
        "--log",
        str(log),
        stdin=json.dumps(REFERRALS[9]),
        TRIAGE_LOG_KEY=KEY,
    )
    assert routed.returncode == 0, routed.stderr
    (decision,) = [json.loads(line) for line in routed.stdout.splitlines()]
    assert (decision["level"], decision["level_name"], decision["route"]) == (
        3,
        "Statutory",
        "protection_strategy_meeting",
    )
    verified = script("verify", str(log))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert decision["due_by"] == "2026-03-02"
