"""The condition language of rules: small, declarative, never `eval`.

A condition is a mapping with exactly one key, which names its kind:

```yaml
when:
  all:
    - concerns: {level: 2, min: 3}          # at least 3 distinct level-2 indicators reported
    - domains: {level: 2, min: 2}           # ... spanning at least 2 Assessment Framework domains
    - consent: [given, not_sought]
    - age: {min_years: 16, max_years: 17}   # a born child aged 16 or 17 at receipt
```

A concern filter (`indicator`, `level`, `domain`, `about`, each a value or a list) selects
concerns: keys are combined with *and*, the values of one key with *or*. `concerns` counts the
distinct indicators selected (the same indicator about two carers counts once); `domains` counts
the distinct domains among them. "No concern of a kind" is `{..., max: 0}`.

`level` and `open_involvement.step_up` read the decided level, so only route and flag rules may
use them. This module only defines the shapes; `evaluator.py` gives them their meaning in pure
Python and `_durable.py` compiles them for the engine.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from triage._base import Level, Model
from triage.referral import About, ChildFlag, Consent


class EventKind(StrEnum):
    """What happened on an open case (a journey event)."""

    NEW_REFERRAL = "new_referral"
    REVIEW = "review"
    PLAN_ENDED = "plan_ended"
    BIRTHDAY = "birthday"
    CLOSURE = "closure"
    # The day a revision goes live: a child open to a retired service moves to its successor.
    SERVICE_REDESIGN = "service_redesign"


class ReviewFinding(StrEnum):
    """What a review (or the end of a plan) found."""

    OUTCOMES_ACHIEVED = "outcomes_achieved"
    CONCERNS_REDUCED = "concerns_reduced"
    CONCERNS_UNCHANGED = "concerns_unchanged"
    CONCERNS_ESCALATED = "concerns_escalated"
    NO_FURTHER_ACTION = "no_further_action"


class Domain(StrEnum):
    """The three domains of the Assessment Framework."""

    CHILD_DEVELOPMENT = "child_development"
    PARENTING_CAPACITY = "parenting_capacity"
    FAMILY_AND_ENVIRONMENT = "family_and_environment"


def _as_tuple(value: Any) -> Any:
    if value is None or isinstance(value, list | tuple):
        return value
    return (value,)


OneOrMoreIds = Annotated[tuple[str, ...] | None, BeforeValidator(_as_tuple)]
OneOrMoreLevels = Annotated[tuple[Level, ...] | None, BeforeValidator(_as_tuple)]
OneOrMoreDomains = Annotated[tuple[Domain, ...] | None, BeforeValidator(_as_tuple)]
OneOrMoreAbout = Annotated[tuple[About, ...] | None, BeforeValidator(_as_tuple)]


class ConcernFilter(Model):
    """Selects concerns. Unset keys select everything; set keys are combined with *and*."""

    indicator: OneOrMoreIds = None
    level: OneOrMoreLevels = None
    domain: OneOrMoreDomains = None
    about: OneOrMoreAbout = None

    def key(self) -> tuple[tuple[str, ...], ...]:
        """A canonical identity: equal filters share one compiled feature."""
        return tuple(
            tuple(sorted(str(v) for v in values)) if values is not None else ("*",)
            for values in (self.indicator, self.level, self.domain, self.about)
        )


class _Bounds(Model):
    min: int = Field(default=1, ge=0)
    max: int | None = Field(default=None, ge=0)


class ConcernCount(ConcernFilter, _Bounds):
    """Between `min` (default 1) and `max` distinct indicators selected by the filter."""


class DomainCount(ConcernFilter, _Bounds):
    """Between `min` and `max` distinct domains among the concerns selected by the filter."""


class AgeBounds(Model):
    """Age in whole years at receipt, inclusive. An unborn child never matches an age bound."""

    min_years: int | None = Field(default=None, ge=0, le=25)
    max_years: int | None = Field(default=None, ge=0, le=25)


class OpenInvolvementTest(Model):
    """Tests the service the child is open to. `open: false` means open to no service."""

    open: bool = True
    service: OneOrMoreIds = None
    level: OneOrMoreLevels = None
    step_up: bool | None = Field(
        default=None, description="The decided level is above the open service's level."
    )

    @model_validator(mode="after")
    def _closed_has_no_details(self) -> OpenInvolvementTest:
        if not self.open and (self.service or self.level or self.step_up is not None):
            raise ValueError("open: false takes no service, level or step_up")
        return self


class CountBounds(_Bounds):
    pass


class All(Model):
    all: tuple[Condition, ...] = Field(min_length=1)


class Any_(Model):
    any: tuple[Condition, ...] = Field(min_length=1)


class Concerns(Model):
    concerns: ConcernCount


class Domains(Model):
    domains: DomainCount


class Age(Model):
    age: AgeBounds


class Unborn(Model):
    unborn: bool = Field(strict=True)


class ConsentIs(Model):
    consent: Annotated[tuple[Consent, ...], BeforeValidator(_as_tuple)] = Field(min_length=1)


class ImmediateDanger(Model):
    immediate_danger: bool = Field(strict=True)


class OpenInvolvementIs(Model):
    open_involvement: OpenInvolvementTest


class ReferralsLast12Months(Model):
    referrals_last_12_months: CountBounds


class ChildFlags(Model):
    """The child has at least one of these flags."""

    child_flags: Annotated[tuple[ChildFlag, ...], BeforeValidator(_as_tuple)] = Field(min_length=1)


class LevelIs(Model):
    """The decided level is one of these (route and flag rules only)."""

    level: Annotated[tuple[Level, ...], BeforeValidator(_as_tuple)] = Field(min_length=1)


class EventIs(Model):
    """The journey event is one of these kinds (step rules only)."""

    event: Annotated[tuple[EventKind, ...], BeforeValidator(_as_tuple)] = Field(min_length=1)


class ServiceIs(Model):
    """The service the journey event is about is one of these (step rules only)."""

    service: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = Field(min_length=1)


class FindingsInclude(Model):
    """The review found at least one of these (step rules only)."""

    findings: Annotated[tuple[ReviewFinding, ...], BeforeValidator(_as_tuple)] = Field(min_length=1)


CONDITION_KINDS: dict[str, type[Model]] = {
    "all": All,
    "any": Any_,
    "concerns": Concerns,
    "domains": Domains,
    "age": Age,
    "unborn": Unborn,
    "consent": ConsentIs,
    "immediate_danger": ImmediateDanger,
    "open_involvement": OpenInvolvementIs,
    "referrals_last_12_months": ReferralsLast12Months,
    "child_flags": ChildFlags,
    "level": LevelIs,
    "event": EventIs,
    "service": ServiceIs,
    "findings": FindingsInclude,
}
# What each kind of rule may read: referral rules read the referral, step rules the event.
JOURNEY_ONLY = frozenset({"event", "service", "findings"})
REFERRAL_ONLY = frozenset(
    {"concerns", "domains", "immediate_danger", "open_involvement", "referrals_last_12_months"}
)


def _kind_of(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if key in CONDITION_KINDS else None
    if isinstance(value, Model):
        return next(iter(type(value).model_fields))
    return None


Condition = Annotated[
    Annotated[All, Tag("all")]
    | Annotated[Any_, Tag("any")]
    | Annotated[Concerns, Tag("concerns")]
    | Annotated[Domains, Tag("domains")]
    | Annotated[Age, Tag("age")]
    | Annotated[Unborn, Tag("unborn")]
    | Annotated[ConsentIs, Tag("consent")]
    | Annotated[ImmediateDanger, Tag("immediate_danger")]
    | Annotated[OpenInvolvementIs, Tag("open_involvement")]
    | Annotated[ReferralsLast12Months, Tag("referrals_last_12_months")]
    | Annotated[ChildFlags, Tag("child_flags")]
    | Annotated[LevelIs, Tag("level")]
    | Annotated[EventIs, Tag("event")]
    | Annotated[ServiceIs, Tag("service")]
    | Annotated[FindingsInclude, Tag("findings")],
    Discriminator(
        _kind_of,
        custom_error_type="condition_kind",
        custom_error_message=(
            "a condition is a mapping with exactly one key, one of: " + ", ".join(CONDITION_KINDS)
        ),
    ),
]

All.model_rebuild()
Any_.model_rebuild()


def walk(condition: Condition) -> list[Condition]:
    """Every condition in the tree, depth first, the root included."""
    found: list[Condition] = [condition]
    children = (
        condition.all
        if isinstance(condition, All)
        else condition.any
        if isinstance(condition, Any_)
        else ()
    )
    for child in children:
        found.extend(walk(child))
    return found


def concern_filters(condition: Condition) -> list[ConcernFilter]:
    """The concern filters a condition tree uses, in order of appearance."""
    found: list[ConcernFilter] = []
    for node in walk(condition):
        if isinstance(node, Concerns):
            found.append(node.concerns)
        elif isinstance(node, Domains):
            found.append(node.domains)
    return found


def reads_decided_level(condition: Condition) -> bool:
    """True when the condition needs the decided level (so cannot decide the level itself)."""
    for node in walk(condition):
        if isinstance(node, LevelIs):
            return True
        if isinstance(node, OpenInvolvementIs) and node.open_involvement.step_up is not None:
            return True
    return False


def kinds_used(condition: Condition) -> frozenset[str]:
    """The condition kinds a tree uses (its mapping keys), `all` and `any` included."""
    return frozenset(next(iter(type(node).model_fields)) for node in walk(condition))
