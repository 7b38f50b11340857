"""The Front Door's single referral form, and turning JSON into a validated `Referral`.

Kent merged three forms into one in 2018 (inter-agency referral, domestic abuse notification,
early help notification); `notification` records which one the referrer used. Concerns are the
referrer's indicators from the rulebook's vocabulary; each applies to every child of the referral
unless `child_ids` names some of them. Free-text `detail` may be carried, but no rule reads it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Iterable, Mapping
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, ValidationError, field_validator

from triage._base import IsoDate, IsoDateTime, Level, Model
from triage.errors import InputNotJson, Problem, ReferralInvalid

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class CensusSource(StrEnum):
    """DfE Children in Need census referral-source codes."""

    FAMILY = "1A"
    ACQUAINTANCE = "1B"
    SELF = "1C"
    OTHER_INDIVIDUAL = "1D"
    SCHOOLS = "2A"
    EDUCATION_SERVICES = "2B"
    GP = "3A"
    HEALTH_VISITOR = "3B"
    SCHOOL_NURSE = "3C"
    OTHER_PRIMARY_HEALTH = "3D"
    A_AND_E = "3E"
    OTHER_HEALTH = "3F"
    HOUSING = "4"
    LA_SOCIAL_CARE = "5A"
    OTHER_INTERNAL_LA = "5B"
    EXTERNAL_LA = "5C"
    EARLY_HELP = "5D"
    POLICE = "6"
    OTHER_LEGAL_AGENCY = "7"
    OTHER = "8"
    ANONYMOUS = "9"
    UNKNOWN = "10"


SOURCE_ALIASES: Mapping[str, CensusSource] = {
    **{member.name.lower(): member for member in CensusSource},
    "family_member": CensusSource.FAMILY,
    "self_referral": CensusSource.SELF,
    "school": CensusSource.SCHOOLS,
    "emergency_department": CensusSource.A_AND_E,
    "health": CensusSource.OTHER_HEALTH,
}
"""Readable aliases accepted for `source`; each maps to its census code."""


class Notification(StrEnum):
    """Which of the three merged forms the referrer used."""

    INTER_AGENCY_REFERRAL = "inter_agency_referral"
    DOMESTIC_ABUSE_NOTIFICATION = "domestic_abuse_notification"
    EARLY_HELP_NOTIFICATION = "early_help_notification"


class About(StrEnum):
    """Whom a concern is about."""

    CHILD = "child"
    PARENT_CARER = "parent_carer"
    HOUSEHOLD_MEMBER = "household_member"


class Consent(StrEnum):
    """The family's agreement to the request for support."""

    GIVEN = "given"
    REFUSED = "refused"
    NOT_SOUGHT = "not_sought"


class ChildFlag(StrEnum):
    DISABILITY = "disability"
    SEND = "send"
    YOUNG_CARER = "young_carer"
    LOOKED_AFTER = "looked_after"
    CARE_LEAVER = "care_leaver"
    UASC = "uasc"


class OpenInvolvement(Model):
    """A service the child is open to when the referral arrives."""

    service: Identifier = Field(
        description="A service id of the rulebook, e.g. intensive_early_help."
    )
    level: Level | None = Field(
        default=None, description="The service's level; defaults to the rulebook's level for it."
    )
    since: IsoDate | None = None


class Child(Model):
    child_id: Identifier
    date_of_birth: IsoDate | None = Field(
        default=None, description="Give this or, unborn, expected_date_of_birth."
    )
    expected_date_of_birth: IsoDate | None = None
    flags: tuple[ChildFlag, ...] = ()
    open_involvement: OpenInvolvement | None = None
    previous_referrals: tuple[IsoDate, ...] = Field(
        default=(),
        description="Dates of earlier referrals about this child (for re-referral rules).",
    )


class Concern(Model):
    indicator: Identifier = Field(description="An indicator id from the rulebook's vocabulary.")
    about: About
    child_ids: tuple[Identifier, ...] = Field(
        default=(), description="The children this concern is about; empty means every child."
    )


