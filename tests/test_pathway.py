"""The pathway graph: the Kent pathway validates, each kind of broken pathway file is refused
with file, line, field path and node or edge, the queries answer, and the pictures draw."""

from __future__ import annotations

import re
import shutil
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triage import PathwayGraph, PathwayInvalid, Rulebook, load_pathway
from triage.errors import Problem, UsageError
from triage.pathway import AgeRange, EdgeKind, Pathway, bundled_pathway_file

from .strategies import node_pairs, walks

REPO = Path(__file__).resolve().parent.parent
KENT_PATHWAY = REPO / "pathways" / "kent.yaml"
NEEDS_DOT = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz `dot` is not installed (apt-get install graphviz; CI installs it)",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HIGHLIGHT_COLOUR = "#ef6c00"

# A small valid pathway; each broken-file test changes one thing in it.
MINI = """\
pathway: {id: mini, version: "1", title: Mini pathway, reference: Test fixture}
nodes:
  - {id: front_door, label: Front Door, level: null, kind: entry,
     age_range: {min_years: 0, max_years: 17, unborn: true}}
  - {id: universal_services, label: Universal services, level: 1, kind: route,
     age_range: {min_years: 0, max_years: 19, unborn: true}, ground: true}
  - {id: team_around_the_family, label: Team around the family, level: 2, kind: route,
     age_range: {min_years: 0, max_years: 19, unborn: true}}
  - {id: child_protection_plan, label: Child protection plan, level: 4, kind: service,
     age_range: {min_years: 0, max_years: 17, unborn: true}}
  - {id: children_in_care, label: Children in care, level: 4, kind: service,
     age_range: {min_years: 0, max_years: 17, unborn: false}}
  - {id: care_leavers, label: Care leavers, level: 4, kind: service,
     age_range: {min_years: 18, max_years: 25, unborn: false}}
  - {id: closure, label: Case closed, level: null, kind: exit,
     age_range: {min_years: 0, max_years: null, unborn: true}, ground: true}
edges:
  - {from: front_door, to: universal_services, kind: route, reference: t}
  - {from: front_door, to: team_around_the_family, kind: route, reference: t}
  - {from: universal_services, to: team_around_the_family, kind: step_up, reference: t}
  - {from: team_around_the_family, to: universal_services, kind: step_down, reference: t}
  - {from: team_around_the_family, to: child_protection_plan, kind: step_up, reference: t}
  - {from: child_protection_plan, to: team_around_the_family, kind: step_down, reference: t}
  - {from: child_protection_plan, to: children_in_care, kind: route, reference: t}
  - {from: children_in_care, to: care_leavers, kind: transition, reference: t}
  - {from: care_leavers, to: closure, kind: exit, reference: t}
  - {from: children_in_care, to: closure, kind: exit, reference: t}
forbidden:
  - {from: care_leavers, to: front_door, reason: adults are not referred to this Front Door,
     reference: t}
"""
LONELY_NODE = """  - {id: lonely, label: Lonely, level: 2, kind: service,
     age_range: {min_years: 0, max_years: 17, unborn: false}}
edges:"""


@pytest.fixture(name="pathway", scope="module")
def fixture_pathway() -> PathwayGraph:
    return load_pathway()


