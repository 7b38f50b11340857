"""Revisions and editions, on a tiny test revision of Kent (tests/revisions/tiny/): the loader
resolves retire, replace and add into an ordinary rulebook, reports a bad change at its line,
and a council's editions route each referral on the rulebook in force on its date."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from triage import FrontDoor, RulebookInvalid, RulebookNotFound, load_pathway, load_rulebook
from triage.audit import DecisionLog, replay_log, verify_log
from triage.editions import Edition, Editions, check_move, load_editions
from triage.errors import PathwayInvalid, UsageError
from triage.overlay import merge_patch
from triage.pathway import EdgeKind, NodeKind

from .conftest import concerns, make_referral

HERE = Path(__file__).parent
TINY = HERE / "revisions" / "tiny"
TINY_PATHWAY = HERE / "revisions" / "tiny-pathway.yaml"
KEY = b"a test key for the revision tests"
GO_LIVE = date(2026, 4, 1)  # tests/revisions/tiny/revision.yaml


@pytest.fixture(name="kent", scope="module")
def fixture_kent() -> Any:
    return load_rulebook()


@pytest.fixture(name="tiny", scope="module")
def fixture_tiny() -> Any:
    return load_rulebook(TINY)


# -- merge patch (RFC 7396, the examples of its appendix A) ---------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7396(target: Any, patch: Any, result: Any) -> None:
    assert merge_patch(target, patch) == result


# -- resolving a revision -------------------------------------------------------------------------


def test_a_revision_is_kent_with_only_its_changes(kent: Any, tiny: Any) -> None:
    """Retired items are gone, replaced ones patched in place, added ones after; the rest is
    Kent's, item for item."""
    assert (tiny.id, tiny.version) == ("kent_tiny_revision", "0.1.0")
    assert tiny.rulebook.manual_review_urgency == kent.rulebook.manual_review_urgency
    assert "care_leavers" not in tiny.service_by_id
    assert tiny.service_by_id["leaving_care_support"].level == 4
    assert "level_1_universal_services" not in tiny.rule_by_id
    assert tiny.rule_by_id["level_1_advice_line"].then.route == "advice_line"
    # A patch of one field keeps the others; a patch may give a new id, in the old place.
    universal = next(r for r in tiny.routes if r.id == "universal_services")
    assert universal.label.startswith("Universal services (advice and signposting")
    assert (
        universal.description
        == next(r for r in kent.routes if r.id == "universal_services").description
    )
    care = tiny.rule_by_id["care_leaver_at_18"]
    assert care.then.to == "leaving_care_support"
    assert care.title == kent.rule_by_id["care_leaver_at_18"].title
    ids = [rule.id for rule in tiny.rules]
    assert "adult_services_at_25" not in ids
    kent_ids = [rule.id for rule in kent.rules]
    assert (
        ids.index("leaving_care_support_to_adult_services_at_25")
        == kent_ids.index("adult_services_at_25") - 1
    )  # one rule before it (level_1_universal_services) was retired
    assert ids[-2:] == ["level_1_advice_line", "care_leavers_redesign_to_leaving_care_support"]
    untouched = set(kent_ids) - {
        "level_1_universal_services",
        "open_social_care_case",
        "care_leaver_at_18",
        "adult_services_at_25",
    }
    for rule_id in untouched:
        assert tiny.rule_by_id[rule_id] == kent.rule_by_id[rule_id]
    assert tiny.indicators == kent.indicators
    assert tiny.timescales == kent.timescales
    assert tiny.report == kent.report
    # The simulation section is merge-patched: care_leavers removed, the successor added.
    assert tiny.simulation is not None
    assert kent.simulation is not None
    assert "care_leavers" not in tiny.simulation.open_services
    assert tiny.simulation.open_services["leaving_care_support"] == 0
    assert tiny.simulation.ages == kent.simulation.ages
    assert tiny.fingerprint != kent.fingerprint


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "revision.yaml").write_text(text, encoding="utf-8")
    return directory


HEADER = """\
revision:
  extends: kent
  go_live: 2026-04-01
  local_choice: a test date
rulebook: {id: kent_test, version: "9.0.0"}
"""


def problems(directory: Path) -> tuple[Any, ...]:
    with pytest.raises(RulebookInvalid) as caught:
        load_rulebook(directory)
    return caught.value.problems