class Referral(Model):
    """One Front Door referral: one form, one or more children, one decision per child."""

    referral_id: Identifier
    received_at: IsoDateTime
    source: CensusSource = Field(
        description="A census referral-source code, or an alias such as police."
    )
    notification: Notification
    children: tuple[Child, ...] = Field(min_length=1)
    concerns: tuple[Concern, ...] = ()
    consent: Consent
    immediate_danger: bool = Field(strict=True)
    detail: str | None = Field(
        default=None, description="Free text. Carried, never read by a rule."
    )

    @field_validator("source", mode="before")
    @classmethod
    def _source_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            return SOURCE_ALIASES.get(value.strip().lower(), value.strip())
        return value

    @property
    def received_on(self) -> date:
        return self.received_at.date()


# Fields whose values are codes from a closed vocabulary: safe to echo in an error message.
_CODE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "source": tuple(m.value for m in CensusSource) + tuple(sorted(SOURCE_ALIASES)),
    "notification": tuple(m.value for m in Notification),
    "about": tuple(m.value for m in About),
    "consent": tuple(m.value for m in Consent),
    "flags": tuple(m.value for m in ChildFlag),
    "immediate_danger": ("true", "false"),
    "level": ("1", "2", "3", "4"),
}


def field_path(loc: Iterable[int | str]) -> str:
    """`('children', 0, 'consent')` -> `children[0].consent`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def parse_problems(error: ValidationError) -> list[Problem]:
    """pydantic's errors as Problems: field path, message, the value only when it is a code."""
    problems = []
    items = error.errors(include_url=False)
    deeper = {tuple(item["loc"][:-1]) for item in items if len(item["loc"]) > 1}
    for item in items:
        loc = tuple(item["loc"])
        if item["type"] == "too_short" and any(
            d[: len(loc)] == loc and len(d) >= len(loc) for d in deeper
        ):
            continue  # a list emptied by its own failed items: the items' errors say it all
        names = [part for part in loc if isinstance(part, str)]
        field = names[-1] if names else ""
        valid = _CODE_FIELDS.get(field, ())
        value = item.get("input")
        shown = (
            value
            if valid and isinstance(value, str | int | bool) and item["type"] != "missing"
            else None
        )
        message = item["msg"].removeprefix("Value error, ")
        if valid:
            # pydantic's enum message lists the values too; ours lists them once, at the end.
            message = "not one of the valid values" if item["type"] == "enum" else message
        problems.append(
            Problem(
                location=field_path(loc),
                message=message,
                value=None if shown is None else str(shown),
                valid=valid,
            )
        )
    return problems


def _structural_problems(referral: Referral) -> list[Problem]:
    problems: list[Problem] = []
    received = referral.received_on
    earliest_expected = received - timedelta(days=31)
    ids = [child.child_id for child in referral.children]
    repeats = len(set(ids)) != len(ids)
    for index, child in enumerate(referral.children):
        born, expected = child.date_of_birth, child.expected_date_of_birth
        if (born is None) == (expected is None):
            problems.append(
                Problem(
                    f"children[{index}]",
                    "give exactly one of date_of_birth or, for an unborn child, "
                    "expected_date_of_birth",
                )
            )
        if born is not None and born > received:
            problems.append(
                Problem(
                    f"children[{index}].date_of_birth",
                    "is after the referral was received; "
                    "use expected_date_of_birth for an unborn child",
                )
            )
        if expected is not None and expected < earliest_expected:
            problems.append(
                Problem(
                    f"children[{index}].expected_date_of_birth",
                    "is more than a month before the referral was received; "
                    "a born child needs date_of_birth",
                )
            )
        for j, earlier in enumerate(child.previous_referrals):
            if earlier > received:
                problems.append(
                    Problem(
                        f"children[{index}].previous_referrals[{j}]",
                        "is after this referral was received",
                    )
                )
        if repeats and ids.count(child.child_id) > 1 and ids.index(child.child_id) != index:
            problems.append(
                Problem(
                    f"children[{index}].child_id", "repeats another child's id in this referral"
                )
            )
    for index, concern in enumerate(referral.concerns):
        for j, child_id in enumerate(concern.child_ids):  # most concerns name no child
            if child_id not in ids:
                problems.append(
                    Problem(f"concerns[{index}].child_ids[{j}]", "names no child of this referral")
                )
    return problems


