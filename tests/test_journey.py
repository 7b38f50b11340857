"""Journeys: step rules decide, the graph allows, overrides are recorded, nothing fails low."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from structlog.testing import capture_logs

from triage import EngineFault, Rulebook, RulebookInvalid, load_rulebook
from triage.errors import MoveRefused, ReferralInvalid
from triage.facts import JourneyFacts
from triage.journey import Journeys, TransitionDecision
from triage.pathway import EdgeKind

from .strategies import journey_events

EDGE_KIND = {
    "step_up": EdgeKind.STEP_UP,
    "step_down": EdgeKind.STEP_DOWN,
    "transition": EdgeKind.TRANSITION,
    "close": EdgeKind.EXIT,
}


@pytest.fixture(name="journeys", scope="module", params=["durable", "reference"])
def fixture_journeys(request: pytest.FixtureRequest) -> Journeys:
    return Journeys(load_rulebook(), engine=request.param)


def event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "E-TEST-1",
        "child_id": "C-TEST-1",
        "occurred_at": "2026-05-04T10:00:00+01:00",
        "event": "review",
        "service": "team_around_the_family",
        "date_of_birth": "2015-01-01",
    }
    base.update(fields)
    return base


CASES = [
    (
        "new level-4 concerns on an early help case step up to an assessment",
        event(event="new_referral", service="intensive_early_help", level=4),
        "step_up",
        "child_and_family_assessment",
        None,
        "step_up_early_help_level_4",
    ),
    (
        "escalating concerns at a team around the family review step up",
        event(findings=["concerns_escalated"]),
        "step_up",
        "child_and_family_assessment",
        None,
        "step_up_early_help_level_4",
    ),
    (
        "escalating concerns on a child in need plan call a strategy discussion",
        event(service="child_in_need_plan", findings=["concerns_escalated"]),
        "step_up",
        "strategy_discussion",
        None,
        "step_up_child_in_need_significant_harm",
    ),
    (
        "a protection plan ending with concerns reduced and consent steps down to early help (RC9)",
        event(
            event="plan_ended",
            service="child_protection_plan",
            findings=["concerns_reduced"],
            consent="given",
        ),
        "step_down",
        "intensive_early_help",
        "RC9",
        "step_down_protection_plan_to_early_help",
    ),
    (
        "without consent the protection plan steps down to a child in need plan",
        event(
            event="plan_ended",
            service="child_protection_plan",
            findings=["concerns_reduced"],
            consent="refused",
        ),
        "step_down",
        "child_in_need_plan",
        None,
        "step_down_protection_plan_to_child_in_need",
    ),
    (
        "a team around the family closes to universal services when outcomes are achieved",
        event(findings=["outcomes_achieved"]),
        "step_down",
        "universal_services",
        None,
        "close_team_around_the_family_outcomes_achieved",
    ),
    (
        "an assessment with no further action closes the case (RC8)",
        event(service="child_and_family_assessment", findings=["no_further_action"]),
        "close",
        "closure",
        "RC8",
        "close_assessment_no_further_action",
    ),
    (
        "a child in care who turns 18 moves to the care leavers service",
        event(event="birthday", service="children_in_care", date_of_birth="2008-05-04"),
        "transition",
        "care_leavers",
        None,
        "care_leaver_at_18",
    ),
    (
        "a care leaver who turns 25 moves to adult services",
        event(event="birthday", service="care_leavers", date_of_birth="2001-05-04"),
        "transition",
        "adult_services",
        None,
        "adult_services_at_25",
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "kind", "to", "closure", "rule"), CASES, ids=[c[0] for c in CASES]
)
def test_kent_step_rules(
    name: str,
    data: dict[str, Any],
    kind: str,
    to: str,
    closure: str | None,
    rule: str,
    journeys: Journeys,
) -> None:
    decision = journeys.decide(data)
    assert (decision.kind, decision.from_service, decision.to_service) == (
        kind,
        data["service"],
        to,
    )
    assert decision.closure_reason == closure
    assert decision.rules_fired[0] == rule or rule in decision.rules_fired
    assert decision.decided_by == "rules"
    assert not decision.overridden


def test_a_17th_birthday_in_care_is_no_transition(journeys: Journeys) -> None:
    decision = journeys.decide(
        event(event="birthday", service="children_in_care", date_of_birth="2009-05-04")
    )
    assert (decision.kind, decision.to_service) == ("stay", "children_in_care")


def test_no_step_rule_means_the_child_stays(journeys: Journeys) -> None:
    """Unchanged concerns on a protection plan: no move, and never a lower one by default."""
    decision = journeys.decide(
        event(service="child_protection_plan", findings=["concerns_unchanged"])
    )
    assert (decision.kind, decision.to_service, decision.rules_fired) == (
        "stay",
        "child_protection_plan",
        (),
    )
    assert "stays" in decision.reasons[0]


class BrokenSteps:
    name = "broken"

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook

    def level_rules(self, facts: Any, as_of: date) -> tuple[str, ...]:
        return ()

    def route_rules(self, facts: Any, level: int, as_of: date) -> tuple[str, ...]:
        return ()

    def step_rules(self, facts: JourneyFacts, as_of: date) -> tuple[str, ...]:
        raise EngineFault(self.name, "the engine raised MemoryError")


def test_an_engine_fault_keeps_the_child_where_it_is_for_manual_review(kent: Rulebook) -> None:
    journeys = Journeys(kent, engine=BrokenSteps(kent))
    decision = journeys.decide(
        event(event="plan_ended", service="child_protection_plan", findings=["concerns_reduced"])
    )
    assert (decision.kind, decision.to_service, decision.manual_review) == (
        "stay",
        "child_protection_plan",
        True,
    )


def test_an_override_is_recorded_with_its_reason_and_the_rules_proposal(journeys: Journeys) -> None:
    decision = journeys.decide(
        event(
            event="plan_ended",
            service="child_protection_plan",
            findings=["concerns_reduced"],
            decided_by="team manager",
            override={
                "to": "children_in_care",
                "reason": "interim care order granted by the court today",
            },
        )
    )
    assert decision.overridden
    assert decision.to_service == "children_in_care"
    assert decision.rules_proposed == "intensive_early_help"
    assert decision.decided_by == "team manager"
    assert "interim care order" in decision.reasons[0]


def test_an_override_never_crosses_a_forbidden_edge(journeys: Journeys) -> None:
    with pytest.raises(MoveRefused, match="forbidden") as caught:
        journeys.decide(
            event(
                service="camhs_inpatient",
                decided_by="consultant",
                override={"to": "adult_psychiatric_ward", "reason": "no CAMHS bed available"},
            )
        )
    assert caught.value.code == "move_refused"
    assert "camhs_tier_2_3" in str(caught.value)  # the allowed next steps are named


def test_an_override_to_adult_services_refuses_an_eleven_year_old(journeys: Journeys) -> None:
    """Born 1 January 2015, the child is 11 on 4 May 2026: adult services (18+) is refused."""
    with pytest.raises(MoveRefused) as caught:
        journeys.decide(
            event(
                service="child_in_need_plan",
                decided_by="team manager",
                override={"to": "adult_services", "reason": "synthetic reason for the test"},
            )
        )
    assert caught.value.code == "move_refused"
    assert caught.value.target == "adult_services"
    message = str(caught.value)
    assert "adult_services serves ages 18+" in message
    assert "even by override" in message
    assert "2015" not in message  # the child's date of birth and age stay private
    assert " 11" not in message


def test_an_override_to_a_node_for_born_children_refuses_an_unborn_child(
    journeys: Journeys,
) -> None:
    unborn = event(
        service="child_in_need_plan",
        decided_by="team manager",
        override={"to": "children_in_care", "reason": "synthetic reason for the test"},
    )
    del unborn["date_of_birth"]
    unborn["expected_date_of_birth"] = "2026-08-01"

    with pytest.raises(MoveRefused, match="children_in_care serves ages 0-17"):
        journeys.decide(unborn)


@pytest.mark.parametrize(
    ("occurred_at", "refused"),
    [
        ("2026-05-03T10:00:00+01:00", True),  # the day before the 18th birthday: 17
        ("2026-05-04T10:00:00+01:00", False),  # the 18th birthday: 18
    ],
)
def test_an_override_to_care_leavers_waits_for_the_18th_birthday(
    journeys: Journeys, occurred_at: str, refused: bool
) -> None:
    """Born 4 May 2008: 17 on 3 May 2026, 18 on 4 May 2026; care leavers serves 18-25."""
    moved = event(
        occurred_at=occurred_at,
        service="child_protection_plan",
        date_of_birth="2008-05-04",
        decided_by="team manager",
        override={"to": "care_leavers", "reason": "synthetic reason for the test"},
    )
    if refused:
        with pytest.raises(MoveRefused, match="care_leavers serves ages 18-25"):
            journeys.decide(moved)
    else:
        assert journeys.decide(moved).to_service == "care_leavers"


def test_an_unknown_service_is_refused_with_the_valid_nodes(journeys: Journeys) -> None:
    with pytest.raises(ReferralInvalid) as caught:
        journeys.decide(event(service="tea_club"))
    (problem,) = caught.value.problems
    assert problem.location == "service"
    assert "child_protection_plan" in problem.valid


def test_a_step_rule_that_is_not_an_edge_is_refused_at_start(
    edited_rules: Callable[..., Path],
) -> None:
    rules = edited_rules(
        (
            "steps.yaml",
            "then: {step: step_down, to: universal_services}\n\n  - id: close_intensive",
            "then: {step: step_down, to: child_in_need_plan}\n\n  - id: close_intensive",
        )
    )
    with pytest.raises(RulebookInvalid, match="not an edge") as caught:
        Journeys(load_rulebook(rules), engine="reference")
    assert caught.value.problems[0].rule_id == "close_team_around_the_family_outcomes_achieved"


def test_a_step_rule_cannot_read_the_referral(edited_rules: Callable[..., Path]) -> None:
    rules = edited_rules(
        ("steps.yaml", "        - findings: no_further_action", "        - concerns: {level: 4}")
    )
    with pytest.raises(RulebookInvalid, match="cannot read a referral"):
        load_rulebook(rules)


@given(data=journey_events())
def test_durable_and_reference_decide_every_event_alike(data: dict[str, Any]) -> None:
    durable, reference = JOURNEYS["durable"], JOURNEYS["reference"]
    ours, theirs = durable.decide(data), reference.decide(data)
    assert ours.model_dump(exclude={"transition_id"}) == theirs.model_dump(
        exclude={"transition_id"}
    )


@given(data=journey_events())
def test_every_move_the_step_rules_make_is_an_edge_of_its_kind(data: dict[str, Any]) -> None:
    journeys = JOURNEYS["reference"]
    decision = journeys.decide(data)
    if decision.kind != "stay":
        edge = journeys.pathway.edge(decision.from_service, decision.to_service)
        assert edge is not None
        assert edge.kind == EDGE_KIND[decision.kind]


@given(data=journey_events(override=True))
def test_no_journey_ever_crosses_a_forbidden_edge(data: dict[str, Any]) -> None:
    journeys = JOURNEYS["reference"]
    try:
        decision: TransitionDecision = journeys.decide(data)
    except MoveRefused as refused:
        forbidden = journeys.pathway.forbidden_edge(refused.source, refused.target)
        assert forbidden is not None or not serves_the_child(journeys, data, refused.target)
    else:
        assert journeys.pathway.forbidden_edge(decision.from_service, decision.to_service) is None


def serves_the_child(journeys: Journeys, data: dict[str, Any], node: str) -> bool:
    """Whether the node's age range holds the child's age in whole years on the event date."""
    born = date.fromisoformat(data["date_of_birth"])
    on = date.fromisoformat(data["occurred_at"][:10])
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    ages = journeys.pathway.node(node).age_range
    return ages.min_years <= age and (ages.max_years is None or age <= ages.max_years)


@given(data=journey_events(override=True))
def test_no_override_moves_a_child_to_a_node_that_does_not_serve_its_age(
    data: dict[str, Any],
) -> None:
    """Whatever the override, the child lands only where its age is served, or the move is
    refused."""
    journeys = JOURNEYS["reference"]
    try:
        decision = journeys.decide(data)
    except MoveRefused:
        return
    assert serves_the_child(journeys, data, decision.to_service)


@pytest.mark.parametrize(
    "start",
    [
        "child_protection_plan",
        "child_in_need_plan",
        "team_around_the_family",
        "intensive_early_help",
    ],
)
def test_repeated_good_reviews_step_down_to_universal_services(start: str) -> None:
    """Concerns reduced, outcomes achieved, consent given, again and again: the case steps down
    until it reaches universal services, in at most four moves."""
    journeys = JOURNEYS["durable"]
    here = start
    for _ in range(4):
        decision = journeys.decide(
            event(
                event="plan_ended" if "plan" in here else "review",
                service=here,
                findings=["concerns_reduced", "outcomes_achieved"],
                consent="given",
            )
        )
        if decision.kind == "stay":
            break
        assert decision.kind == "step_down"
        here = decision.to_service
    assert here == "universal_services"


def test_each_move_is_logged_as_an_event_without_personal_data(journeys: Journeys) -> None:
    with capture_logs() as events:
        journeys.decide(
            event(
                event="plan_ended",
                service="child_protection_plan",
                findings=["concerns_reduced"],
                child_id="C-PRIVATE-5",
            )
        )
    (logged,) = [e for e in events if e["event"] == "case_stepped_down"]
    assert logged["to_service"] == "intensive_early_help"
    assert "C-PRIVATE-5" not in repr(events)


JOURNEYS = {engine: Journeys(load_rulebook(), engine=engine) for engine in ("durable", "reference")}