def test_retiring_an_item_the_base_has_not_is_refused_at_its_line(tmp_path: Path) -> None:
    revision = write(tmp_path / "r", HEADER + "retire:\n  routes: [no_such_route]\n")
    (problem,) = problems(revision)
    assert problem.file == str(revision / "revision.yaml")
    assert problem.line == 7
    assert problem.location == "retire.routes[0]"
    assert problem.value == "no_such_route"
    assert "manual_review" in problem.valid
    assert "is not an item of the rulebook revised" in problem.message


def test_an_item_changed_twice_is_refused(tmp_path: Path) -> None:
    revision = write(
        tmp_path / "r",
        HEADER
        + "retire:\n  routes: [allocated_worker]\n"
        + "replace:\n  routes:\n    - {id: allocated_worker, with: {label: Another label}}\n",
    )
    (problem,) = problems(revision)
    assert "already retires" in problem.message
    assert problem.location == "replace.routes[0].with"


def test_a_replacement_without_with_is_refused(tmp_path: Path) -> None:
    revision = write(
        tmp_path / "r", HEADER + "replace:\n  routes:\n    - {id: allocated_worker, label: X}\n"
    )
    (problem,) = problems(revision)
    assert "gives `with:`" in problem.message


def test_a_revision_writes_lists_only_through_its_changes(tmp_path: Path) -> None:
    revision = write(tmp_path / "r", HEADER + "routes:\n  - {id: extra, label: Extra}\n")
    (problem,) = problems(revision)
    assert problem.location == "routes"
    assert "only through retire, replace and add" in problem.message


def test_changes_are_a_mapping_of_sections(tmp_path: Path) -> None:
    revision = write(tmp_path / "r", HEADER + "retire: [allocated_worker]\n")
    (problem,) = problems(revision)
    assert (problem.location, problem.line) == ("retire", 6)
    assert "must be a mapping of sections" in problem.message


def test_a_revision_header_without_a_go_live_is_refused(tmp_path: Path) -> None:
    revision = write(tmp_path / "r", HEADER.replace("  go_live: 2026-04-01\n", ""))
    (problem,) = problems(revision)
    assert problem.location == "revision.go_live"
    assert problem.file == str(revision / "revision.yaml")


def test_changes_without_a_revision_header_are_refused(tmp_path: Path) -> None:
    directory = tmp_path / "r"
    directory.mkdir()
    (directory / "changes.yaml").write_text("retire:\n  routes: [allocated_worker]\n")
    (problem,) = problems(directory)
    assert problem.location == "retire"
    assert "goes with a `revision:` header" in problem.message


@pytest.mark.parametrize("version", ["2.0.0", None])
def test_a_revision_has_its_own_version(tmp_path: Path, version: str | None) -> None:
    header = HEADER.replace('version: "9.0.0"', f'version: "{version}"')
    if version is None:
        header = HEADER.replace(', version: "9.0.0"', "")
    (problem,) = problems(write(tmp_path / "r", header))
    assert problem.location == "rulebook"
    assert "its own id and version" in problem.message


def test_a_problem_inside_an_added_rule_is_reported_at_the_revision(tmp_path: Path) -> None:
    revision = write(
        tmp_path / "r",
        HEADER
        + """add:
  rules:
    - id: to_nowhere
      title: A rule that routes to a route no one declared
      reference: a test
      effective_from: 2018-10-01
      priority: 5
      when: {level: 1}
      then: {route: nowhere, urgency: within_2_working_days}
""",
    )
    (problem,) = problems(revision)
    assert problem.file == str(revision / "revision.yaml")
    assert problem.location == "add.rules[0].then.route"
    assert problem.line == 14  # the `then:` line: 5 of header, `add:` on line 6
    assert problem.rule_id == "to_nowhere"
    assert problem.value == "nowhere"


def test_retiring_a_route_a_kent_rule_still_names_is_refused_at_kent(tmp_path: Path) -> None:
    """The base's own items are still checked, and reported where they are written."""
    revision = write(tmp_path / "r", HEADER + "retire:\n  routes: [emergency_protection]\n")
    found = problems(revision)
    (problem,) = [p for p in found if p.rule_id]
    (report,) = [p for p in found if not p.rule_id]  # the report's route_levels name it too
    assert Path(report.file or "").name == "report.yaml"
    assert Path(problem.file or "").name == "rules.yaml"
    assert Path(problem.file or "").parent.name == "kent"
    assert problem.rule_id == "immediate_danger_emergency_protection"
    assert problem.value == "emergency_protection"