def _vocabulary_problems_of(
    concern_codes: Iterable[tuple[int, Any]],
    service_codes: Iterable[tuple[int, Any]],
    indicators: Collection[str],
    services: Collection[str],
) -> list[Problem]:
    """Codes outside the rulebook's vocabulary, given as (position, code) pairs."""
    problems: list[Problem] = []
    for index, code in concern_codes:
        if isinstance(code, str) and code not in indicators:
            near = difflib.get_close_matches(code, indicators, n=3)
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            problems.append(
                Problem(
                    f"concerns[{index}].indicator",
                    f"is not an indicator of the rulebook{hint}",
                    value=code,
                    valid=tuple(sorted(indicators)),
                )
            )
    for index, code in service_codes:
        if isinstance(code, str) and code not in services:
            problems.append(
                Problem(
                    f"children[{index}].open_involvement.service",
                    "is not a service of the rulebook",
                    value=code,
                    valid=tuple(sorted(services)),
                )
            )
    return problems


def _model_vocabulary_problems(
    referral: Referral, indicators: Collection[str], services: Collection[str]
) -> list[Problem]:
    """Codes of a valid referral outside the vocabulary, as the model holds them: the values
    the facts read. The quick test comes first: most referrals have none."""
    if all(concern.indicator in indicators for concern in referral.concerns) and all(
        child.open_involvement is None or child.open_involvement.service in services
        for child in referral.children
    ):
        return []
    concern_codes = [(i, concern.indicator) for i, concern in enumerate(referral.concerns)]
    service_codes = [
        (i, child.open_involvement.service)
        for i, child in enumerate(referral.children)
        if child.open_involvement is not None
    ]
    return _vocabulary_problems_of(concern_codes, service_codes, indicators, services)


def _raw_vocabulary_problems(
    data: Mapping[str, Any], indicators: Collection[str], services: Collection[str]
) -> list[Problem]:
    """Codes outside the vocabulary read from raw input that failed validation, so that they
    are reported together with its other problems (nothing of it is routed)."""
    concerns = data.get("concerns")
    concern_codes = []
    for index, concern in enumerate(concerns if isinstance(concerns, list | tuple) else ()):
        code = concern.get("indicator") if isinstance(concern, dict | Mapping) else None
        if isinstance(code, str):
            concern_codes.append((index, code.strip()))
    children = data.get("children")
    service_codes = []
    for index, child in enumerate(children if isinstance(children, list | tuple) else ()):
        involvement = child.get("open_involvement") if isinstance(child, dict | Mapping) else None
        code = involvement.get("service") if isinstance(involvement, dict | Mapping) else None
        if isinstance(code, str):
            service_codes.append((index, code.strip()))
    return _vocabulary_problems_of(concern_codes, service_codes, indicators, services)


def parse_referral(
    data: str | bytes | Mapping[str, Any],
    *,
    indicators: Collection[str] | None = None,
    services: Collection[str] | None = None,
    where: str = "the referral",
) -> Referral:
    """Validate one referral given as JSON text or as a mapping.

    With `indicators` and `services` (a rulebook's ids), codes outside them are problems too.
    Raises `InputNotJson` or `ReferralInvalid` (listing every problem); never a bare pydantic
    error, whose text would carry the input values.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as error:
            raise InputNotJson(where, error.lineno, error.colno, error.msg) from None
    if not isinstance(data, dict | Mapping):
        raise ReferralInvalid([Problem("", "a referral must be a JSON object")], where)
    known_services = services or ()
    try:
        referral = Referral.model_validate(data)
    except ValidationError as error:
        vocabulary = (
            [] if indicators is None else _raw_vocabulary_problems(data, indicators, known_services)
        )
        raise ReferralInvalid([*parse_problems(error), *vocabulary], where) from None
    problems = _structural_problems(referral)
    if indicators is not None:
        problems += _model_vocabulary_problems(referral, indicators, known_services)
    if problems:
        raise ReferralInvalid(problems, where)
    return referral
