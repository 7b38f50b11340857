"""The planning what-if (`triage replay LOG --against REVISION` across two route sets): matrices,
children per team by month, section 47 work, offers and the KPI report under the new model,
against figures worked out by hand from a small synthetic log; and two properties."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage import FrontDoor, Rulebook, bundled_rules_dir, load_rulebook
from triage.audit import DecisionLog
from triage.audit.planning import log_route_ids, plan_log
from triage.errors import LogError, RulebookInvalid
from triage.lint import lint_rulebook
from triage.report.planning import (
    kpi_under_revision,
    level_moves,
    planning_dict,
    render_planning,
    team_totals,
)
from triage.report.planning_page import planning_html

from .conftest import concerns, make_referral
from .strategies import referrals
from .tampering import read_raw, write_raw
from .test_report import MEASURE

KEY = "synthetic-test-key-planning"
FGDM = "family_group_decision_making_offer"

# A revision of Kent made here, as h-reform's overlay will be: intensive early help and the child
# and family assessment merged into family help; the strategy discussion renamed multi-agency
# child protection; a flag rule offering family group decision making at level 4; the planning
# data that says which routes are section 47 work, which flag is an offer, and the teams.
REVISION_ROUTES = """  - id: family_help
    label: Family help, with a lead practitioner
    description: Level 3, and level 4 without suspected significant harm (section 17).
"""
FLAG_RULE = f"""
  - id: family_group_decision_making_at_level_4
    title: A family group decision making meeting is offered to a family at level 4
    reference: "synthetic test revision"
    effective_from: 2018-10-01
    when: {{level: 4}}
    then: {{flag: {FGDM}}}
"""
PLANNING = f"""
  planning:
    section_47: [multi_agency_child_protection, emergency_protection]
    earlier_section_47: [strategy_discussion, emergency_protection]
    offers: [{FGDM}]
    teams:
      family_help: [family_help]
      child_protection: [multi_agency_child_protection, emergency_protection]