def test_a_revision_that_extends_itself_is_refused(tmp_path: Path) -> None:
    revision = write(tmp_path / "r", HEADER.replace("extends: kent", "extends: ../r"))
    with pytest.raises(RulebookNotFound, match="extends it again"):
        load_rulebook(revision)


def test_a_revision_may_extend_a_revision(tmp_path: Path, tiny: Any) -> None:
    second = write(
        tmp_path / "second",
        HEADER.replace("extends: kent", f"extends: {TINY.resolve()}/")
        + "replace:\n  routes:\n    - {id: advice_line, with: {label: Telephone advice line}}\n",
    )
    book = load_rulebook(second)
    assert next(r for r in book.routes if r.id == "advice_line").label == "Telephone advice line"
    assert "care_leavers" not in book.service_by_id
    assert book.rules == tiny.rules


# -- the pathway revision -------------------------------------------------------------------------


def test_a_retired_node_keeps_one_redesign_edge_to_its_successor(tiny: Any) -> None:
    base, revised = load_pathway(), load_pathway(TINY_PATHWAY, rulebook=tiny)
    assert (revised.id, revised.version) == ("kent_tiny_revision", "0.1.0")
    assert revised.node("care_leavers").kind is NodeKind.RETIRED
    assert revised.node("care_leavers").level == base.node("care_leavers").level
    assert revised.retired == frozenset({"care_leavers"})
    (edge,) = revised.next_steps("care_leavers")
    assert (edge.target, edge.kind) == ("leaving_care_support", EdgeKind.REDESIGN)
    assert not [e for e in revised.edges if e.target == "care_leavers"]
    # The edges that touched it are redrawn on its successor by the revision.
    assert revised.edge("children_in_care", "leaving_care_support") is not None
    assert base.edge("children_in_care", "care_leavers") is not None
    # Untouched edges are the base's; a replaced one is patched (its guard removed).
    assert revised.edge("front_door", "emergency_protection") == base.edge(
        "front_door", "emergency_protection"
    )
    assert revised.edge("front_door", "universal_services").guard is None  # type: ignore[union-attr]
    assert base.fingerprint != revised.fingerprint


def pathway_revision(tmp_path: Path, changes: str) -> Path:
    file = tmp_path / "revision.yaml"
    file.write_text(
        'pathway: {id: kent_test, version: "9.0.0", title: A test, reference: a test}\n'
        "extends: kent\n" + changes,
        encoding="utf-8",
    )
    return file


def test_a_redesign_to_another_level_is_refused(tmp_path: Path) -> None:
    file = pathway_revision(
        tmp_path,
        "retire:\n  nodes:\n"
        "    - {id: care_leavers, successor: universal_services, reference: a test}\n",
    )
    with pytest.raises(PathwayInvalid) as caught:
        load_pathway(file)
    messages = [p.message for p in caught.value.problems]
    assert any("is a redesign to another level (4 -> 1)" in m for m in messages), messages


def test_a_successor_that_does_not_serve_every_age_is_refused(tmp_path: Path) -> None:
    file = pathway_revision(
        tmp_path,
        "retire:\n  nodes:\n"
        "    - {id: care_leavers, successor: children_in_care, reference: a test}\n",
    )
    with pytest.raises(PathwayInvalid) as caught:
        load_pathway(file)
    (problem,) = caught.value.problems
    assert problem.subject == "edge care_leavers -> children_in_care"
    assert "not every age of the retired node care_leavers (18-25)" in problem.message


def test_no_edge_may_lead_into_a_retired_node(tmp_path: Path) -> None:
    file = pathway_revision(
        tmp_path,
        "retire:\n  nodes:\n"
        "    - {id: care_leavers, successor: youth_justice, reference: a test}\n"
        "add:\n  edges:\n"
        "    - {from: children_in_care, to: care_leavers, kind: transition, reference: t}\n",
    )
    with pytest.raises(PathwayInvalid) as caught:
        load_pathway(file)
    messages = [p.message for p in caught.value.problems]
    assert "is retired, so no edge may lead to it" in messages


def test_a_retired_node_the_rulebook_still_serves_is_refused(tmp_path: Path, kent: Any) -> None:
    file = pathway_revision(
        tmp_path,
        "retire:\n  nodes:\n"
        "    - {id: care_leavers, successor: leaving, reference: a test}\n"
        "add:\n  nodes:\n"
        "    - {id: leaving, label: L, level: 4, kind: service,"
        " age_range: {min_years: 18, max_years: 25, unborn: false}}\n"
        "  edges:\n    - {from: children_in_care, to: leaving, kind: transition, reference: t}\n",
    )
    with pytest.raises(PathwayInvalid) as caught:
        load_pathway(file, rulebook=kent)
    messages = [p.message for p in caught.value.problems]
    assert any("kent still has a route or service care_leavers" in m for m in messages)


