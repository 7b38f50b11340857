"""Council data that no rule reads: what the KPI report says and groups, and how the simulator
draws a council's population. Two optional top-level sections of a rulebook directory
(`report:` in `rules/<id>/report.yaml`, `simulation:` in `rules/<id>/simulation.yaml`).

They live beside the rules so that a second council brings its own, and the report and the
simulator hold no council's ids, labels or figures. The checks of a rulebook's levels of need
(`rulebook.levels`: which levels it counts, with their names) are here too: every level the
rulebook and its sections use must be one of them. Being part of the rulebook, they enter its
fingerprint and its snapshot in the decision log: a report reads the section of the rulebook
that wrote the log. A rulebook without them keeps the fingerprint it had before they existed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)

from triage._base import Model
from triage.conditions import LevelIs, OpenInvolvementIs, concern_filters, walk

if TYPE_CHECKING:
    from triage.rulebook import Rulebook

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=80)]
Text = Annotated[str, StringConstraints(min_length=1)]
Share = Annotated[float, Field(ge=0, le=1)]
# The range of the form (`triage._base.Level`); a rulebook counts the levels it names (`levels`).
LevelNumber = Annotated[int, Field(ge=1, le=4)]
# An age in whole years at receipt; -1 is a child not yet born.
Age = Annotated[int, Field(ge=-1, le=17)]

# -- report: ------------------------------------------------------------------------------------


class FigureText(Model):
    """What a figure is called and says: the words beside every number in every output."""

    title: Text
    caption: Text = Field(description="Follows the headline number, e.g. 'of decisions ...'.")
    definition: Text = Field(description="How it is counted, in full.")
    source: Text = Field(description="Where the council's plans ask for it; benchmarks here.")


class StartsFigure(FigureText):
    service: Id = Field(description="The route and pathway node whose starts are counted.")


class StepDownFigure(FigureText):
    social_care: tuple[Id, ...] = Field(min_length=1, description="Nodes a closure leaves.")
    early_help: tuple[Id, ...] = Field(min_length=1, description="Step-downs counted.")
    universal: tuple[Id, ...] = Field(min_length=1, description="Step-downs to universal.")


class DurationFigure(FigureText):
    service: Id = Field(description="The team around the family node.")


class FlagFigure(FigureText):
    flag: Id = Field(description="The flag rule's flag that marks a re-referral.")


class FunnelFigure(FigureText):
    assessment: tuple[Id, ...] = Field(min_length=1, description="Routes that are assessments.")
    plans: tuple[Id, ...] = Field(min_length=1, description="Pathway nodes that are plans.")


class ReportFigures(Model):
    referrals_by_agency: FigureText
    decisions_by_level: FigureText
    decisions_by_route: FigureText
    starts: tuple[StartsFigure, ...] = ()
    closures_stepped_down_to_early_help: StepDownFigure
    tafs_open_12_months_or_less: DurationFigure
    re_referrals_within_12_months: FlagFigure
    decided_within_1_working_day: FigureText
    contact_assessment_plan_funnel: FunnelFigure


class CannotShow(Model):
    what: Text
    why: Text


class PlanningSection(Model):
    """What the planning what-if (`triage replay LOG --against REVISION`, docs/planning.md)
    counts of a rulebook's routes and flags: its council's words, never an id in the code."""

    section_47: tuple[Id, ...] = Field(
        default=(),
        description="Routes of this rulebook that are section 47 work (Children Act 1989 s47: "
        "a strategy discussion and enquiry, or immediate protection that one follows).",
    )
    earlier_section_47: tuple[Id, ...] = Field(
        default=(),
        description="Routes of the rulebook this one revises that were section 47 work: the "
        "share before, for a log whose own rulebook marks none (not checked against this one).",
    )
    offers: tuple[Id, ...] = Field(
        default=(),
        description="Flags of flag rules that record an offer made to the family (e.g. family "
        "group decision making): each counted per decision.",
    )
    flags: tuple[Id, ...] = Field(
        default=(),
        description="Other flags of flag rules counted per decision, before and after (e.g. the "
        "decisions within a merged route that need a social worker's assessment).",
    )
    teams: dict[Id, tuple[Id, ...]] = Field(
        default_factory=dict,
        description="Team id -> the routes it takes: children per team per month (a route in "
        "no team is counted as a team of its own).",
    )


class ReportSection(Model):
    """The report's council data (`report:`)."""

    title: Text = "Front Door KPI report"
    levels: dict[LevelNumber, Text] = Field(
        default_factory=dict, description="The label of each level, e.g. 'Level 1 Universal'."
    )
    route_levels: dict[Id, LevelNumber] = Field(
        default_factory=dict, description="The level each route serves: the colour of its bar."
    )
    figures: ReportFigures
    cannot_show: tuple[CannotShow, ...] = ()
    planning: PlanningSection | None = None

    @model_serializer(mode="wrap")
    def _without_unset_planning(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A report section without planning data dumps as it did before the field existed, so
        # its rulebook keeps its fingerprint (and its decisions their bytes).
        data = handler(self)
        if isinstance(data, dict) and data.get("planning") is None:
            data.pop("planning", None)
        return data


# -- simulation: --------------------------------------------------------------------------------


class ReviewFollowUp(Model):
    """A review of the service after some months: outcomes achieved, escalated or unchanged."""

    kind: Literal["review"]
    months: tuple[int, int] = Field(description="Drawn uniformly, both inclusive.")
    outcomes_achieved: Share
    escalated: Share


class AssessmentFollowUp(Model):
    """An assessment that ends in no further action, within twice the median length."""

    kind: Literal["assessment_ends"]
    no_further_action: Share
    median_working_days: int = Field(ge=5)


class PlanFollowUp(Model):
    """A plan that starts some working days after the route and ends months later."""

    kind: Literal["plan_ends"]
    plan: Id = Field(description="The pathway node of the plan.")
    starts_after_working_days: int = Field(ge=0)
    months: tuple[int, int]
    concerns_reduced: Share
    consent_to_early_help: Share


FollowUp = Annotated[ReviewFollowUp | AssessmentFollowUp | PlanFollowUp, Discriminator("kind")]


class SimulationSection(Model):
    """The simulator's council data (`simulation:`)."""

    ages: dict[Id, tuple[Age, Age]] = Field(
        default_factory=dict,
        description="Indicator id -> the ages (inclusive; -1 unborn) at which it is plausible.",
    )
    open_services: dict[Id, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Service id -> weight of a simulated open involvement (0: never).",
    )
    looked_after_services: tuple[Id, ...] = Field(
        default=(), description="Services whose children carry the looked_after flag."
    )
    follow_ups: dict[Id, FollowUp] = Field(
        default_factory=dict, description="Route id -> the journey event that follows it."
    )


Problem = tuple[tuple[str | int, ...], str, str | None, tuple[str, ...]]


def section_problems(rulebook: Rulebook) -> list[Problem]:
    """Cross-references from the sections to the rulebook: (field path, message, code, valid)."""
    return [
        *_level_problems(rulebook),
        *_report_problems(rulebook),
        *_simulation_problems(rulebook),
    ]


def _level_problems(rulebook: Rulebook) -> list[Problem]:
    """Levels numbered from 1 without gaps, and no level used that the rulebook does not count:
    a level-4 indicator in a three-level rulebook would decide a level nothing routes."""
    found: list[Problem] = []
    levels = tuple(rulebook.level_names)
    valid = tuple(str(level) for level in levels)
    if levels != tuple(range(1, len(levels) + 1)):
        found.append(
            (("rulebook", "levels"), "must number the levels 1, 2, 3 ... without gaps", None, ())
        )
    used: list[tuple[tuple[str | int, ...], int]] = []
    used += [(("indicators", i, "level"), item.level) for i, item in enumerate(rulebook.indicators)]
    used += [(("services", i, "level"), item.level) for i, item in enumerate(rulebook.services)]
    for index, rule in enumerate(rulebook.rules):
        decided = getattr(rule.then, "level", None)  # a level rule's outcome
        if isinstance(decided, int):
            used.append((("rules", index, "then", "level"), decided))
        tested = [f.level or () for f in concern_filters(rule.when)]
        for node in walk(rule.when):
            if isinstance(node, LevelIs):
                tested.append(node.level)
            elif isinstance(node, OpenInvolvementIs):
                tested.append(node.open_involvement.level or ())
        used += [(("rules", index, "when"), level) for group in tested for level in group]
    if rulebook.report is not None:
        used += [(("report", "levels"), level) for level in rulebook.report.levels]
        used += [
            (("report", "route_levels", route), level)
            for route, level in rulebook.report.route_levels.items()
        ]
    for at, level in used:
        if level not in levels:
            found.append((at, "is not a level of this rulebook", str(level), valid))
    return found


def _report_problems(rulebook: Rulebook) -> list[Problem]:
    found: list[Problem] = []
    if rulebook.report is None:
        return found
    routes = tuple(sorted(rulebook.route_ids))
    figures = rulebook.report.figures
    named: list[tuple[tuple[str | int, ...], str]] = [
        (("report", "route_levels"), route) for route in rulebook.report.route_levels
    ]
    named += [
        (("report", "figures", "starts", index, "service"), starts.service)
        for index, starts in enumerate(figures.starts)
    ]
    named += [
        (("report", "figures", "contact_assessment_plan_funnel", "assessment"), route)
        for route in figures.contact_assessment_plan_funnel.assessment
    ]
    planning = rulebook.report.planning
    if planning is not None:
        named += [(("report", "planning", "section_47"), route) for route in planning.section_47]
        named += [
            (("report", "planning", "teams", team), route)
            for team, members in planning.teams.items()
            for route in members
        ]
    for at, route in named:
        if route not in rulebook.route_ids:
            found.append((at, "names an unknown route", route, routes))
    flags = tuple(sorted({str(getattr(r.then, "flag", "")) for r in rulebook.rules_of("flag")}))
    flagged: list[tuple[tuple[str | int, ...], str]] = [
        (
            ("report", "figures", "re_referrals_within_12_months", "flag"),
            figures.re_referrals_within_12_months.flag,
        )
    ]
    for name in ("offers", "flags"):
        named_flags: tuple[str, ...] = getattr(planning, name) if planning else ()
        flagged += [(("report", "planning", name), flag) for flag in named_flags]
    for at, flag in flagged:
        if flag not in flags:
            found.append((at, "is not the flag of a flag rule", flag, flags))
    return found


def _simulation_problems(rulebook: Rulebook) -> list[Problem]:
    found: list[Problem] = []
    section = rulebook.simulation
    if section is None:
        return found
    indicators = tuple(sorted(rulebook.indicator_by_id))
    for indicator, (low, high) in section.ages.items():
        if indicator not in rulebook.indicator_by_id:
            found.append(
                (("simulation", "ages"), "names an unknown indicator", indicator, indicators)
            )
        if low > high:
            found.append((("simulation", "ages", indicator), "runs backwards", None, ()))
    services = tuple(sorted(rulebook.service_by_id))
    for name, ids in (
        ("open_services", tuple(section.open_services)),
        ("looked_after_services", section.looked_after_services),
    ):
        for service in ids:
            if service not in rulebook.service_by_id:
                found.append((("simulation", name), "names an unknown service", service, services))
    routes = tuple(sorted(rulebook.route_ids))
    for route, follow_up in section.follow_ups.items():
        at: tuple[str | int, ...] = ("simulation", "follow_ups", route)
        if route not in rulebook.route_ids:
            found.append((("simulation", "follow_ups"), "names an unknown route", route, routes))
        months = getattr(follow_up, "months", (0, 0))
        if not 0 <= months[0] <= months[1]:
            found.append(((*at, "months"), "must be [fewest, most], 0 or more", None, ()))
        if (
            isinstance(follow_up, ReviewFollowUp)
            and follow_up.outcomes_achieved + follow_up.escalated > 1
        ):
            found.append((at, "outcomes_achieved and escalated add up to more than 1", None, ()))
    return found
