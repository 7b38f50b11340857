"""The flat, typed facts of one child in one referral: what every evaluator reads.

Age and "referrals in the last 12 months" are measured at the referral's receipt date. Free
text never reaches a fact.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from triage.conditions import ConcernFilter
from triage.referral import Child, Referral
from triage.rulebook import Rulebook


class ConcernFact(NamedTuple):
    indicator: str
    level: int
    domain: str
    about: str


def selected(concern: ConcernFact, f: ConcernFilter) -> bool:
    """Does a concern filter select this concern? (Unset keys select everything.)"""
    return (
        (f.indicator is None or concern.indicator in f.indicator)
        and (f.level is None or concern.level in f.level)
        and (f.domain is None or concern.domain in f.domain)
        and (f.about is None or concern.about in f.about)
    )


class ChildFacts(NamedTuple):
    concerns: tuple[ConcernFact, ...]
    unborn: bool
    age_years: int | None
    consent: str
    immediate_danger: bool
    open_service: str | None
    open_level: int | None
    referrals_last_12_months: int
    flags: frozenset[str]


def age_in_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def one_year_before(day: date) -> date:
    """The same day a year earlier; 28 February for 29 February."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


_NO_FLAGS: frozenset[str] = frozenset()


def shared_concerns(referral: Referral, rulebook: Rulebook) -> tuple[ConcernFact, ...] | None:
    """The concerns of a referral none of whose concerns names children: the same for every
    child, so worked out once per referral. None when some concern names children."""
    if any(concern.child_ids for concern in referral.concerns):
        return None
    return _concerns(referral, None, rulebook)


def _concerns(
    referral: Referral, child_id: str | None, rulebook: Rulebook
) -> tuple[ConcernFact, ...]:
    """The distinct (indicator, about) concerns about one child (every child: None)."""
    known = rulebook.prepared.concerns.fact  # one ConcernFact per (indicator, about), shared
    seen: set[tuple[str, str]] = set()
    concerns = []
    for concern in referral.concerns:
        if concern.child_ids and child_id not in concern.child_ids:
            continue
        key = (concern.indicator, concern.about)  # About is a StrEnum: keys as its value
        if key in seen:
            continue
        seen.add(key)
        concerns.append(known[key])
    return tuple(concerns)


def child_facts(
    referral: Referral,
    child: Child,
    rulebook: Rulebook,
    concerns: tuple[ConcernFact, ...] | None = None,
) -> ChildFacts:
    """Facts for one child. The referral must already have passed `FrontDoor` validation.
    `concerns`, when given, are the referral's `shared_concerns`."""
    received = referral.received_on
    if concerns is None:
        concerns = _concerns(referral, child.child_id, rulebook)
    open_service = open_level = None
    if child.open_involvement is not None:
        open_service = child.open_involvement.service
        open_level = child.open_involvement.level or rulebook.service_by_id[open_service].level
    recent = 0
    if child.previous_referrals:
        window_start = one_year_before(received)
        recent = sum(window_start <= d <= received for d in child.previous_referrals)
    born = child.date_of_birth
    return ChildFacts(
        concerns,
        born is None,
        None if born is None else age_in_years(born, received),
        referral.consent.value,
        referral.immediate_danger,
        open_service,
        open_level,
        recent,
        frozenset(flag.value for flag in child.flags) if child.flags else _NO_FLAGS,
    )


class JourneyFacts(NamedTuple):
    """The facts of one journey event: what happened, on which service, to which child."""

    event: str
    service: str
    findings: frozenset[str]
    level: int | None  # the level of need of a new referral on the open case, if one was made
    unborn: bool
    age_years: int | None
    consent: str
    flags: frozenset[str]