def test_retiring_a_node_the_base_has_not_is_refused_at_its_line(tmp_path: Path) -> None:
    file = pathway_revision(
        tmp_path, "retire:\n  nodes:\n    - {id: nowhere, successor: closure, reference: t}\n"
    )
    with pytest.raises(PathwayInvalid) as caught:
        load_pathway(file)
    (problem,) = caught.value.problems
    assert (problem.location, problem.line, problem.value) == (
        "retire.nodes[0].id",
        5,
        "nowhere",
    )


# -- editions -------------------------------------------------------------------------------------


@pytest.fixture(name="editions", scope="module")
def fixture_editions() -> Editions:
    return load_editions(TINY)


def test_the_edition_in_force_is_chosen_by_go_live(editions: Editions) -> None:
    first, revision = editions.editions
    assert (first.rulebook.id, first.go_live) == ("kent", None)
    assert (revision.rulebook.id, revision.go_live) == ("kent_tiny_revision", GO_LIVE)
    assert editions.on(date(2026, 3, 31)) is first
    assert editions.on(GO_LIVE) is revision
    assert editions.on(date(2030, 1, 1)) is revision
    later = load_editions(TINY, go_live=date(2026, 9, 1))
    assert later.on(date(2026, 8, 31)).rulebook.id == "kent"
    assert later.on(date(2026, 9, 1)).rulebook.id == "kent_tiny_revision"
    assert editions.successors() == {"care_leavers": "leaving_care_support"}
    assert first.pathway is not None
    assert first.pathway.id == "kent"


def test_go_live_needs_a_revision() -> None:
    with pytest.raises(UsageError, match="revises no rulebook"):
        load_editions(HERE.parent / "rules" / "kent", go_live=GO_LIVE)
    (only,) = load_editions(HERE.parent / "rules" / "kent").editions
    assert only.go_live is None


def test_a_retired_service_needs_exactly_one_redesign_rule(kent: Any, tiny: Any) -> None:
    without = tiny.model_validate(
        {
            **tiny.model_dump(mode="json"),
            "rules": [
                r.model_dump(mode="json")
                for r in tiny.rules
                if r.id != "care_leavers_redesign_to_leaving_care_support"
            ],
        }
    )
    (problem,) = check_move(Edition(kent), Edition(without, GO_LIVE))
    assert problem.value == "care_leavers"
    assert "exactly one service_redesign step rule" in problem.message
    with pytest.raises(RulebookInvalid):
        Editions((Edition(kent), Edition(without, GO_LIVE)))


def redesign_rule(**changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": "care_leavers_redesign_to_leaving_care_support",
        "title": "A test",
        "reference": "a test",
        "effective_from": "2018-10-01",
        "priority": 30,
        "when": {"all": [{"service": "care_leavers"}, {"event": "service_redesign"}]},
        "then": {"step": "redesign", "to": "leaving_care_support"},
    }
    rule.update(changes)
    return rule


def with_redesign(tiny: Any, rule: dict[str, Any]) -> Any:
    rules = [
        r.model_dump(mode="json")
        for r in tiny.rules
        if r.id != "care_leavers_redesign_to_leaving_care_support"
    ]
    return tiny.model_validate({**tiny.model_dump(mode="json"), "rules": [*rules, rule]})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {
                "when": {
                    "all": [
                        {"service": "care_leavers"},
                        {"event": "service_redesign"},
                        {"consent": "given"},
                    ]
                }
            },
            "reads only `service` and `event: service_redesign`",
        ),
        ({"then": {"step": "redesign", "to": "children_in_care"}}, None),
        ({"then": {"step": "redesign", "to": "single_agency_support"}}, "(level 2)"),
        ({"effective_from": "2026-06-01"}, "is not in force on go-live 2026-04-01"),
    ],
)
def test_a_redesign_rule_moves_every_child_to_a_successor_at_its_level(
    kent: Any, tiny: Any, changes: dict[str, Any], message: str | None
) -> None:
    """A condition beyond service and event, a successor at another level, a rule not in force
    on go-live: each refused. (children_in_care is at level 4 but not on a redesign edge.)"""
    book = with_redesign(tiny, redesign_rule(**changes))
    edition = Edition(book, GO_LIVE, load_pathway(TINY_PATHWAY, rulebook=tiny))
    found = check_move(Edition(kent), edition)
    assert found
    if message is None:
        assert any("is not a redesign edge" in p.message for p in found)
    else:
        assert any(message in p.message for p in found), [p.message for p in found]


