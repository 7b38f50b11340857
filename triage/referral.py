"""The Front Door's single referral form, and turning JSON into a validated `Referral`.

Kent merged three forms into one in 2018 (inter-agency referral, domestic abuse notification,
early help notification); `notification` records which one the referrer used. Concerns are the
referrer's indicators from the rulebook's vocabulary; each applies to every child of the referral
unless `child_ids` names some of them. Free-text `detail` may be carried, but no rule reads it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from triage._base import IsoDate, IsoDateTime, Model, StrictLevel
from triage._codes import raw_vocabulary_problems, vocabulary_problems
from triage._input import field_path as field_path  # imported from here by the loaders
from triage._input import load_json, shown_code
from triage.errors import Problem, ReferralInvalid

# Characters an identifier may not hold: controls and format characters (NUL, \x1f, ZWSP,
# RLM, RLO, BOM, ...), surrogates, and line or paragraph separators. Ids made of them look
# empty or the same as another id on every screen, and \x1f is the separator of decision ids.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _visible_id(value: str) -> str:
    if not value.isprintable() and any(unicodedata.category(c) in _INVISIBLE for c in value):
        raise ValueError(
            "holds a control or invisible character (such as NUL, a zero-width space or a "
            "direction mark); send the id as plain text"
        )
    return value


def _no_surrogate(value: str | None) -> str | None:
    if value is not None and not value.isascii() and any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("holds a lone surrogate, which is not a character")
    return value


Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, strip_whitespace=True),
    AfterValidator(_visible_id),
]

OLDEST_AGE = 25
"""The oldest age, in whole years at receipt, of a child or young adult a referral may be about:
the bound the rulebook puts on `age` conditions (care leavers are supported up to 25)."""
FIRST_YEAR, LAST_YEAR = 1900, 9998
"""The years `received_at` may fall in."""
PRE_BIRTH_DAYS = 305
"""About ten months: how far ahead of receipt an expected date of birth may be, and how long
before a birth a pre-birth referral or involvement may have started."""


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
    # History the Front Door reads from its own records, so that it can raise the level rather
    # than only be noted. As in the DfE Children in Need census: the child was the subject of a
    # child protection plan before (the census's count of previous plans is one or more), or was
    # looked after before (in care under the Children Act 1989 s20 or s31, now ended).
    PREVIOUS_CHILD_PROTECTION_PLAN = "previous_child_protection_plan"
    PREVIOUSLY_LOOKED_AFTER = "previously_looked_after"


class OpenInvolvement(Model):
    """A service the child is open to when the referral arrives."""

    service: Identifier = Field(
        description="A service id of the rulebook, e.g. intensive_early_help."
    )
    # Strict: true and 4.0 are not levels (lax validation read them as 1 and 4).
    level: StrictLevel | None = Field(
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
    detail: Annotated[str | None, AfterValidator(_no_surrogate)] = Field(
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
        if item["type"] == "extra_forbidden":
            # The key is named (cut); its value never is: it is whatever was sent, often text.
            problems.append(Problem(field_path(loc), "is not a field of this form"))
            continue
        names = [part for part in loc if isinstance(part, str)]
        field = names[-1] if names else ""
        valid = _CODE_FIELDS.get(field, ())
        shown = shown_code(item.get("input")) if valid and item["type"] != "missing" else None
        message = item["msg"].removeprefix("Value error, ")
        if valid:
            # pydantic's enum message lists the values too; ours lists them once, at the end.
            message = "not one of the valid values" if item["type"] == "enum" else message
        problems.append(
            Problem(location=field_path(loc), message=message, value=shown, valid=valid)
        )
    return problems


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


_NOT_BEFORE_BIRTH = frozenset(
    {
        ChildFlag.CARE_LEAVER,
        ChildFlag.LOOKED_AFTER,
        ChildFlag.UASC,
        # An unborn child can have had a pre-birth child protection plan, never time in care.
        ChildFlag.PREVIOUSLY_LOOKED_AFTER,
    }
)


def _child_problems(index: int, child: Child, received: date) -> list[Problem]:
    problems: list[Problem] = []
    at = f"children[{index}]"
    born, expected = child.date_of_birth, child.expected_date_of_birth
    if (born is None) == (expected is None):
        problems.append(
            Problem(
                at,
                "give exactly one of date_of_birth or, for an unborn child, expected_date_of_birth",
            )
        )
    if born is not None and born > received:
        problems.append(
            Problem(
                f"{at}.date_of_birth",
                "is after the referral was received; "
                "use expected_date_of_birth for an unborn child",
            )
        )
    elif born is not None and _age(born, received) > OLDEST_AGE:
        problems.append(
            Problem(
                f"{at}.date_of_birth",
                f"makes the child older than {OLDEST_AGE} when the referral was received; "
                f"the rulebook's ages end at {OLDEST_AGE}",
            )
        )
    # Differences of dates, never date +- timedelta: that overflows near year 1 and 9999.
    if expected is not None and (received - expected).days > 31:
        problems.append(
            Problem(
                f"{at}.expected_date_of_birth",
                "is more than a month before the referral was received; "
                "a born child needs date_of_birth",
            )
        )
    if expected is not None and (expected - received).days > PRE_BIRTH_DAYS:
        problems.append(
            Problem(
                f"{at}.expected_date_of_birth",
                "is more than about ten months after the referral was received",
            )
        )
    if expected is not None and born is None:
        problems.extend(
            Problem(f"{at}.flags[{j}]", f"{flag.value} cannot apply to an unborn child")
            for j, flag in enumerate(child.flags)
            if flag in _NOT_BEFORE_BIRTH
        )
    for j, earlier in enumerate(child.previous_referrals):
        if earlier > received:
            problems.append(
                Problem(f"{at}.previous_referrals[{j}]", "is after this referral was received")
            )
        elif born is not None and (born - earlier).days > PRE_BIRTH_DAYS:
            problems.append(
                Problem(
                    f"{at}.previous_referrals[{j}]",
                    f"is more than {PRE_BIRTH_DAYS} days before the date of birth",
                )
            )
    since = None if child.open_involvement is None else child.open_involvement.since
    if since is not None and since > received:
        problems.append(
            Problem(f"{at}.open_involvement.since", "is after the referral was received")
        )
    elif since is not None and born is not None and (born - since).days > PRE_BIRTH_DAYS:
        problems.append(
            Problem(
                f"{at}.open_involvement.since",
                f"is more than {PRE_BIRTH_DAYS} days before the date of birth",
            )
        )
    return problems


def _structural_problems(referral: Referral) -> list[Problem]:
    problems: list[Problem] = []
    received = referral.received_on
    if not FIRST_YEAR <= received.year <= LAST_YEAR:
        # Outside these years the 12-month and due-date arithmetic would leave the calendar.
        problems.append(Problem("received_at", f"must be in the years {FIRST_YEAR} to {LAST_YEAR}"))
        return problems
    ids = [child.child_id for child in referral.children]
    repeats = len(set(ids)) != len(ids)
    for index, child in enumerate(referral.children):
        problems += _child_problems(index, child, received)
        if repeats and ids.count(child.child_id) > 1 and ids.index(child.child_id) != index:
            problems.append(
                Problem(
                    f"children[{index}].child_id", "repeats another child's id in this referral"
                )
            )
    for index, concern in enumerate(referral.concerns):
        if not concern.child_ids:  # most concerns name no child
            continue
        for j, child_id in enumerate(concern.child_ids):
            if child_id not in ids:
                problems.append(
                    Problem(f"concerns[{index}].child_ids[{j}]", "names no child of this referral")
                )
    return problems


def _model_vocabulary_problems(
    referral: Referral, indicators: Collection[str], services: Collection[str]
) -> list[Problem]:
    """Codes of a valid referral outside the vocabulary, as the model holds them: the values
    the facts read. The quick test comes first: most referrals have none."""
    for concern in referral.concerns:  # loops, not all() of generators: every referral runs this
        if concern.indicator not in indicators:
            break
    else:
        for child in referral.children:
            involvement = child.open_involvement
            if involvement is not None and involvement.service not in services:
                break
        else:
            return []
    concern_codes = [(i, concern.indicator) for i, concern in enumerate(referral.concerns)]
    service_codes = [
        (i, child.open_involvement.service)
        for i, child in enumerate(referral.children)
        if child.open_involvement is not None
    ]
    return vocabulary_problems(concern_codes, service_codes, indicators, services)


def parse_referral(
    data: str | bytes | Mapping[str, Any],
    *,
    indicators: Collection[str] | None = None,
    services: Collection[str] | None = None,
    levels: Collection[int] | None = None,
    where: str = "the referral",
) -> Referral:
    """Validate one referral given as JSON text or as a mapping.

    With `indicators` and `services` (a rulebook's ids), codes outside them are problems too;
    with `levels` (a rulebook's levels of need), so is an open service's level outside them.
    Text is UTF-8 (bytes or `str`) with no byte order mark; a key repeated in one object is a
    problem. Raises `InputNotJson` or `ReferralInvalid` (listing every problem); never a bare
    pydantic error, whose text would carry the input values, nor a parser's own exception.
    """
    if isinstance(data, str | bytes | bytearray | memoryview):
        data = load_json(bytes(data) if isinstance(data, bytearray | memoryview) else data, where)
    if not isinstance(data, dict | Mapping):
        raise ReferralInvalid([Problem("", "a referral must be a JSON object")], where)
    known_services = services or ()
    try:
        referral = Referral.model_validate(data)
    except RecursionError:  # a mapping from Python nested past the interpreter's limit
        raise ReferralInvalid([Problem("", "nests too deeply")], where) from None
    except ValidationError as error:
        vocabulary = (
            [] if indicators is None else raw_vocabulary_problems(data, indicators, known_services)
        )
        raise ReferralInvalid([*parse_problems(error), *vocabulary], where) from None
    problems = _structural_problems(referral)
    if indicators is not None:
        problems += _model_vocabulary_problems(referral, indicators, known_services)
    if levels is not None:
        problems += _open_level_problems(referral, levels)
    if problems:
        raise ReferralInvalid(problems, where)
    return referral


def _open_level_problems(referral: Referral, levels: Collection[int]) -> list[Problem]:
    """An open service's level that the rulebook does not count: a level-4 plan sent to a
    council that counts three levels would meet none of its open-case rules, and the child
    could be routed lower than the plan."""
    valid = tuple(str(level) for level in sorted(levels))
    return [
        Problem(
            f"children[{index}].open_involvement.level",
            "is not a level of this rulebook",
            value=str(child.open_involvement.level),
            valid=valid,
        )
        for index, child in enumerate(referral.children)
        if child.open_involvement is not None
        and child.open_involvement.level is not None
        and child.open_involvement.level not in levels
    ]
