"""A rulebook: the indicator vocabulary, routes, services, timescales and rules of one council.

Rules come in three kinds, told apart by their outcome (`then`):

- **level rules** (`then: {level: N}`): hit policy *max*; the decided level is the highest
  level among the level rules that hold;
- **route rules** (`then: {route: R, urgency: U}`): hit policy *priority*; of the route rules
  that hold, the one with the highest `priority` decides (priorities are unique);
- **flag rules** (`then: {flag: F}`): every flag rule that holds adds its flag.

`route: current_service` sends the child to the route that serves the service the child is
already open to (see `services`). What each entry cites, and on which dates, is
`triage.citations`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    Tag,
    model_serializer,
)

from triage._base import LEVEL_NAMES, IsoDate, Level, Model
from triage.canonical import fingerprint

# The `as` imports keep the citations importable from here, as before they had a module.
from triage.citations import LOCAL_CHOICE as LOCAL_CHOICE
from triage.citations import Cited, in_force
from triage.citations import DatedReference as DatedReference
from triage.citations import Reference as Reference
from triage.citations import cite as cite
from triage.citations import edition_gaps as edition_gaps
from triage.conditions import (
    JOURNEY_ONLY,
    REFERRAL_ONLY,
    ConcernFilter,
    Condition,
    Domain,
    OpenInvolvementIs,
    concern_filters,
    kinds_used,
    reads_decided_level,
    walk,
)
from triage.council import LevelNumber, ReportSection, SimulationSection, section_problems
from triage.decision import RulebookRef

if TYPE_CHECKING:
    from triage.prepared import PreparedRulebook

SnakeId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=80)]
CURRENT_SERVICE = "current_service"
MANUAL_REVIEW = "manual_review"


def concern_words(indicator: Indicator) -> str:
    """An indicator as a reason names it: its label in lower case, with the local choice of
    its level where this rulebook made one."""
    words = indicator.label.lower()
    if indicator.local_choice is None:
        return words
    return f"{words} ({LOCAL_CHOICE}: {indicator.local_choice})"


class Indicator(Cited):
    id: SnakeId
    label: str = Field(min_length=1)
    domain: Domain
    level: Level
    census_factors: tuple[str, ...] = ()


class Route(Model):
    id: SnakeId
    label: str = Field(min_length=1)
    description: str = ""


class Service(Model):
    """A service a child can already be open to when a referral arrives."""

    id: SnakeId
    label: str = Field(min_length=1)
    level: Level
    route: SnakeId = Field(description="The route that serves a new referral on an open case.")


class OverrideReason(Model):
    """A coded reason a Front Door manager may give for overriding a recommendation."""

    id: SnakeId
    label: str = Field(min_length=1)
    local_choice: str | None = Field(
        default=None,
        min_length=1,
        description="Set when this rulebook, not the guidance, chose the reason: why.",
    )


class Timescale(Cited):
    """How soon a route must be acted on, in working days, in force from a date."""

    urgency: SnakeId
    label: str = Field(min_length=1)
    working_days: int = Field(ge=0, le=366)
    effective_from: IsoDate
    effective_to: IsoDate | None = None

    def in_force(self, on: date) -> bool:
        return in_force(self.effective_from, self.effective_to, on)


class LevelOutcome(Model):
    level: Level


class RouteOutcome(Model):
    route: SnakeId
    urgency: SnakeId


class FlagOutcome(Model):
    flag: SnakeId


class TransitionKind(StrEnum):
    STEP_UP = "step_up"
    STEP_DOWN = "step_down"
    TRANSITION = "transition"
    CLOSE = "close"
    REDESIGN = "redesign"  # to a retired service's successor, at the same level


class StepOutcome(Model):
    """A move along the pathway from the event's service: step rules only."""

    step: TransitionKind
    to: SnakeId = Field(description="A node of the pathway graph.")
    closure_reason: str | None = Field(
        default=None,
        description="DfE census reason for closure, e.g. RC9 (referred to early help).",
    )


def _outcome_kind(value: object) -> str | None:
    if isinstance(value, Model):
        return next(iter(type(value).model_fields))
    if isinstance(value, dict):
        for key in ("level", "route", "flag", "step"):
            if key in value:
                return key
    return None


Outcome = Annotated[
    Annotated[LevelOutcome, Tag("level")]
    | Annotated[RouteOutcome, Tag("route")]
    | Annotated[FlagOutcome, Tag("flag")]
    | Annotated[StepOutcome, Tag("step")],
    Discriminator(
        _outcome_kind,
        custom_error_type="outcome_kind",
        custom_error_message=(
            "an outcome is {level: N}, {route: R, urgency: U}, {flag: F} or {step: S, to: NODE}"
        ),
    ),
]
RuleKind = Literal["level", "route", "flag", "step"]


