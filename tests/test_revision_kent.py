"""Kent under Families First (rules/kent-families-first, pathways/kent-families-first.yaml):
both editions lint and load, the move between them is safe, decisions before go-live are Kent's
byte for byte, after it each new route decides as worked out by hand from docs/families-first.md
and the rules, and the go-live move never changes a child's level."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage import FrontDoor, Journeys, ReferralInvalid, load_pathway, load_rulebook, simulate
from triage.audit import DecisionLog, replay_log, verify_log
from triage.editions import Editions, load_editions
from triage.lint import lint_rulebook

from .conftest import concerns, make_referral
from .strategies import SERVICES, redesign_events, referrals

ROOT = Path(__file__).parent.parent
FF_DIR = ROOT / "rules" / "kent-families-first"
FF_PATHWAY = ROOT / "pathways" / "kent-families-first.yaml"
GO_LIVE = date(2026, 4, 1)  # the revision's default (rules/kent-families-first/revision.yaml)
KEY = b"a test key for Kent's revision"
KENT = load_rulebook()
FF = load_rulebook(FF_DIR)
FF_GRAPH = load_pathway(FF_PATHWAY, rulebook=FF)
RETIRED = ("intensive_early_help", "child_and_family_assessment", "child_in_need_plan")
# Kent 2.0.0's route -> the revision's (docs/rules-authoring.md, "Kent under Families First").
ROUTE_MAP = {
    "intensive_early_help": "family_help",
    "child_and_family_assessment": "family_help",
    "strategy_discussion": "multi_agency_child_protection",
}
NEW_FLAGS = ("child_in_need_assessment", "family_group_decision_making_offer")
# Where no family group decision making is offered: no service of the Front Door's opens.
BELOW_FAMILY_HELP = {"universal_services", "single_agency_support", "team_around_the_family"}


@pytest.fixture(name="editions", scope="module")
def fixture_editions() -> Editions:
    return load_editions(FF_DIR)


# -- both editions and the move between them ------------------------------------------------------


@pytest.mark.parametrize("rulebook", [KENT, FF], ids=["kent", "kent_families_first"])
def test_lint_finds_nothing_in_either_edition(rulebook: Any) -> None:
    assert lint_rulebook(rulebook) == []


def test_both_pathways_load_against_their_rulebooks() -> None:
    kent = load_pathway(rulebook=KENT)
    assert (FF_GRAPH.id, FF_GRAPH.version) == ("kent_families_first", "2.0.0")
    assert (kent.id, kent.version) == ("kent", "1.1.0")
    assert FF_GRAPH.unmatched_step_ups() == ()
    assert FF_GRAPH.retired == {*RETIRED, "strategy_discussion"}
    for node in FF_GRAPH.retired:
        assert FF_GRAPH.level_of(node) == kent.level_of(node)


def test_every_retired_service_has_one_successor_at_its_level(editions: Editions) -> None:
    kent, revision = editions.editions
    assert (kent.rulebook.version, revision.rulebook.version) == ("2.0.0", "3.0.0")
    assert revision.go_live == GO_LIVE
    assert editions.successors() == {
        "intensive_early_help": "family_help",
        "child_and_family_assessment": "family_help",
        "child_in_need_plan": "family_help",
        "strategy_discussion": "multi_agency_child_protection",
    }
    assert {s.id for s in KENT.services} - {s.id for s in FF.services} == set(RETIRED)
    for service in RETIRED:
        assert KENT.service_by_id[service].level == FF.service_by_id["family_help"].level == 3


def test_the_revision_keeps_kents_levels_indicators_and_timescales() -> None:
    assert FF.indicators == KENT.indicators
    assert FF.timescales == KENT.timescales
    assert FF.rules_of("level") == KENT.rules_of("level")
    assert FF.override_reasons == KENT.override_reasons


# -- before go-live: Kent's decisions, byte for byte ---------------------------------------------


def test_before_go_live_the_demo_population_is_decided_byte_for_byte_as_kent(
    editions: Editions,
) -> None:
    """Every decision of `triage.simulate(10000, seed=2026)` (received 2025-04-01 to
    2026-03-31, all before go-live) has the JSON bytes of the plain Kent door's under the same
    id key."""
    door = editions.door("compiled", id_key=KEY)
    plain = FrontDoor(KENT, "compiled", id_key=KEY)
    count = 0
    for referral in simulate(10000, seed=2026):
        ours = [d.model_dump_json() for d in door.route(referral)]
        assert ours == [d.model_dump_json() for d in plain.route(referral)]
        count += len(ours)
    assert count > 10000  # siblings: one decision per child


def test_a_go_live_inside_the_year_splits_the_population_by_receipt_date() -> None:
    """With go-live on 1 October 2025, the first half year is Kent's byte for byte and the
    second is the revision's; the durable engine as well."""
    middle = date(2025, 10, 1)
    editions = load_editions(FF_DIR, go_live=middle)
    door = editions.door("durable", id_key=KEY)
    plain = FrontDoor(KENT, "durable", id_key=KEY)
    revised = FrontDoor(FF, "durable", id_key=KEY)
    seen = {"kent": 0, "kent_families_first": 0}
    for data in simulate(600, seed=2026):
        received = date.fromisoformat(data["received_at"][:10])
        # After go-live a form naming a retired service is carried over explicitly.
        referral = data if received < middle else editions.carry_over(data)
        ours = door.route(referral)
        other = plain if received < middle else revised
        assert [d.model_dump_json() for d in ours] == [
            d.model_dump_json() for d in other.route(referral)
        ]
        seen[ours[0].rulebook.id] += 1
    assert min(seen.values()) > 100