def write(tmp_path: Path, text: str, name: str = "pathway.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(old: str, new: str, text: str = MINI) -> str:
    assert old in text, f"{old!r} not in the pathway"
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first occurrence of `needle`."""
    assert needle in text, f"{needle!r} not in the pathway"
    return text[: text.index(needle)].count("\n") + 1


def refused(path: Path, rulebook: Rulebook | None = None) -> tuple[Problem, ...]:
    with pytest.raises(PathwayInvalid) as caught:
        load_pathway(path, rulebook=rulebook)
    assert caught.value.code == "pathway_invalid"
    assert str(path) in caught.value.message
    return caught.value.problems


def the_problem(problems: tuple[Problem, ...], fragment: str) -> Problem:
    found = [p for p in problems if fragment in p.message]
    assert len(found) == 1, "\n".join(str(p) for p in problems)
    return found[0]


def test_the_mini_fixture_pathway_is_valid(tmp_path: Path) -> None:
    """The fixture every broken-file test edits loads as it stands."""
    graph = load_pathway(write(tmp_path, MINI))

    assert graph.id == "mini"
    assert len(graph.nodes) == 7


# --- One test per kind of broken pathway file -----------------------------------------------

BROKEN = [
    pytest.param(
        "  - {from: children_in_care, to: care_leavers, kind: transition, reference: t}",
        "  - {from: children_in_care, to: care_leavers, kind: transition, weight: 3}",
        "Extra inputs are not permitted",
        "edges[7].weight",
        "edge children_in_care -> care_leavers",
        "weight: 3",
        id="unknown_key",
    ),
    pytest.param(
        "to: team_around_the_family, kind: step_up, reference: t}",
        "to: team_around_the_family, kind: step_sideways, reference: t}",
        "Input should be 'route', 'step_up', 'step_down', 'transition', 'exit' or 'redesign'",
        "edges[2].kind",
        "edge universal_services -> team_around_the_family",
        "step_sideways",
        id="unknown_edge_kind",
    ),
    pytest.param(
        "{min_years: 18, max_years: 25, unborn: false}",
        "{min_years: 18, max_years: 16, unborn: false}",
        "max_years is below min_years",
        "nodes[5].age_range",
        "node care_leavers",
        "max_years: 16",
        id="age_range_upside_down",
    ),
    pytest.param(
        "{min_years: 18, max_years: 25, unborn: false}",
        "{min_years: 18, max_years: 25, unborn: true}",
        "a range that serves unborn children must start at min_years 0",
        "nodes[5].age_range",
        "node care_leavers",
        "unborn: true}}\n  - {id: closure",
        id="unborn_range_not_starting_at_0",
    ),
    pytest.param(
        "{id: closure, label: Case closed",
        "{id: care_leavers, label: Case closed",
        "repeats an earlier node id",
        "nodes[6].id",
        "node care_leavers",
        "id: care_leavers, label: Case closed",
        id="duplicate_node_id",
    ),
    pytest.param(
        "{from: child_protection_plan, to: children_in_care, kind: route, reference: t}",
        "{from: child_protection_plan, to: childrens_in_care, kind: route, reference: t}",
        "is not a node",
        "edges[6].to",
        "edge child_protection_plan -> childrens_in_care",
        "childrens_in_care",
        id="unknown_node_in_edge",
    ),
    pytest.param(
        "{from: care_leavers, to: front_door, reason:",
        "{from: care_leaver, to: front_door, reason:",
        "is not a node",
        "forbidden[0].from",
        "forbidden edge care_leaver -> front_door",
        "care_leaver,",
        id="unknown_node_in_forbidden_edge",
    ),
    pytest.param(
        "  - {from: children_in_care, to: closure, kind: exit, reference: t}",
        "  - {from: children_in_care, to: closure, kind: exit, reference: t}\n"
        "  - {from: children_in_care, to: closure, kind: route, reference: t}",
        "repeats edges[9]; one edge per pair of nodes",
        "edges[10]",
        "edge children_in_care -> closure",
        "kind: route, reference: t}\nforbidden",
        id="duplicate_edge",
    ),
    pytest.param(
        "{from: children_in_care, to: closure, kind: exit, reference: t}",
        "{from: children_in_care, to: children_in_care, kind: exit, reference: t}",
        "joins a node to itself",
        "edges[9]",
        "edge children_in_care -> children_in_care",
        "to: children_in_care, kind: exit",
        id="self_loop",
    ),
    pytest.param(
        "level: null, kind: entry",
        "level: null, kind: route",
        "has no node of kind entry",
        "nodes",
        None,
        "nodes:",
        id="no_entry_node",
    ),
    pytest.param(
        "label: Universal services, level: 1, kind: route",
        "label: Universal services, level: 1, kind: entry",
        "is a second entry node (the first is front_door)",
        "nodes[1].kind",
        "node universal_services",
        "level: 1, kind: entry",
        id="two_entry_nodes",
    ),
    pytest.param(
        "edges:",
        LONELY_NODE,
        "cannot be reached from the entry front_door",
        "nodes[7]",
        "node lonely",
        "{id: lonely",
        id="unreachable_node",
    ),
    pytest.param(
        "  - {from: care_leavers, to: closure, kind: exit, reference: t}",
        "  - {from: care_leavers, to: children_in_care, kind: step_up, reference: t}",
        "is a level-4 node with no way down",
        "nodes[5]",
        "node care_leavers",
        "{id: care_leavers",
        id="level_4_node_with_no_way_down",
    ),
    pytest.param(
        "  - {from: children_in_care, to: closure, kind: exit, reference: t}",
        "  - {from: children_in_care, to: closure, kind: exit, reference: t}\n"
        "  - {from: care_leavers, to: front_door, kind: route, reference: t}",
        "is forbidden (forbidden[0]): adults are not referred to this Front Door",
        "edges[10]",
        "edge care_leavers -> front_door",
        "to: front_door, kind: route",
        id="forbidden_edge_present",
    ),
    pytest.param(
        "{min_years: 18, max_years: 25, unborn: false}",
        "{min_years: 21, max_years: 25, unborn: false}",
        "is a transition between age ranges that neither overlap nor follow on "
        "(children_in_care 0-17, care_leavers 21-25)",
        "edges[7]",
        "edge children_in_care -> care_leavers",
        "to: care_leavers, kind: transition",
        id="transition_ages_do_not_follow_on",
    ),
    pytest.param(
        "{from: child_protection_plan, to: team_around_the_family, kind: step_down, reference: t}",
        "{from: child_protection_plan, to: team_around_the_family, kind: step_up, reference: t}",
        "is step_up but goes down a level (4 -> 2)",
        "edges[5].kind",
        "edge child_protection_plan -> team_around_the_family",
        "to: team_around_the_family, kind: step_up, reference: t}\n"
        "  - {from: child_protection_plan, to: chi",
        id="step_up_goes_down_a_level",
    ),
    pytest.param(
        "{from: team_around_the_family, to: child_protection_plan, kind: step_up, reference: t}",
        "{from: team_around_the_family, to: child_protection_plan, kind: step_down, reference: t}",
        "is step_down but goes up a level (2 -> 4)",
        "edges[4].kind",
        "edge team_around_the_family -> child_protection_plan",
        "to: child_protection_plan, kind: step_down, reference: t}",
        id="step_down_goes_up_a_level",
    ),
    pytest.param(
        "  - {from: care_leavers, to: closure, kind: exit, reference: t}",
        "  - {from: care_leavers, to: closure, kind: exit, reference: t}\n"
        "  - {from: care_leavers, to: children_in_care, kind: step_down, reference: t}",
        "is reached by a step_down but has none onward",
        "nodes[4]",
        "node children_in_care",
        "{id: children_in_care",
        id="step_downs_stop_short_of_universal_services_or_closure",
    ),
    pytest.param(
        "  - {from: care_leavers, to: closure, kind: exit, reference: t}",
        "  - {from: care_leavers, to: closure, kind: exit, reference: t}\n"
        "  - {from: child_protection_plan, to: care_leavers, kind: step_down, reference: t}\n"
        "  - {from: care_leavers, to: child_protection_plan, kind: step_down, reference: t}",
        "is on a cycle of step_down edges among child_protection_plan, care_leavers",
        "nodes[3]",
        "node child_protection_plan",
        "{id: child_protection_plan",
        id="step_downs_in_a_cycle",
    ),
]


@pytest.mark.parametrize(("old", "new", "message", "location", "subject", "at"), BROKEN)
def test_broken_pathway_is_refused_with_file_line_path_and_subject(
    tmp_path: Path, old: str, new: str, message: str, location: str, subject: str | None, at: str
) -> None:
    """Each kind of broken pathway is refused; the problem names where and what."""
    text = edited(old, new)
    path = write(tmp_path, text)

    problem = the_problem(refused(path), message)

    assert problem.file == str(path)
    assert problem.location == location
    assert problem.line == line_of(text, at)
    assert problem.subject == subject
    assert f"{path}:{problem.line}: {location}" in str(problem)


@pytest.mark.parametrize(
    ("before", "after", "follows_on"),
    [
        ((0, 17, False), (18, 25, False), True),  # starts the year after: care to care leavers
        ((18, 25, False), (18, None, False), True),  # overlaps an open-ended range
        ((0, 17, False), (19, 25, False), False),  # a year's gap
        ((18, 25, False), (0, 17, False), False),  # backwards in age
        ((18, None, False), (30, None, False), True),  # open-ended on both sides
        ((0, 0, True), (0, 5, False), True),  # from before birth into the first years
    ],
)
def test_age_ranges_follow_on_when_they_overlap_or_meet(
    before: tuple[int, int | None, bool], after: tuple[int, int | None, bool], follows_on: bool
) -> None:
    def age(lo: int, hi: int | None, unborn: bool) -> AgeRange:
        return AgeRange(min_years=lo, max_years=hi, unborn=unborn)

    assert age(*after).follows_on(age(*before)) is follows_on


def test_unknown_node_in_edge_lists_the_offending_id_and_the_valid_ids(tmp_path: Path) -> None:
    """A typo in an edge echoes the typo and offers every node id."""
    problems = refused(
        write(
            tmp_path,
            edited("to: children_in_care, kind: route", "to: chidren_in_care, kind: route"),
        )
    )

    problem = the_problem(problems, "is not a node")
    assert problem.value == "chidren_in_care"
    assert "children_in_care" in problem.valid
    assert "(got 'chidren_in_care'); valid values: care_leavers, child_protection_plan" in str(
        problem
    )


def test_file_that_is_not_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    text = edited(
        "  - {from: care_leavers, to: closure, kind: exit, reference: t}",
        "  - {from: care_leavers, [",
    )

    (problem,) = refused(write(tmp_path, text))

    assert "is not valid YAML" in problem.message
    assert problem.line is not None


def test_missing_file_is_refused(tmp_path: Path) -> None:
    (problem,) = refused(tmp_path / "nowhere.yaml")

    assert "cannot be read" in problem.message


def test_pathway_without_a_ground_node_is_refused(tmp_path: Path) -> None:
    """Step-downs must end at a node marked `ground: true`, so there must be one."""
    problems = refused(write(tmp_path, MINI.replace(", ground: true", "")))

    problem = the_problem(problems, "has no node marked `ground: true`")
    assert (problem.location, problem.subject, problem.line) == ("nodes", None, 2)


def test_ground_nodes_are_whatever_the_file_marks(tmp_path: Path) -> None:
    """No node id is special to the code: renamed ground nodes load, and are the ground."""
    text = MINI.replace("closure", "case_closed").replace("universal_services", "level_one")

    graph = load_pathway(write(tmp_path, text))

    assert graph.ground == ("level_one", "case_closed")


def test_a_step_down_walk_must_end_at_a_ground_node(tmp_path: Path) -> None:
    """Unmark universal services: the step-downs into it now stop short of the ground."""
    text = MINI.replace(
        "max_years: 19, unborn: true}, ground: true}", "max_years: 19, unborn: true}}"
    )

    problem = the_problem(refused(write(tmp_path, text)), "is reached by a step_down")

    assert problem.subject == "node universal_services"
    assert problem.message.endswith("not at a ground node (closure)")


def test_an_edge_without_a_reference_is_refused(tmp_path: Path) -> None:
    text = edited(
        "{from: front_door, to: universal_services, kind: route, reference: t}",
        "{from: front_door, to: universal_services, kind: route}",
    )

    problem = the_problem(refused(write(tmp_path, text)), "Field required")

    assert problem.location == "edges[0].reference"
    assert problem.subject == "edge front_door -> universal_services"


def test_kent_cites_every_edge_or_calls_it_a_local_choice(pathway: PathwayGraph) -> None:
    """Each reference names a source of the guidance or says `local choice:`."""
    sources = (
        "Kent children's services plans",
        "Kent Support Levels Guidance",
        "Kent Front Door procedures",
        "DfE Children in Need census",
        "Working Together to Safeguard Children",
    )
    references = [(str(e), e.reference) for e in pathway.edges]
    references += [(str(f), f.reference) for f in pathway.forbidden]
    for move, reference in references:
        assert reference.startswith((*sources, "local choice: ")), move
    assert pathway.forbidden[0].reference.startswith("Kent children's services plans")


def test_no_kent_node_id_is_written_in_the_pathway_code(pathway: PathwayGraph) -> None:
    """The pathway package knows kinds and levels, never a council's node ids."""
    package = REPO / "triage" / "pathway"
    sources = {path.name: path.read_text(encoding="utf-8") for path in package.glob("*.py")}
    assert {"model.py", "graph.py", "_checks.py", "drawing.py"} <= set(sources)

    for node in pathway.nodes:
        for name, text in sources.items():
            assert not re.search(rf"\b{node.id}\b", text), f"{node.id} appears in {name}"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Two unrelated mistakes give two problems in one error."""
    text = edited("to: children_in_care, kind: route", "to: chidren_in_care, kind: route")
    text = edited("{min_years: 18, max_years: 25", "{min_years: 21, max_years: 25", text)

    problems = refused(write(tmp_path, text))

    assert {p.location for p in problems} >= {"edges[6].to", "edges[7]"}


def test_constructing_a_graph_from_a_definition_runs_the_same_checks(tmp_path: Path) -> None:
    """A `PathwayGraph` built without a file checks too; its problems have no file or line."""
    definition = load_pathway(write(tmp_path, MINI)).definition
    without_transition = definition.edges[:7] + definition.edges[8:]
    broken = definition.model_copy(update={"edges": without_transition})

    with pytest.raises(PathwayInvalid) as caught:
        PathwayGraph(broken)

    problem = the_problem(caught.value.problems, "cannot be reached from the entry")
    assert problem.subject == "node care_leavers"
    assert (problem.file, problem.line) == (None, None)


# --- Against the rulebook -------------------------------------------------------------------


def test_every_rulebook_route_and_service_must_be_a_node(tmp_path: Path, kent: Rulebook) -> None:
    """Checked against Kent's rulebook, the mini pathway lacks most routes and services."""
    problems = refused(write(tmp_path, MINI), rulebook=kent)
    mini_ids = {"front_door", "universal_services", "team_around_the_family"}
    mini_ids |= {"child_protection_plan", "children_in_care", "care_leavers", "closure"}

    missing_routes = {p.subject for p in problems if "has no node for route" in p.message}
    missing_services = {p.subject for p in problems if "has no node for service" in p.message}

    assert missing_routes == {f"route {r}" for r in kent.route_ids - mini_ids}
    assert missing_services == {f"service {s}" for s in set(kent.service_by_id) - mini_ids}
    problem = the_problem(problems, "has no node for route manual_review of rulebook kent")
    assert (problem.location, problem.subject, problem.line) == ("nodes", "route manual_review", 2)


def kent_text_with(old: str, new: str) -> str:
    return edited(old, new, KENT_PATHWAY.read_text(encoding="utf-8"))


def test_guard_must_name_a_rule_of_the_rulebook(tmp_path: Path, kent: Rulebook) -> None:
    text = kent_text_with("guard: level_1_universal_services", "guard: level_one_universal")
    path = write(tmp_path, text)

    (problem,) = refused(path, rulebook=kent)

    assert problem.message == "is not a rule of rulebook kent"
    assert problem.location == "edges[0].guard"
    assert problem.subject == "edge front_door -> universal_services"
    assert problem.line == line_of(text, "level_one_universal")
    load_pathway(path)  # without a rulebook there is nothing to check the guard against


def test_service_level_must_match_the_rulebook(tmp_path: Path, kent: Rulebook) -> None:
    text = kent_text_with(
        "{id: child_in_need_plan, label: Child in need plan, level: 3",
        "{id: child_in_need_plan, label: Child in need plan, level: 4",
    )

    (problem,) = refused(write(tmp_path, text), rulebook=kent)

    assert problem.message == (
        "differs from rulebook kent, which puts service child_in_need_plan at level 3"
    )
    assert problem.subject == "node child_in_need_plan"


# --- The Kent pathway -----------------------------------------------------------------------


def test_kent_pathway_validates_against_the_kent_rulebook(kent: Rulebook) -> None:
    graph = load_pathway(rulebook=kent)

    ids = {node.id for node in graph.nodes}
    assert kent.route_ids <= ids
    assert set(kent.service_by_id) <= ids
    assert re.fullmatch(r"[0-9a-f]{64}", graph.fingerprint)
    assert graph.entry == "front_door"


def test_bundled_pathway_is_the_checked_in_kent_file() -> None:
    assert bundled_pathway_file() == KENT_PATHWAY


def test_kent_pathway_has_the_nodes_of_the_plans(pathway: PathwayGraph) -> None:
    """The Front Door, permanence, adult services, closure and the side pathways are nodes."""
    ids = {node.id for node in pathway.nodes}

    assert ids >= {
        "front_door",
        "adoption",
        "special_guardianship",
        "adult_services",
        "closure",
        "adolescent_support",
        "emotional_wellbeing_spa",
        "camhs_tier_2_3",
        "camhs_inpatient",
        "adult_psychiatric_ward",
        "send_ehcp",
        "youth_justice",
    }
    ages = {node.id: node.age_range for node in pathway.nodes}
    assert (ages["care_leavers"].min_years, ages["care_leavers"].max_years) == (18, 25)
    assert (ages["youth_justice"].min_years, ages["youth_justice"].max_years) == (10, 17)
    assert (ages["adolescent_support"].min_years, ages["adolescent_support"].max_years) == (11, 19)
    assert (ages["send_ehcp"].min_years, ages["send_ehcp"].max_years) == (0, 25)


@pytest.mark.parametrize(
    ("source", "target", "kind"),
    [
        ("universal_services", "single_agency_support", "step_up"),
        ("single_agency_support", "universal_services", "step_down"),
        ("team_around_the_family", "universal_services", "step_down"),
        ("front_door", "strategy_discussion", "route"),
        ("child_and_family_assessment", "closure", "exit"),
        ("child_and_family_assessment", "child_in_need_plan", "route"),
        ("child_and_family_assessment", "strategy_discussion", "step_up"),
        ("intensive_early_help", "child_and_family_assessment", "step_up"),
        ("child_protection_plan", "intensive_early_help", "step_down"),
        ("child_protection_plan", "children_in_care", "route"),
        ("children_in_care", "special_guardianship", "exit"),
        ("children_in_care", "adoption", "exit"),
        ("children_in_care", "care_leavers", "transition"),
        ("care_leavers", "adult_services", "transition"),
        ("strategy_discussion", "child_protection_plan", "route"),
    ],
)
def test_kent_pathway_has_the_transitions_of_the_plans(
    pathway: PathwayGraph, source: str, target: str, kind: str
) -> None:
    edge = pathway.edge(source, target)

    assert edge is not None
    assert edge.kind == kind


def test_front_door_routes_to_every_rulebook_route(pathway: PathwayGraph, kent: Rulebook) -> None:
    routed = {edge.target for edge in pathway.next_steps("front_door") if edge.kind == "route"}

    assert routed >= kent.route_ids


def test_camhs_inpatient_never_steps_across_to_an_adult_ward(pathway: PathwayGraph) -> None:
    """The move is forbidden, with a reason; the way there goes through community services."""
    assert pathway.edge("camhs_inpatient", "adult_psychiatric_ward") is None
    forbidden = pathway.forbidden_edge("camhs_inpatient", "adult_psychiatric_ward")
    assert forbidden is not None
    assert "adult psychiatric ward" in forbidden.reason

    assert pathway.path("camhs_inpatient", "adult_psychiatric_ward") == (
        "camhs_inpatient",
        "camhs_tier_2_3",
        "adult_services",
        "adult_psychiatric_ward",
    )


def test_next_steps_are_the_moves_from_a_node_in_file_order(pathway: PathwayGraph) -> None:
    steps = pathway.next_steps("team_around_the_family")

    assert [(edge.target, edge.kind) for edge in steps] == [
        ("universal_services", EdgeKind.STEP_DOWN),
        ("single_agency_support", EdgeKind.STEP_DOWN),
        ("closure", EdgeKind.EXIT),
        ("intensive_early_help", EdgeKind.STEP_UP),
        ("child_and_family_assessment", EdgeKind.STEP_UP),
        ("strategy_discussion", EdgeKind.STEP_UP),
    ]
    assert steps[0].label == "outcomes achieved"
    assert pathway.next_steps("closure") == ()


def test_path_is_a_shortest_path_or_empty(pathway: PathwayGraph) -> None:
    assert pathway.path("front_door", "care_leavers") == (
        "front_door",
        "allocated_worker",
        "care_leavers",
    )
    assert pathway.path("child_and_family_assessment", "child_protection_plan") == (
        "child_and_family_assessment",
        "strategy_discussion",
        "child_protection_plan",
    )
    assert pathway.path("closure", "front_door") == ()
    assert pathway.path("closure", "closure") == ("closure",)


def test_level_of_a_node(pathway: PathwayGraph) -> None:
    assert pathway.level_of("universal_services") == 1
    assert pathway.level_of("child_protection_plan") == 4
    assert pathway.level_of("front_door") is None


def test_a_node_that_does_not_exist_is_a_usage_error(pathway: PathwayGraph) -> None:
    with pytest.raises(UsageError, match=r"'nowhere' is not a node of pathway kent; valid values"):
        pathway.next_steps("nowhere")
    with pytest.raises(UsageError):
        pathway.edge("front_door", "nowhere")
    with pytest.raises(UsageError):
        pathway.path("nowhere", "closure")
    with pytest.raises(UsageError):
        pathway.forbidden_edge("camhs_inpatient", "adult_ward")


def test_kent_has_no_unmatched_step_ups(pathway: PathwayGraph) -> None:
    """Every Kent step-up has a path of step-downs back to where it came from."""
    assert pathway.unmatched_step_ups() == ()


def test_step_up_with_no_step_down_back_is_unmatched(tmp_path: Path) -> None:
    text = edited(
        "{from: child_protection_plan, to: team_around_the_family, kind: step_down, reference: t}",
        "{from: child_protection_plan, to: closure, kind: exit, reference: t}",
    )

    graph = load_pathway(write(tmp_path, text))

    assert [str(edge) for edge in graph.unmatched_step_ups()] == [
        "team_around_the_family -> child_protection_plan"
    ]


# --- Properties -----------------------------------------------------------------------------


@given(data=st.data())
def test_any_walk_of_step_downs_ends_at_universal_services_or_closure(
    pathway: PathwayGraph, data: st.DataObject
) -> None:
    """From any node with a step-down, following step-downs until none remain ends there."""
    moves = {
        node.id: targets
        for node in pathway.nodes
        if (
            targets := tuple(
                e.target for e in pathway.next_steps(node.id) if e.kind is EdgeKind.STEP_DOWN
            )
        )
    }

    walk = data.draw(walks(moves, tuple(moves)))

    assert walk[-1] in ("universal_services", "closure"), walk
    assert all(pathway.edge(a, b) is not None for a, b in pairwise(walk))


@given(data=st.data())
def test_no_path_uses_a_forbidden_edge(pathway: PathwayGraph, data: st.DataObject) -> None:
    """Every move of every shortest path is an edge, and none is forbidden."""
    source, target = data.draw(node_pairs(tuple(node.id for node in pathway.nodes)))

    path = pathway.path(source, target)

    for a, b in pairwise(path):
        assert pathway.edge(a, b) is not None
        assert pathway.forbidden_edge(a, b) is None


def test_kent_forbidden_edges_are_never_edges(pathway: PathwayGraph) -> None:
    assert pathway.forbidden
    for forbidden in pathway.forbidden:
        assert pathway.edge(forbidden.source, forbidden.target) is None


def test_pathway_model_is_frozen_and_rejects_unknown_keys() -> None:
    """The YAML shape: `from`/`to` aliases, unknown top-level keys refused."""
    data = {
        "pathway": {"id": "x", "version": "1", "title": "X", "reference": "R"},
        "nodes": [],
        "colour": "red",
    }
    with pytest.raises(ValueError, match="colour"):
        Pathway.model_validate(data)