class Rule(Cited):
    id: SnakeId
    title: str = Field(
        min_length=1, description="One plain-English sentence: why this rule decides."
    )
    effective_from: IsoDate
    effective_to: IsoDate | None = Field(default=None, description="Last day in force (inclusive).")
    priority: int = Field(
        default=0, description="Route rules: the highest priority that holds wins."
    )
    when: Condition
    then: Outcome

    @property
    def kind(self) -> RuleKind:
        if isinstance(self.then, LevelOutcome):
            return "level"
        if isinstance(self.then, RouteOutcome):
            return "route"
        if isinstance(self.then, StepOutcome):
            return "step"
        return "flag"

    def in_force(self, on: date) -> bool:
        return in_force(self.effective_from, self.effective_to, on)


class RulebookInfo(Model):
    id: SnakeId
    version: str = Field(min_length=1)
    title: str = Field(min_length=1)
    reference: str = Field(min_length=1)
    manual_review_urgency: SnakeId = Field(
        description="The urgency of a referral the rules cannot decide."
    )
    levels: dict[LevelNumber, Annotated[str, StringConstraints(min_length=1)]] | None = Field(
        default=None,
        description="The council's levels of need, numbered from 1 (the lowest) without gaps, "
        "each with its name, e.g. {1: Community, 2: Targeted, 3: Statutory}. Absent: the four "
        "levels of the form, named Universal, Additional, Intensive and Specialist.",
    )

    @model_serializer(mode="wrap")
    def _without_unset_levels(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A rulebook that names no levels dumps as it did before the field existed, so it keeps
        # its fingerprint (and old decision logs replay).
        data = handler(self)
        if isinstance(data, dict) and data.get("levels") is None:
            data.pop("levels", None)
        return data


class Rulebook(Model):
    """A whole rulebook, validated. Build one with `triage.load_rulebook`."""

    rulebook: RulebookInfo
    indicators: tuple[Indicator, ...] = Field(min_length=1)
    routes: tuple[Route, ...] = Field(min_length=1)
    services: tuple[Service, ...] = ()
    timescales: tuple[Timescale, ...] = Field(min_length=1)
    rules: tuple[Rule, ...] = Field(min_length=1)
    # Council data no rule reads (triage/council.py): the report's and the simulator's.
    report: ReportSection | None = None
    simulation: SimulationSection | None = None
    override_reasons: tuple[OverrideReason, ...] = Field(
        default=(), description="The coded reasons for overriding a recommendation (optional)."
    )

    @property
    def id(self) -> str:
        return self.rulebook.id

    @property
    def version(self) -> str:
        return self.rulebook.version

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON of the whole validated rulebook."""
        # A section left out is left out of the dump: a rulebook without the council data
        # or the override reasons keeps the fingerprint it had before the sections existed
        # (and its logs replay).
        absent = {name for name in ("report", "simulation") if getattr(self, name) is None}
        if not self.override_reasons:
            absent.add("override_reasons")
        return fingerprint(self.model_dump(mode="json", exclude=absent))

    @cached_property
    def ref(self) -> RulebookRef:
        """What a decision records of the rulebook that made it."""
        return RulebookRef(id=self.id, version=self.version, fingerprint=self.fingerprint)

    @cached_property
    def prepared(self) -> PreparedRulebook:
        """Everything derived from this rulebook that evaluation needs, worked out once."""
        from triage.prepared import PreparedRulebook  # it reads this module's models

        return PreparedRulebook(self)

    def __getstate__(self) -> dict[Any, Any]:
        # The prepared form holds functions (compiled tests, a cache): a pickled rulebook leaves
        # it behind, and the unpickled one prepares itself again when asked.
        state = super().__getstate__()
        state["__dict__"] = {k: v for k, v in state["__dict__"].items() if k != "prepared"}
        return state

    @cached_property
    def level_names(self) -> dict[int, str]:
        """The rulebook's levels of need, lowest first, each with its name (`rulebook.levels`;
        the four levels of the form when it names none)."""
        named = self.rulebook.levels
        return dict(sorted((named or LEVEL_NAMES).items()))

    @property
    def highest_level(self) -> int:
        """The highest level of need of this rulebook (4 when it names no levels)."""
        return max(self.level_names)

    @cached_property
    def indicator_by_id(self) -> dict[str, Indicator]:
        return {indicator.id: indicator for indicator in self.indicators}

    @cached_property
    def service_by_id(self) -> dict[str, Service]:
        return {service.id: service for service in self.services}

    @cached_property
    def rule_by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    @cached_property
    def route_ids(self) -> frozenset[str]:
        return frozenset(route.id for route in self.routes) | {MANUAL_REVIEW}

    def rules_of(self, kind: RuleKind) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.kind == kind)

    def timescale(self, urgency: str, on: date) -> Timescale | None:
        """The timescale for an urgency in force on a date, if any."""
        for timescale in self.timescales:
            if timescale.urgency == urgency and timescale.in_force(on):
                return timescale
        return None

    def problems(self) -> list[tuple[tuple[str | int, ...], str, str | None, tuple[str, ...]]]:
        """Cross-reference problems: (field path, message, offending code, valid values)."""
        found: list[tuple[tuple[str | int, ...], str, str | None, tuple[str, ...]]] = []

        for name, ids in (
            ("indicators", [item.id for item in self.indicators]),
            ("routes", [item.id for item in self.routes]),
            ("services", [item.id for item in self.services]),
            ("rules", [item.id for item in self.rules]),
            ("override_reasons", [item.id for item in self.override_reasons]),
        ):
            earlier: set[str] = set()  # a set: a scan of the list before each id was quadratic
            for index, item_id in enumerate(ids):
                if item_id in earlier:
                    found.append(((name, index, "id"), "repeats an earlier id", item_id, ()))
                earlier.add(item_id)
        route_ids = tuple(sorted(route.id for route in self.routes))
        if MANUAL_REVIEW not in route_ids:
            found.append(
                (("routes",), f"must declare the fail-safe route {MANUAL_REVIEW}", None, ())
            )
        indicator_ids = tuple(sorted(self.indicator_by_id))
        service_ids = tuple(sorted(self.service_by_id))
        urgencies = tuple(sorted({t.urgency for t in self.timescales}))
        if self.rulebook.manual_review_urgency not in urgencies:
            found.append(
                (
                    ("rulebook", "manual_review_urgency"),
                    "has no timescale",
                    self.rulebook.manual_review_urgency,
                    urgencies,
                )
            )
        for index, service in enumerate(self.services):
            if service.route not in route_ids:
                found.append(
                    (
                        ("services", index, "route"),
                        "is not a declared route",
                        service.route,
                        route_ids,
                    )
                )
        cited: tuple[tuple[str, tuple[Indicator, ...] | tuple[Rule | Timescale, ...]], ...] = (
            ("indicators", self.indicators),
            ("timescales", self.timescales),
            ("rules", self.rules),
        )
        for name, items in cited:
            for index, item in enumerate(items):
                if isinstance(item.reference, str):
                    continue
                window = (
                    (None, None)
                    if isinstance(item, Indicator)
                    else (item.effective_from, item.effective_to)
                )
                for why in edition_gaps(item.reference, *window):
                    found.append(((name, index, "reference"), why, None, ()))
        priorities: dict[int, str] = {}
        step_priorities: dict[int, str] = {}
        for index, rule in enumerate(self.rules):
            at: tuple[str | int, ...] = ("rules", index)
            if rule.effective_to is not None and rule.effective_to < rule.effective_from:
                found.append(((*at, "effective_to"), "is before effective_from", None, ()))
            then = rule.then
            if isinstance(then, LevelOutcome) and reads_decided_level(rule.when):
                found.append(
                    (
                        (*at, "when"),
                        "a level rule cannot read the decided level (level, step_up)",
                        None,
                        (),
                    )
                )
            if isinstance(then, RouteOutcome):
                if then.route not in route_ids and then.route != CURRENT_SERVICE:
                    found.append(
                        (
                            (*at, "then", "route"),
                            "is not a declared route",
                            then.route,
                            (*route_ids, CURRENT_SERVICE),
                        )
                    )
                if then.urgency not in urgencies:
                    found.append(
                        ((*at, "then", "urgency"), "has no timescale", then.urgency, urgencies)
                    )
                if rule.priority in priorities:
                    found.append(
                        (
                            (*at, "priority"),
                            f"repeats the priority of route rule {priorities[rule.priority]}; "
                            "route priorities must be unique",
                            None,
                            (),
                        )
                    )
                priorities.setdefault(rule.priority, rule.id)
            used = kinds_used(rule.when)
            wrong = used & (REFERRAL_ONLY if rule.kind == "step" else JOURNEY_ONLY)
            if wrong:
                reads = "a referral" if rule.kind == "step" else "a journey event"
                found.append(
                    (
                        (*at, "when"),
                        f"a {rule.kind} rule cannot read {reads}: {', '.join(sorted(wrong))}",
                        None,
                        (),
                    )
                )
            if rule.kind == "step":
                if rule.priority in step_priorities:
                    found.append(
                        (
                            (*at, "priority"),
                            f"repeats the priority of step rule {step_priorities[rule.priority]}; "
                            "step priorities must be unique",
                            None,
                            (),
                        )
                    )
                step_priorities.setdefault(rule.priority, rule.id)
            for node in walk(rule.when):
                if isinstance(node, OpenInvolvementIs):
                    for named in node.open_involvement.service or ():
                        if named not in service_ids:
                            found.append(
                                ((*at, "when"), "names an unknown service", named, service_ids)
                            )
            for concern_filter in concern_filters(rule.when):
                for indicator in concern_filter.indicator or ():
                    if indicator not in self.indicator_by_id:
                        found.append(
                            ((*at, "when"), "names an unknown indicator", indicator, indicator_ids)
                        )
        found.extend(section_problems(self))
        return found

    def matching_indicators(self, concern_filter: ConcernFilter) -> tuple[str, ...]:
        """The vocabulary's indicator ids that a filter's indicator, level and domain admit."""
        return tuple(
            indicator.id
            for indicator in self.indicators
            if (concern_filter.indicator is None or indicator.id in concern_filter.indicator)
            and (concern_filter.level is None or indicator.level in concern_filter.level)
            and (concern_filter.domain is None or indicator.domain in concern_filter.domain)
        )