def test_after_go_live_a_form_naming_a_retired_service_is_refused_with_its_successor(
    editions: Editions,
) -> None:
    data = make_referral(
        received_at="2026-04-02T10:00:00+01:00",
        children=child(
            date_of_birth="2016-01-10", open_involvement={"service": "child_in_need_plan"}
        ),
        concerns=concerns("occasional_truancy"),
    )
    door = editions.door("reference", id_key=KEY)
    with pytest.raises(ReferralInvalid) as caught:
        door.route(data)
    (problem,) = caught.value.problems
    assert problem.location == "children[0].open_involvement.service"
    assert (problem.value, problem.valid) == ("child_in_need_plan", ("family_help",))
    assert "retired on 2026-04-01 by kent_families_first" in problem.message
    (decision,) = door.route(editions.carry_over(data))
    assert (decision.level, decision.route) == (3, "family_help")
    # Before go-live the same form is Kent's, unchanged.
    (kent,) = door.route({**data, "received_at": "2026-03-31T10:00:00+01:00"})
    assert (kent.level, kent.route) == (3, "allocated_worker")


# -- after go-live: each new route, worked out by hand --------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    referral: dict[str, Any]
    kent_route: str
    level: int
    route: str
    fired: tuple[str, ...]
    flags: tuple[str, ...] = ()
    urgency: str = "within_1_working_day"


def child(**fields: Any) -> list[dict[str, Any]]:
    return [{"child_id": "C-FF-1", **fields}]


TEN = child(date_of_birth="2016-01-10")
FOURTEEN = child(date_of_birth="2012-01-10")
UNBORN = child(expected_date_of_birth="2026-07-01")