# -- routing, journeys and the log across go-live -------------------------------------------------


def level_1_referral(received: str, referral_id: str = "R-TINY-1") -> dict[str, Any]:
    return make_referral(
        referral_id=referral_id,
        received_at=received,
        concerns=concerns("school_attendance_above_90"),
    )


def test_before_go_live_the_door_is_kents_byte_for_byte(editions: Editions, kent: Any) -> None:
    door, plain = editions.door("reference", id_key=KEY), FrontDoor(kent, "reference", id_key=KEY)
    before = level_1_referral("2026-03-31T16:00:00+01:00")
    assert [d.model_dump_json() for d in door.route(before)] == [
        d.model_dump_json() for d in plain.route(before)
    ]
    (decision,) = door.route(before)
    assert decision.route == "universal_services"


def test_from_go_live_the_revision_decides(editions: Editions) -> None:
    door = editions.door("reference", id_key=KEY)
    (after,) = door.route(level_1_referral("2026-04-01T08:00:00+01:00"))
    assert (after.route, after.rulebook.id) == ("advice_line", "kent_tiny_revision")
    assert after.rules_fired == ("single_level_1_indicator", "level_1_advice_line")
    # The as-of date, not the receipt date, chooses the edition when it is given.
    (earlier,) = door.route(level_1_referral("2026-04-01T08:00:00+01:00"), date(2026, 3, 1))
    assert (earlier.route, earlier.rulebook.id) == ("universal_services", "kent")


def go_live_event(occurred: str, service: str = "care_leavers") -> dict[str, Any]:
    return {
        "event_id": "E-GL-1",
        "child_id": "C-GL-1",
        "occurred_at": occurred,
        "event": "service_redesign",
        "service": service,
        "date_of_birth": "2006-02-01",
    }


def test_the_go_live_event_moves_an_open_case_to_its_successor(editions: Editions) -> None:
    journeys = editions.journeys("reference", id_key=KEY)
    moved = journeys.decide(go_live_event("2026-04-01T09:00:00+01:00"))
    assert (moved.kind, moved.from_service, moved.to_service) == (
        "redesign",
        "care_leavers",
        "leaving_care_support",
    )
    assert moved.rules_fired == ("care_leavers_redesign_to_leaving_care_support",)
    assert moved.rulebook.id == "kent_tiny_revision"
    assert moved.reasons[0].startswith("The care leavers service became leaving care support")
    # The day before, Kent decides: no step rule reads the event, so the child stays.
    stayed = journeys.decide(go_live_event("2026-03-31T09:00:00+01:00"))
    assert (stayed.kind, stayed.to_service, stayed.rulebook.id) == ("stay", "care_leavers", "kent")


def test_a_log_that_spans_go_live_verifies_and_replays(tmp_path: Path, editions: Editions) -> None:
    target = str(tmp_path / "log.jsonl")
    door = editions.door("reference", id_key=KEY)
    journeys = editions.journeys("reference", id_key=KEY)
    with DecisionLog(target, key=KEY) as log:
        decided = log.route_batch(
            door,
            [
                level_1_referral("2026-03-30T10:00:00+01:00", "R-BEFORE"),
                level_1_referral("2026-04-02T10:00:00+01:00", "R-AFTER"),
            ],
        )
        events = [
            journeys.journeys_for(GO_LIVE).validate(go_live_event("2026-04-01T09:00:00+01:00"))
        ]
        log.record_transitions(journeys, events, [journeys.decide(events[0])])
    assert [d.route for (d,) in decided] == ["universal_services", "advice_line"]
    assert verify_log(target).ok
    records = [json.loads(line) for line in Path(target).read_text().splitlines()]
    snapshots = {r["record"]["rulebook"]["id"] for r in records if r["kind"] == "rulebook_snapshot"}
    assert snapshots == {"kent", "kent_tiny_revision"}
    report = replay_log(target, engine="reference")
    assert (report.decisions, report.different) == (2, 0)
    assert (report.journeys, report.journeys_different) == (1, 0)