"""


def _edit(path: Path, *edits: tuple[str, str]) -> None:
    """Every `old` in the file becomes `new` (each must be there)."""
    text = path.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, f"{old!r} not in {path.name}"
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def make_revision(target: Path) -> Path:
    shutil.copytree(bundled_rules_dir(), target)
    (target / "simulation.yaml").unlink()  # its follow-ups are keyed by the old routes
    routes = [
        ("route: intensive_early_help", "route: family_help"),
        ("route: child_and_family_assessment", "route: family_help"),
        ("route: strategy_discussion", "route: multi_agency_child_protection"),
    ]
    rulebook = (target / "rulebook.yaml").read_text(encoding="utf-8")
    ieh = rulebook.index("  - id: intensive_early_help\n")
    sd = rulebook.index("  - id: strategy_discussion\n")
    rulebook = rulebook[:ieh] + REVISION_ROUTES + rulebook[sd:]  # the two merged into one
    (target / "rulebook.yaml").write_text(rulebook, encoding="utf-8")
    _edit(
        target / "rulebook.yaml",
        ('version: "2.0.0"', 'version: "3.0.0-test"'),
        ("  - id: strategy_discussion\n", "  - id: multi_agency_child_protection\n"),
        ("route: intensive_early_help", "route: family_help"),
    )
    _edit(target / "rules.yaml", *routes)
    with (target / "rules.yaml").open("a", encoding="utf-8") as rules:
        rules.write(FLAG_RULE)
    _edit(
        target / "report.yaml",
        (
            "    intensive_early_help: 3\n    child_and_family_assessment: 3\n",
            "    family_help: 3\n",
        ),
        ("    strategy_discussion: 4\n", "    multi_agency_child_protection: 4\n"),
        ("      - service: intensive_early_help\n", "      - service: family_help\n"),
        (
            "assessment: [child_and_family_assessment, strategy_discussion]",
            "assessment: [family_help, multi_agency_child_protection]",
        ),
        ("  figures:\n", PLANNING.lstrip("\n") + "  figures:\n"),
    )
    return target


@pytest.fixture(name="revision", scope="module")
def fixture_revision(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_revision(tmp_path_factory.mktemp("revision") / "rules")


# Seven one-child referrals; the outcome under Kent 2.0.0 and under the revision, by hand:
# level-4 physical abuse is a strategy discussion (rule priority 90), now multi-agency child
# protection with the offer; persistent absence (level 3, no assessment indicator) intensive
# early help, homelessness (level 3, on the assessment list) a child and family assessment,
# both now family help; the rest keep their routes.
SMALL = [
    ("2026-03-02", ("physical_abuse",)),  # 4 strategy_discussion -> 4 macp, offer
    ("2026-03-10", ("persistent_absence",)),  # 3 intensive_early_help -> 3 family_help
    ("2026-03-31", ("homeless_child",)),  # 3 child_and_family_assessment -> 3 family_help
    ("2026-04-01", ("school_attendance_above_90",)),  # 1 universal_services, unchanged
    ("2026-04-14", ("occasional_truancy", "parental_mental_health")),  # 2 TAF, unchanged
    ("2026-04-20", ("physical_abuse",)),  # 4 strategy_discussion -> 4 macp, offer
    ("2026-04-30", ()),  # no level rule applies: manual review, unchanged
]


def small_log(target: str, door: FrontDoor) -> str:
    with DecisionLog(target, key=KEY) as log:
        log.route_batch(
            door,
            [
                make_referral(
                    referral_id=f"R-P-{n}",
                    received_at=f"{day}T10:00:00+00:00",
                    children=[{"child_id": f"C-P-{n}", "date_of_birth": "2019-05-01"}],
                    concerns=concerns(*indicators),
                )
                for n, (day, indicators) in enumerate(SMALL)
            ],
        )
    return target


@pytest.fixture(name="logged")
def fixture_logged(tmp_path: Path, reference: FrontDoor) -> str:
    return small_log(f"sqlite:///{tmp_path / 'log.sqlite'}", reference)


def test_the_test_revision_loads_and_lints(revision: Path) -> None:
    rulebook = load_rulebook(revision)
    assert {"family_help", "multi_agency_child_protection"} <= rulebook.route_ids
    assert not {"intensive_early_help", "child_and_family_assessment"} & rulebook.route_ids
    assert lint_rulebook(rulebook) is not None


def test_planning_data_naming_an_unknown_route_or_flag_is_a_load_problem(
    revision: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(revision, broken)
    _edit(
        broken / "report.yaml",
        ("section_47: [multi_agency_child_protection,", "section_47: [strategy_discussion,"),
        (f"offers: [{FGDM}]", "offers: [fgdm_offered]"),
        ("family_help: [family_help]", "family_help: [early_help_unit]"),
    )
    with pytest.raises(RulebookInvalid) as raised:
        load_rulebook(broken)
    assert {(p.location, p.value) for p in raised.value.problems} == {
        ("report.planning.section_47", "strategy_discussion"),
        ("report.planning.offers", "fgdm_offered"),
        ("report.planning.teams.family_help", "early_help_unit"),
    }


def test_a_report_section_without_planning_data_keeps_its_fingerprint(kent: Rulebook) -> None:
    """Kent 2.0.0 has no planning data: its report dumps without the key, so the fingerprint
    (in every logged decision) is the one it had before the field existed."""
    assert kent.report is not None
    assert kent.report.planning is None
    assert "planning" not in kent.report.model_dump(mode="json")
    assert kent.fingerprint == (
        "7bfc315e4daf6dbebd17ebc85632f1b24f4d83b576c14f03f1271bf8628bda9f"  # main, before
    )


def test_the_matrices_follow_each_old_route_to_its_new_one(logged: str, revision: Path) -> None:
    plan = plan_log(logged, revision)
    assert (plan.records, plan.decisions, plan.identical, plan.different) == (7, 7, 3, 4)
    assert dict(plan.routes) == {
        ("strategy_discussion", "multi_agency_child_protection"): 2,
        ("intensive_early_help", "family_help"): 1,
        ("child_and_family_assessment", "family_help"): 1,
        ("universal_services", "universal_services"): 1,
        ("team_around_the_family", "team_around_the_family"): 1,
        ("manual_review", "manual_review"): 1,
    }
    assert dict(plan.levels) == {(4, 4): 2, (3, 3): 2, (2, 2): 1, (1, 1): 1, (None, None): 1}
    assert level_moves(plan) == {"up": 0, "down": 0, "undecided": 0}  # renames and a merge only


def test_a_threshold_raised_on_the_same_routes_lowers_levels_with_plan(
    tmp_path: Path, reference: FrontDoor, edited_rules: Any
) -> None:
    """Kent with level-2 accumulation at 4 needs, not 3 (the same routes: planned on request):
    three level-2 needs in two domains fall from level 3 to level 2; one need stays."""
    revised = edited_rules(
        ("rules.yaml", "- concerns: {level: 2, min: 3}", "- concerns: {level: 2, min: 4}")
    )
    target = f"sqlite:///{tmp_path / 'log.sqlite'}"
    with DecisionLog(target, key=KEY) as log:
        log.route_batch(
            reference,
            [
                make_referral(
                    referral_id="R-T-1",
                    concerns=concerns(
                        "occasional_truancy", "speech_language_difficulty", "parental_mental_health"
                    ),
                ),
                make_referral(referral_id="R-T-2", concerns=concerns("occasional_truancy")),
            ],
        )
    plan = plan_log(target, revised)
    assert dict(plan.levels) == {(3, 2): 1, (2, 2): 1}
    assert level_moves(plan) == {"up": 0, "down": 1, "undecided": 0}
    assert planning_dict(plan)["level_moves"] == {"up": 0, "down": 1, "undecided": 0}


def test_children_per_team_by_month_of_receipt(logged: str, revision: Path) -> None:
    plan = plan_log(logged, revision)
    assert dict(plan.months) == {
        ("2026-03", "child_protection"): 1,
        ("2026-03", "family_help"): 2,
        ("2026-04", "universal_services"): 1,
        ("2026-04", "team_around_the_family"): 1,
        ("2026-04", "child_protection"): 1,
        ("2026-04", "manual_review"): 1,
    }
    totals = dict(team_totals(plan))
    assert totals["family_help"] == 2
    assert totals["child_protection"] == 2
    assert totals["single_agency_support"] == 0  # a route of the revision no child went to
    assert sum(totals.values()) == 7


def test_section_47_work_and_offers_before_and_after(logged: str, revision: Path) -> None:
    plan = plan_log(logged, revision)
    data = planning_dict(plan)
    assert data["section_47"] == {
        "routes": ["multi_agency_child_protection", "emergency_protection"],
        "earlier_routes": ["strategy_discussion", "emergency_protection"],
        "decisions": 7,
        "before": 2,
        "after": 2,
        "before_percent": 28.6,
        "after_percent": 28.6,
    }
    assert data["offers"] == {"flags": [FGDM], "before": {FGDM: 0}, "after": {FGDM: 2}}
    assert data["flags"] == {"flags": [], "before": {}, "after": {}}
    offered = [c.seq for c in plan.children if FGDM in c.new_flags]
    assert offered == [c.seq for c in plan.children if c.new_level == 4]


def test_without_earlier_routes_the_share_before_is_not_reported(
    logged: str, revision: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(revision, bare)
    _edit(
        bare / "report.yaml",
        ("    earlier_section_47: [strategy_discussion, emergency_protection]\n", ""),
    )
    plan = plan_log(logged, bare)
    assert planning_dict(plan)["section_47"]["before"] is None
    assert "before: not marked in the log's rulebook" in render_planning(plan)


def test_the_kpi_report_counts_the_new_routes(logged: str, revision: Path) -> None:
    plan = plan_log(logged, revision)
    kpi = kpi_under_revision(plan, population=10_000)
    assert kpi is not None
    assert kpi.title == "Front Door KPI report under kent 3.0.0-test"
    by_route = {row.key: row.count for row in kpi.figure("decisions_by_route").rows}
    assert by_route["family_help"] == 2
    assert by_route["multi_agency_child_protection"] == 2
    assert "intensive_early_help" not in by_route
    assert "strategy_discussion" not in by_route
    starts = kpi.figure("family_help_starts")
    assert starts.numerator == 2  # routed by the Front Door; no journeys in this log
    assert starts.value == 2.0  # 2 per 10,000 of a population of 10,000
    by_level = {row.key: row.count for row in kpi.figure("decisions_by_level").rows}
    assert (by_level["4"], by_level["3"], by_level["none"]) == (2, 2, 1)


def test_text_json_and_html_say_the_same(logged: str, revision: Path) -> None:
    plan = plan_log(logged, revision)
    kpi = kpi_under_revision(plan)
    text = render_planning(plan, kpi)
    assert "routes (rows: before, columns: after)" in text
    matrix = text.split("routes (rows: before, columns: after)\n")[1].splitlines()
    assert matrix[0].split() == ["us", "tatf", "fh", "macp", "mr"]  # the revision's order
    assert [line.split()[0] for line in matrix[1:7]] == [  # the log's rulebook's order
        "universal_services",
        "team_around_the_family",
        "intensive_early_help",
        "child_and_family_assessment",
        "strategy_discussion",
        "manual_review",
    ]
    assert "children per team by month of receipt (rows: month, columns: team)" in text
    assert "  after:  2 of 7 (28.6%)" in text
    assert f"{FGDM}  before 0  after 2" in text
    assert "Front Door KPI report under kent 3.0.0-test" in text
    data = json.loads(json.dumps(planning_dict(plan, kpi)))
    assert ["strategy_discussion", "multi_agency_child_protection", 2] in data["route_matrix"]
    assert ["2026-03", "family_help", 2] in data["children_by_month"]
    assert data["kpi"]["title"] == "Front Door KPI report under kent 3.0.0-test"
    assert len(data["children"]) == 7
    page = planning_html(plan, kpi)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "http" not in page.lower()  # nothing fetched: no links out
    for section in ("routes", "levels", "months", "section_47", "offers", "decisions_by_route"):
        assert f'id="{section}"' in page
    # the route matrix's row of the strategy discussion: 2 children to multi-agency CP
    row = page.split('<th scope="row" title="Strategy discussion and section 47 enquiry">')[1]
    assert "<td>2</td>" in row.split("</tr>")[0]


def test_two_workers_give_the_same_plan_as_one(
    tmp_path: Path, revision: Path, reference: FrontDoor
) -> None:
    """Spread over processes (spans of 500 records), the counts and the children, in log
    order, are those of one process."""
    target = f"sqlite:///{tmp_path / 'big.sqlite'}"
    batch = [
        make_referral(
            referral_id=f"R-W-{n}",
            received_at=f"2026-0{1 + n % 6}-1{n % 10}T10:00:00+00:00",
            children=[{"child_id": f"C-W-{n}", "date_of_birth": "2019-05-01"}],
            concerns=concerns(*SMALL[n % len(SMALL)][1]),
        )
        for n in range(1_200)
    ]
    with DecisionLog(target, key=KEY) as log:
        log.route_batch(reference, batch)
    one = plan_log(target, revision)
    two = plan_log(target, revision, workers=2)
    assert (two.records, two.decisions, two.identical) == (
        one.records,
        one.decisions,
        171 * 3,  # 1,200 = 171 rounds of SMALL and 3 more; 3 of 7 unchanged a round
    )
    assert (two.routes, two.levels, two.months) == (one.routes, one.levels, one.months)
    assert two.children == one.children
    assert list(two.old_rulebooks) == list(one.old_rulebooks) == [load_rulebook().fingerprint]


def test_kent_under_families_first_on_the_small_log(logged: str) -> None:
    """The bundled revision, worked out by hand as for the test revision: the two level-4
    physical abuse referrals go to the multi-agency child protection team with the offer of
    family group decision making, the two level-3 ones to Family Help, the homeless child's
    with the child in need assessment flag (Kent sent it to a child and family assessment)."""
    plan = plan_log(logged, bundled_rules_dir("kent-families-first"))
    assert dict(plan.routes) == {
        ("strategy_discussion", "multi_agency_child_protection"): 2,
        ("intensive_early_help", "family_help"): 1,
        ("child_and_family_assessment", "family_help"): 1,
        ("universal_services", "universal_services"): 1,
        ("team_around_the_family", "team_around_the_family"): 1,
        ("manual_review", "manual_review"): 1,
    }
    data = planning_dict(plan)
    assert (data["section_47"]["before"], data["section_47"]["after"]) == (2, 2)
    offer = "family_group_decision_making_offer"
    assert data["offers"] == {"flags": [offer], "before": {offer: 0}, "after": {offer: 2}}
    need = "child_in_need_assessment"
    assert data["flags"] == {"flags": [need], "before": {need: 0}, "after": {need: 1}}
    (flagged,) = [c for c in plan.children if need in c.new_flags]
    assert flagged.old_route == "child_and_family_assessment"
    assert dict(team_totals(plan))["multi_agency_child_protection"] == 2


def test_a_child_open_to_a_retired_service_is_planned_on_its_successor(
    tmp_path: Path, reference: FrontDoor
) -> None:
    """Open to intensive early help (retired) with level-3 needs: Kent keeps the child with
    it; the revision, which would refuse the form, plans the child as open to Family Help (the
    go-live move) and keeps the child there."""
    target = f"sqlite:///{tmp_path / 'log.sqlite'}"
    child = {
        "child_id": "C-O-1",
        "date_of_birth": "2015-05-01",
        "open_involvement": {"service": "intensive_early_help"},
    }
    with DecisionLog(target, key=KEY) as log:
        log.route_batch(
            reference,
            [make_referral(children=[child], concerns=concerns("persistent_absence"))],
        )
    plan = plan_log(target, bundled_rules_dir("kent-families-first"))
    assert dict(plan.routes) == {("intensive_early_help", "family_help"): 1}
    assert plan.carried_over == 1
    assert plan.children[0].open_service == "family_help"
    assert planning_dict(plan)["carried_over"] == 1


def test_the_routes_of_the_log_are_read_from_its_snapshots(logged: str, revision: Path) -> None:
    assert log_route_ids(logged) == load_rulebook().route_ids
    assert log_route_ids(logged) != load_rulebook(revision).route_ids


def test_a_log_that_does_not_verify_is_not_planned(logged: str, revision: Path) -> None:
    """A forged record is re-decided as faithfully as a true one: only the chain tells."""
    records = read_raw(logged)
    seq, prev, digest, kind, fingerprint, body = records[2]
    assert kind == "triage_decision"
    forged = body.replace('"strategy_discussion"', '"universal_services"')  # seq 3: SMALL[0]
    assert forged != body
    records[2] = (seq, prev, digest, kind, fingerprint, forged)
    write_raw(logged, records)
    with pytest.raises(LogError, match="does not verify"):
        plan_log(logged, revision)


def test_cli_plans_when_the_route_sets_differ(logged: str, revision: Path, tmp_path: Path) -> None:
    html = tmp_path / "plan.html"
    base = [sys.executable, "-m", "triage.cli", "replay", logged, "--against", str(revision)]
    run = subprocess.run([*base, "--html", str(html)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("planning what-if: 7 decisions in 7 records")
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    data = json.loads(
        subprocess.run([*base, "--json"], capture_output=True, text=True, check=True).stdout
    )
    assert data["changed"] == 4
    # the same rulebook: the ordinary what-if, unless --plan asks for the planning one
    same = [*base[:-1], str(bundled_rules_dir())]
    ordinary = subprocess.run(same, capture_output=True, text=True, check=True).stdout
    assert ordinary.startswith("what-if: 7 decision(s)")
    planned = subprocess.run([*same, "--plan"], capture_output=True, text=True, check=True)
    assert planned.stdout.startswith("planning what-if: 7 decisions")


# -- properties --------------------------------------------------------------------------------


def _plan_batch(batch: list[dict[str, Any]], door: FrontDoor, against: Path) -> Any:
    for n, item in enumerate(batch):
        item["referral_id"] = f"R-Q-{n}"
    with tempfile.TemporaryDirectory() as folder:
        target = f"sqlite:///{Path(folder) / 'log.sqlite'}"
        with DecisionLog(target, key=KEY) as log:
            log.route_batch(door, batch)
        return plan_log(target, against, engine="compiled")


@settings(max_examples=10, deadline=None)
@given(batch=st.lists(referrals(max_concerns=6), min_size=1, max_size=25))
def test_every_total_counts_each_child_replayed_once(
    batch: list[dict[str, Any]], revision: Path, reference: FrontDoor
) -> None:
    """The matrices, the months, the teams and the children kept each add up to the children
    of the referrals logged (not the referrals: siblings count one each)."""
    children = sum(len(item["children"]) for item in batch)
    plan = _plan_batch(batch, reference, revision)
    assert plan.decisions == children
    assert sum(plan.routes.values()) == children
    assert sum(plan.levels.values()) == children
    assert sum(plan.months.values()) == children
    assert sum(n for _, n in team_totals(plan)) == children
    assert len(plan.children) == children
    assert plan.new_section_47 <= children
    assert plan.flags_after[FGDM] == sum(1 for c in plan.children if c.new_level == 4)


@settings(max_examples=10, deadline=None)
@given(batch=st.lists(referrals(max_concerns=6), min_size=1, max_size=25))
def test_the_log_s_own_rulebook_gives_the_identity_matrix(
    batch: list[dict[str, Any]], reference: FrontDoor
) -> None:
    """Planned against a revision identical to the log's rulebook, every child stays where it
    was: both matrices are diagonal and nothing changed."""
    plan = _plan_batch(batch, reference, bundled_rules_dir())
    assert all(old == new for old, new in plan.routes)
    assert all(old == new for old, new in plan.levels)
    assert plan.different == 0
    assert plan.identical == sum(len(item["children"]) for item in batch)


@pytest.mark.parametrize("width", [800, 1280])
def test_the_page_fits_the_window_in_a_real_browser(
    logged: str, revision: Path, tmp_path: Path, width: int
) -> None:
    """Laid out by Debian's chromium: no sideways scrolling of the page (a wide matrix scrolls
    inside its card), no card past the window, no chart outside its column."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("needs Debian's chromium")
    plan = plan_log(logged, revision)
    page = tmp_path / "plan.html"
    page.write_text(
        planning_html(plan, kpi_under_revision(plan)).replace("</body>", MEASURE),
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={width},2000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r"data-measured=\"([^\"]+)\"", result.stdout)
    assert found is not None, result.stdout[-2000:]
    measured = json.loads(html.unescape(found.group(1)))
    assert measured["scroll"] <= measured["width"], measured
    assert measured["wide"] == 0, measured
    assert measured["clipped"] == 0, measured


def test_the_command_line_s_logging_reaches_the_workers_whole() -> None:
    """Replay's workers are given the command line's structlog configuration: its logger
    factory too, or their events (an engine fault) would be printed to stdout, into the JSON
    of `replay --workers 2 --json` (seen on the demo's log)."""
    from triage.audit.replay import _portable_logging
    from triage.cli import _configure_logging

    _configure_logging(False)
    portable = _portable_logging()
    assert portable is not None
    assert "logger_factory" in portable
    assert "processors" in portable