CASES = [
    Case(
        "level-3 needs go to Family Help, where they went to intensive early help",
        make_referral(children=TEN, concerns=concerns("persistent_absence")),
        "intensive_early_help",
        3,
        "family_help",
        ("single_level_3_indicator", "level_3_family_help"),
    ),
    Case(
        "a homeless 16-year-old goes to Family Help with a child in need assessment",
        make_referral(
            children=child(date_of_birth="2010-01-10"), concerns=concerns("homeless_child")
        ),
        "child_and_family_assessment",
        3,
        "family_help",
        (
            "single_level_3_indicator",
            "level_3_child_in_need_family_help",
            "child_in_need_assessment_level_3",
        ),
        ("child_in_need_assessment",),
    ),
    Case(
        "level-4 needs without suspected harm go to Family Help, assessed, with an FGDM offer",
        make_referral(children=FOURTEEN, concerns=concerns("suicidal_ideation")),
        "child_and_family_assessment",
        4,
        "family_help",
        (
            "single_level_4_indicator",
            "level_4_family_help",
            "child_in_need_assessment_level_4",
            "fgdm_offer_family_help_level_4",
        ),
        ("child_in_need_assessment", "family_group_decision_making_offer"),
    ),
    Case(
        "physical abuse goes to the multi-agency child protection team the same day, with an "
        "FGDM offer",
        make_referral(children=TEN, concerns=concerns("physical_abuse")),
        "strategy_discussion",
        4,
        "multi_agency_child_protection",
        (
            "single_level_4_indicator",
            "suspected_significant_harm_multi_agency_child_protection",
            "fgdm_offer_child_protection",
        ),
        ("family_group_decision_making_offer",),
        "same_day",
    ),
    Case(
        "repeated domestic abuse with the child present goes to the child protection team",
        make_referral(
            children=TEN,
            concerns=concerns(
                "domestic_abuse_repeat_incidents",
                "domestic_abuse_child_present",
                about="parent_carer",
            ),
        ),
        "strategy_discussion",
        4,
        "multi_agency_child_protection",
        (
            "single_level_3_indicator",  # each alone is level 3
            "repeated_domestic_abuse_child_present_level_4",
            "repeated_domestic_abuse_child_present_multi_agency_child_protection",
            "fgdm_offer_child_protection",
        ),
        ("family_group_decision_making_offer",),
        "same_day",
    ),
    Case(
        "a child frequently missing and vulnerable to exploitation goes to the child "
        "protection team",
        make_referral(children=FOURTEEN, concerns=concerns("missing_frequently", "cse_vulnerable")),
        "strategy_discussion",
        4,
        "multi_agency_child_protection",
        (
            "single_level_4_indicator",  # missing frequently
            "single_level_3_indicator",  # vulnerable to sexual exploitation
            "missing_and_exploited_multi_agency_child_protection",
            "adolescent_support_pathway",
            "fgdm_offer_child_protection",
        ),
        ("adolescent_support_pathway", "family_group_decision_making_offer"),
        "same_day",
    ),
    Case(
        "immediate danger is still immediate protection, now with an FGDM offer",
        make_referral(children=TEN, immediate_danger=True),
        "emergency_protection",
        4,
        "emergency_protection",
        (
            "immediate_danger_level_4",
            "immediate_danger_emergency_protection",
            "fgdm_offer_emergency_protection",
        ),
        ("family_group_decision_making_offer",),
        "immediate",
    ),
    Case(
        "immediate danger to an unborn child is the child protection team at once",
        make_referral(children=UNBORN, immediate_danger=True),
        "strategy_discussion",
        4,
        "multi_agency_child_protection",
        (
            "immediate_danger_level_4",
            "immediate_danger_unborn_multi_agency_child_protection",
            "fgdm_offer_pre_birth",
        ),
        ("family_group_decision_making_offer",),
        "immediate",
    ),
    Case(
        "an unborn child needing a pre-birth assessment goes to Family Help, assessed, with "
        "an FGDM offer to plan for the birth",
        make_referral(children=UNBORN, concerns=concerns("unborn_pre_birth_assessment")),
        "child_and_family_assessment",
        3,
        "family_help",
        (
            "single_level_3_indicator",
            "unborn_child_pre_birth_family_help",
            "child_in_need_assessment_level_3",
            "fgdm_offer_pre_birth",
        ),
        ("child_in_need_assessment", "family_group_decision_making_offer"),
    ),
    Case(
        "refused consent below level 4 still opens no service, and nothing is offered",
        make_referral(
            children=child(date_of_birth="2010-01-10"),
            concerns=concerns("homeless_child"),
            consent="refused",
        ),
        "single_agency_support",
        3,
        "single_agency_support",
        ("single_level_3_indicator", "refused_consent_below_level_4"),
        urgency="within_2_working_days",
    ),
    Case(
        "a new referral on a child open to Family Help stays with Family Help",
        make_referral(
            children=child(date_of_birth="2016-01-10", open_involvement={"service": "family_help"}),
            concerns=concerns("occasional_truancy"),
        ),
        "",  # no such service in Kent 2.0.0
        3,
        "family_help",
        ("single_level_2_indicator", "open_level_3_service_floor", "open_social_care_case"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("engine", ["durable", "reference", "compiled"])
def test_after_go_live_each_route_follows_the_revision(
    editions: Editions, case: Case, engine: str
) -> None:
    door = editions.door(engine, id_key=KEY)  # type: ignore[arg-type]
    after = {**case.referral, "received_at": "2026-04-02T10:00:00+01:00"}
    (decision,) = door.route(after)
    assert decision.rulebook.id == "kent_families_first"
    assert (decision.level, decision.route, decision.urgency) == (
        case.level,
        case.route,
        case.urgency,
    )
    assert decision.rules_fired == case.fired
    assert decision.flags == case.flags
    if case.kent_route:
        before = {**case.referral, "received_at": "2026-03-31T10:00:00+01:00"}
        (kent,) = door.route(before)
        assert (kent.rulebook.id, kent.level, kent.route) == ("kent", case.level, case.kent_route)
        assert not set(kent.flags) & set(NEW_FLAGS)


@given(data=referrals(services=tuple(s for s in SERVICES if s not in RETIRED)))
def test_the_revision_routes_as_kent_does_with_the_models_routes(data: dict[str, Any]) -> None:
    """On any referral a child could bring to both (open to no retired service): the same
    level, Kent's route renamed as the model says, Kent's flags, the child in need assessment
    exactly where Kent routes to a child and family assessment, and no FGDM offer below level 3
    or on a route that opens no service beyond level 2."""
    kent, revised = KENT_DOOR.route(data), FF_DOOR.route(data)
    for old, new in zip(kent, revised, strict=True):
        assert new.level == old.level
        assert new.route == ROUTE_MAP.get(old.route, old.route)
        assert tuple(f for f in new.flags if f not in NEW_FLAGS) == old.flags
        assert ("child_in_need_assessment" in new.flags) == (
            old.route == "child_and_family_assessment"
        )
        if "family_group_decision_making_offer" in new.flags:
            assert new.level in (3, 4)
            assert new.route not in BELOW_FAMILY_HELP


KENT_DOOR = FrontDoor(KENT, "reference", id_key=KEY)
FF_DOOR = FrontDoor(FF, "reference", id_key=KEY)
FF_DURABLE = FrontDoor(FF, "durable", id_key=KEY)


@given(data=referrals(services=tuple(s.id for s in FF.services)))
def test_the_durable_engine_decides_the_revision_as_the_reference_does(
    data: dict[str, Any],
) -> None:
    assert [d.model_dump(exclude={"engine"}) for d in FF_DURABLE.route(data)] == [
        d.model_dump(exclude={"engine"}) for d in FF_DOOR.route(data)
    ]


# -- go-live for open cases -----------------------------------------------------------------------

JOURNEYS = {
    engine: Journeys(FF, FF_GRAPH, engine, id_key=KEY)
    for engine in ("reference", "compiled", "durable")
}
NODES = tuple(sorted(node.id for node in FF_GRAPH.nodes))


def open_case(service: str, occurred: str = "2026-04-01T09:00:00+01:00") -> dict[str, Any]:
    return {
        "event_id": f"E-GL-{service}",
        "child_id": "C-GL-1",
        "occurred_at": occurred,
        "event": "service_redesign",
        "service": service,
        "date_of_birth": "2016-01-10",
    }


@pytest.mark.parametrize(
    ("service", "successor", "rule"),
    [
        ("intensive_early_help", "family_help", "service_redesign_to_family_help"),
        ("child_and_family_assessment", "family_help", "service_redesign_to_family_help"),
        ("child_in_need_plan", "family_help", "service_redesign_to_family_help"),
        (
            "strategy_discussion",
            "multi_agency_child_protection",
            "service_redesign_to_multi_agency_child_protection",
        ),
    ],
)
def test_on_go_live_each_open_case_moves_to_its_successor(
    editions: Editions, service: str, successor: str, rule: str
) -> None:
    journeys = editions.journeys("durable", id_key=KEY)
    moved = journeys.decide(open_case(service))
    assert (moved.kind, moved.from_service, moved.to_service) == ("redesign", service, successor)
    assert moved.rules_fired == (rule,)
    assert moved.rulebook.id == "kent_families_first"
    assert "Families First Partnership programme guide" in moved.reasons[0]
    before = journeys.decide(open_case(service, "2026-03-31T17:00:00+01:00"))
    assert (before.kind, before.to_service, before.rulebook.id) == ("stay", service, "kent")


@pytest.mark.parametrize(
    "service", ["team_around_the_family", "child_protection_plan", "children_in_care"]
)
def test_a_service_kept_by_the_revision_is_not_moved_on_go_live(service: str) -> None:
    decision = JOURNEYS["reference"].decide(open_case(service))
    assert (decision.kind, decision.to_service) == ("stay", service)


@given(data=redesign_events(NODES, GO_LIVE))
def test_the_go_live_event_never_changes_a_childs_level(data: dict[str, Any]) -> None:
    """On the reference, compiled and durable evaluators alike: a child open to a retired node
    moves to its successor at the same level; any other child stays."""
    decided = {engine: journeys.decide(data) for engine, journeys in JOURNEYS.items()}
    reference = decided["reference"]
    for other in decided.values():
        assert other.model_dump(exclude={"transition_id"}) == reference.model_dump(
            exclude={"transition_id"}
        )
    assert FF_GRAPH.level_of(reference.to_service) == FF_GRAPH.level_of(reference.from_service)
    expected = "redesign" if reference.from_service in FF_GRAPH.retired else "stay"
    assert reference.kind == expected


@settings(max_examples=50, deadline=None)
@given(service=st.sampled_from(RETIRED), days=st.integers(1, 400))
def test_after_go_live_day_the_move_is_still_made(service: str, days: int) -> None:
    """A case found later, still open to a retired service, is moved the same way."""
    later = date.fromordinal(GO_LIVE.toordinal() + days)
    decision = JOURNEYS["reference"].decide(open_case(service, f"{later.isoformat()}T09:00:00Z"))
    assert (decision.kind, decision.to_service) == ("redesign", "family_help")


def test_a_log_across_go_live_verifies_and_replays(tmp_path: Path, editions: Editions) -> None:
    """Referrals before and after go-live and the go-live moves of the open cases, in one
    SQLite log: it verifies, and a faithful replay decides every record as it was."""
    target = f"sqlite:///{tmp_path / 'log.sqlite'}"
    door = editions.door("reference", id_key=KEY)
    journeys = editions.journeys("reference", id_key=KEY)
    population = list(simulate(40, seed=7))
    late = [
        {**r, "referral_id": f"{r['referral_id']}-L", "received_at": "2026-04-07T10:00:00+01:00"}
        for r in population[:20]
    ]
    late = [
        r
        for r in late
        if all(
            "date_of_birth" in c and c.get("open_involvement", {}).get("service") not in RETIRED
            for c in r["children"]
        )
    ]
    assert len(late) > 5
    with DecisionLog(target, key=KEY) as log:
        decided = log.route_batch(door, [*population, *late])
        events = [journeys.journeys_for(GO_LIVE).validate(open_case(s)) for s in RETIRED]
        log.record_transitions(journeys, events, [journeys.decide(e) for e in events])
    ids = {d.rulebook.id for batch in decided for d in batch}
    assert ids == {"kent", "kent_families_first"}
    assert verify_log(target).ok
    report = replay_log(target, engine="reference")
    assert report.different == 0
    assert report.decisions == sum(len(batch) for batch in decided)
    assert (report.journeys, report.journeys_different) == (3, 0)


def test_journeys_on_the_revision_find_its_bundled_pathway() -> None:
    """A rulebook id names its bundled pathway (kent_families_first: kent-families-first.yaml);
    Kent's stays Kent's."""
    assert Journeys(FF, engine="reference").pathway.id == "kent_families_first"
    assert Journeys(KENT, engine="reference").pathway.id == "kent"


@pytest.mark.parametrize(
    ("journeys", "service"),
    [
        (JOURNEYS["durable"], "family_help"),
        (Journeys(KENT, engine="durable", id_key=KEY), "child_and_family_assessment"),
    ],
    ids=["revision", "kent"],
)
def test_the_go_live_event_never_closes_a_case_by_a_rule_that_reads_no_event(
    journeys: Journeys, service: str
) -> None:
    """Found by the property above: the rules that close an assessment with no further action
    read no event, so a service_redesign event carrying that finding closed the case. Only
    redesign rules decide that event, and they decide no other."""
    data = {**open_case(service), "findings": ["no_further_action"]}
    decision = journeys.decide(data)
    assert (decision.kind, decision.to_service, decision.rules_fired) == ("stay", service, ())
    review = journeys.decide({**data, "event": "review"})
    assert (review.kind, review.to_service) == ("close", "closure")
