"""Synthetic referrals calibrated to national figures, for demos, load tests and what-ifs.

`simulate(n, seed)` yields `n` Front Door referral forms as JSON-ready dicts, in order of
receipt. Each one passes `parse_referral` and `FrontDoor.validate` for the rulebook it was drawn
from: indicator ids come from that rulebook's vocabulary and open-involvement services from its
services. The same arguments give the same referrals, byte for byte: every draw comes from one
`random.Random(seed)`, never the global generator or the clock. Nothing is real: ids are
`R-S{seed}-{n}` and `C-S{seed}-{n}-{k}`, there are no names and no free text.

Calibration: national figures for England (DfE children in need statistics, as restated in
`shared/domain.md` section 7):

- referral source, year to March 2020: police 28.7%, schools 18.2%, health 15.0%, LA services
  14.1%, individuals 8.1%, other 4.9%, other legal agency 3.9%, education services 2.1%,
  anonymous 2.1%, unknown 1.4%, housing 1.3% (`SOURCE_MIX`; the shares add up to 99.8% and
  are drawn in proportion);
- re-referrals, year to March 2024: 22% of referrals are about a child referred in the 12 months
  before (`RE_REFERRAL_SHARE`);
- domestic violence is a factor in about half of assessments (2017): 47.5% of referrals carry a
  domestic abuse indicator (`DOMESTIC_ABUSE_SHARE`), which is one whose census factors include
  3A, 3B or 3C (domestic violence; `shared/domain.md` section 6).

Everything else is this project's choice, stated as a constant below and in
`docs/simulation.md` (which says why each is not calibrated): the level mix, the census codes
inside a source group, sibling groups, ages and the unborn share, consent, immediate danger,
open involvement, older previous referrals, child flags and the notification form. Times are
working days (England and Wales bank holidays excluded), 08:00-18:00 UK time, with the UTC
offset of the day (+00:00 or +01:00, from the tz database).

What is a council's (the ages at which each indicator is plausible, the weights of the services
a child may be open to, which services mean looked after) comes from the rulebook's optional
`simulation:` section (`rules/kent/simulation.yaml`; `triage.council.SimulationSection`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from triage.conditions import Domain
from triage.council import SimulationSection
from triage.errors import UsageError
from triage.facts import age_in_years
from triage.loader import load_rulebook
from triage.referral import About, CensusSource, ChildFlag, Consent, Notification
from triage.rulebook import Indicator, Rulebook
from triage.simulation.calibration import (
    ACCUMULATED_LEVEL_3_SHARE,
    CHILDREN_MIX,
    CLOSES,
    CONSENT_MIX,
    CONSENT_MIX_LEVEL_4,
    DEFAULT_AGES,
    DISABILITY_SHARE,
    DOMESTIC_ABUSE_AT_LEVEL,
    DOMESTIC_ABUSE_FACTORS,
    DOMESTIC_ABUSE_NOTIFICATION_SHARE,
    EARLY_HELP_NOTIFICATION_SHARE,
    IMMEDIATE_DANGER_SHARE,
    LEVEL_MIX,
    OLDER_REFERRAL_SHARE,
    OPEN_INVOLVEMENT_SHARE,
    OPENS,
    OTHER_DOMESTIC_ABUSE_SHARE,
    OTHER_SERVICE_WEIGHT,
    POLICE_DOMESTIC_ABUSE_SHARE,
    RE_REFERRAL_SHARE,
    SEND_SHARE,
    SOURCE_CUMULATIVE,
    SOURCE_MIX,
    UNBORN,
    UNBORN_SHARE,
    uk_offset,
)
from triage.workdays import is_working_day


def _about(indicator: Indicator) -> About:
    """Whom a concern is about. In census factors 1-6 the letter says so (A the child, B a
    parent or carer, C another household member); every other factor is the child's."""
    for factor in indicator.census_factors:
        number, letter = factor[:-1], factor[-1:]
        if number in {"1", "2", "3", "4", "5", "6"} and letter in "ABC":
            return {"A": About.CHILD, "B": About.PARENT_CARER, "C": About.HOUSEHOLD_MEMBER}[letter]
    if indicator.census_factors or indicator.domain is Domain.CHILD_DEVELOPMENT:
        return About.CHILD
    return About.PARENT_CARER


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    """A rulebook's indicators and services, arranged for drawing."""

    by_level: Mapping[int, tuple[Indicator, ...]]  # domestic abuse indicators apart
    abuse_indicators: Mapping[int, tuple[Indicator, ...]]
    everything: tuple[Indicator, ...]
    fitting: Mapping[int, frozenset[str]]  # age -> ids of the indicators plausible at it
    services: tuple[str, ...]
    service_weights: tuple[float, ...]
    looked_after: frozenset[str]
    # The rulebook's highest level, and the share of LEVEL_MIX drawn at it: a three-level
    # rulebook's highest level takes the draws of level 4 too (none is lost, none made up).
    top: int
    top_share: float

    @classmethod
    def of(cls, rulebook: Rulebook) -> _Vocabulary:
        council = rulebook.simulation or SimulationSection()
        by_level: dict[int, list[Indicator]] = {level: [] for level in LEVEL_MIX}
        abuse: dict[int, list[Indicator]] = {level: [] for level in LEVEL_MIX}
        for indicator in rulebook.indicators:
            is_abuse = DOMESTIC_ABUSE_FACTORS.intersection(indicator.census_factors)
            (abuse if is_abuse else by_level)[indicator.level].append(indicator)
        services = [
            (s.id, council.open_services.get(s.id, OTHER_SERVICE_WEIGHT)) for s in rulebook.services
        ]
        services = [(service, weight) for service, weight in services if weight > 0]
        return cls(
            by_level={level: tuple(found) for level, found in by_level.items()},
            abuse_indicators={level: tuple(found) for level, found in abuse.items()},
            everything=rulebook.indicators,
            fitting={
                age: frozenset(
                    i.id
                    for i in rulebook.indicators
                    for low, high in [council.ages.get(i.id) or DEFAULT_AGES[i.domain]]
                    if low <= age <= high
                )
                for age in range(UNBORN, 18)
            },
            services=tuple(service for service, _ in services),
            service_weights=tuple(weight for _, weight in services),
            looked_after=frozenset(council.looked_after_services),
            top=rulebook.highest_level,
            top_share=sum(share for at, share in LEVEL_MIX.items() if at >= rulebook.highest_level),
        )


@dataclass(slots=True)
class _Child:
    child_id: str
    age: int  # UNBORN before birth
    born: date | None
    due: date | None
    flags: set[ChildFlag] = field(default_factory=set)

    @property
    def conceived(self) -> date:
        """About when the child existed to be referred: pre-birth referrals are about them."""
        day = self.born if self.born is not None else self.due
        assert day is not None
        return day - timedelta(days=280)


def simulate(
    n: int,
    seed: int,
    rulebook: Rulebook | None = None,
    start: date = date(2025, 4, 1),
    days: int = 365,
) -> Iterator[dict[str, Any]]:
    """`n` synthetic referrals received on the working days of `days` days from `start`.

    The dicts are JSON-ready (`json.dumps` them as they are) and come in order of receipt,
    spread evenly over the working days. Raises `UsageError` at once for a negative `n` or a
    window with no working day.
    """
    if n < 0:
        raise UsageError(f"the number of referrals must be 0 or more, not {n}")
    if days < 1:
        raise UsageError(f"the window must be at least one day long, not {days}")
    working = [day for i in range(days) if is_working_day(day := start + timedelta(days=i))]
    if not working:
        raise UsageError(
            f"the {days} day(s) from {start.isoformat()} hold no working day; widen the window"
        )
    vocabulary = _Vocabulary.of(load_rulebook() if rulebook is None else rulebook)
    return _referrals(n, seed, vocabulary, working)


def _referrals(
    n: int, seed: int, vocabulary: _Vocabulary, working: Sequence[date]
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not a secret
    number = 0
    for index, day in enumerate(working):
        # An even spread keeps the stream in order of receipt without holding it in memory.
        count = (index + 1) * n // len(working) - index * n // len(working)
        offset = uk_offset(day)
        for second in sorted(rng.randrange(OPENS, CLOSES) for _ in range(count)):
            number += 1
            received = datetime.combine(day, time(), offset) + timedelta(seconds=second)
            yield _referral(rng, vocabulary, f"S{seed}-{number}", received)


def _draw(rng: random.Random, mix: Mapping[Any, float]) -> Any:
    return rng.choices(tuple(mix), weights=tuple(mix.values()))[0]


def _referral(
    rng: random.Random, vocabulary: _Vocabulary, key: str, received: datetime
) -> dict[str, Any]:
    on = received.date()
    group, _, codes = rng.choices(SOURCE_MIX, cum_weights=SOURCE_CUMULATIVE)[0]
    source = CensusSource(rng.choice(codes))
    top = vocabulary.top
    level: int = min(_draw(rng, LEVEL_MIX), top)
    kids = [_draw_child(rng, f"C-{key}-{k}", on) for k in range(1, _draw(rng, CHILDREN_MIX) + 1)]
    abuse_share = POLICE_DOMESTIC_ABUSE_SHARE if group == "police" else OTHER_DOMESTIC_ABUSE_SHARE
    with_domestic_abuse = level >= 2 and rng.random() < abuse_share
    concerns, level = _concerns(rng, vocabulary, kids, level, with_domestic_abuse)
    immediate_danger = level == top and rng.random() < IMMEDIATE_DANGER_SHARE / vocabulary.top_share
    consent: Consent = (
        Consent.NOT_SOUGHT
        if immediate_danger
        else _draw(rng, CONSENT_MIX_LEVEL_4 if level == top else CONSENT_MIX)
    )
    if (
        group == "police"
        and with_domestic_abuse
        and rng.random() < DOMESTIC_ABUSE_NOTIFICATION_SHARE
    ):
        notification = Notification.DOMESTIC_ABUSE_NOTIFICATION
    elif group != "police" and level < top and rng.random() < EARLY_HELP_NOTIFICATION_SHARE:
        notification = Notification.EARLY_HELP_NOTIFICATION
    else:
        notification = Notification.INTER_AGENCY_REFERRAL
    previous = _previous_referrals(rng, kids, on)
    children = [_child_form(rng, vocabulary, kid, on, previous[kid.child_id]) for kid in kids]
    return {
        "referral_id": f"R-{key}",
        "received_at": received.isoformat(),
        "source": source.value,
        "notification": notification.value,
        "children": children,
        "concerns": concerns,
        "consent": consent.value,
        "immediate_danger": immediate_danger,
    }


def _draw_child(rng: random.Random, child_id: str, on: date) -> _Child:
    if rng.random() < UNBORN_SHARE:
        return _Child(child_id, UNBORN, None, on + timedelta(days=rng.randint(1, 270)))
    # 18 * 365 days is just short of 18 years, so every child is 0-17 at receipt.
    born = on - timedelta(days=rng.randrange(18 * 365))
    return _Child(child_id, age_in_years(born, on), born, None)


def _concerns(
    rng: random.Random,
    vocabulary: _Vocabulary,
    kids: Sequence[_Child],
    level: int,
    with_domestic_abuse: bool,
) -> tuple[list[dict[str, Any]], int]:
    """Concerns at `level` (or the nearest level below that fits the children's ages), and
    the level they were drawn for.

    Lower-level indicators are capped so that Kent's accumulation rules (three level-2 or
    level-3 needs across two domains; a high-risk CSE indicator with several others) do not
    lift a referral above its drawn level; ACCUMULATED_LEVEL_3_SHARE of level-3 referrals
    reach level 3 through them on purpose.
    """
    focus = rng.choice(kids)  # the child that child-specific concerns are about, where they fit
    chosen: list[Indicator] = []
    taken: set[str] = set()  # ids: comparing pydantic models field by field is slow

    for_any = frozenset[str]().union(*(vocabulary.fitting[kid.age] for kid in kids))

    def pick(pool: Sequence[Indicator], child: _Child | None = None) -> bool:
        allowed = for_any if child is None else vocabulary.fitting[child.age]
        fitting = [i for i in pool if i.id in allowed and i.id not in taken]
        if fitting:
            chosen.append(rng.choice(fitting))
            taken.add(chosen[-1].id)
        return bool(fitting)

    if with_domestic_abuse:
        top = level if rng.random() < DOMESTIC_ABUSE_AT_LEVEL[level] else level - 1
        for at in range(top, 1, -1):
            if pick(vocabulary.abuse_indicators[at]):
                break
    accumulated = level == 3 and not chosen and rng.random() < ACCUMULATED_LEVEL_3_SHARE
    if accumulated:
        # Three level-2 needs of one child, the second from a domain not yet used.
        needs = vocabulary.by_level[2]
        pick(needs, focus)
        pick([i for i in needs if i.domain not in {c.domain for c in chosen}], focus)
        while len(chosen) < 3 and pick(needs, focus):
            pass
    elif not any(i.level == level for i in chosen):
        for at in range(level, 0, -1):
            if pick(vocabulary.by_level[at]):
                break
    if not chosen:  # no indicator of the rulebook fits these ages: the ages give way
        chosen.append(rng.choice(vocabulary.by_level[level] or vocabulary.everything))
        taken.add(chosen[-1].id)
    if not accumulated:
        level = max(i.level for i in chosen)
        serious = sum(i.level >= 2 for i in chosen)
        if level == 4:
            for _ in range(rng.randint(0, 2)):
                pick([*vocabulary.by_level[2], *vocabulary.by_level[3]])
        elif level in {2, 3} and serious == 1 and rng.random() < 0.5:
            pick(vocabulary.by_level[2])  # never three: that would accumulate to a higher level
        if level == 1 or rng.random() < 0.10:
            pick(vocabulary.by_level[1])  # a strength or universal need, as referrers report
    targets = [(i, _targets(rng, vocabulary, i, kids, focus)) for i in chosen]
    covered = {id(kid) for _, found in targets for kid in found}
    for kid in kids:
        if id(kid) in covered:
            continue
        # A child no concern applies to matches no level rule (a manual review): give each
        # sibling a need of its own, its own development first, at most level 2.
        sibling_level = min(level, 2)
        own = [
            i for i in vocabulary.by_level[sibling_level] if i.domain is Domain.CHILD_DEVELOPMENT
        ]
        if (
            pick(own, kid)
            or pick(vocabulary.by_level[sibling_level], kid)
            or pick(vocabulary.by_level[1], kid)
        ):
            targets.append((chosen[-1], [kid]))
        else:  # nothing fits its age: the age gives way
            targets.append((rng.choice(vocabulary.everything), [kid]))
    return [_concern_form(indicator, found, kids) for indicator, found in targets], level


def _targets(
    rng: random.Random,
    vocabulary: _Vocabulary,
    indicator: Indicator,
    kids: Sequence[_Child],
    focus: _Child,
) -> list[_Child]:
    """The children a concern is about. The child's own development is one child's, the focus
    child's where it fits; parenting and the home are shared by every child they fit."""
    fitting = [k for k in kids if indicator.id in vocabulary.fitting[k.age]] or list(kids)
    if indicator.domain is Domain.CHILD_DEVELOPMENT:
        return [focus] if focus in fitting else [rng.choice(fitting)]
    return fitting


def _concern_form(
    indicator: Indicator, targets: Sequence[_Child], kids: Sequence[_Child]
) -> dict[str, Any]:
    concern: dict[str, Any] = {"indicator": indicator.id, "about": _about(indicator).value}
    if len(targets) < len(kids):
        concern["child_ids"] = [kid.child_id for kid in targets]
    for kid in targets:
        if "7A" in indicator.census_factors:
            kid.flags.add(ChildFlag.YOUNG_CARER)
        if {"5A", "6A"}.intersection(indicator.census_factors):
            kid.flags.add(ChildFlag.DISABILITY)
    return concern


def _previous_referrals(
    rng: random.Random, kids: Sequence[_Child], on: date
) -> dict[str, list[date]]:
    """Earlier referral dates per child; siblings share them, from the day each existed."""
    earliest = min(kid.conceived for kid in kids)
    dates: list[date] = []
    if rng.random() < RE_REFERRAL_SHARE:
        # 1 to 364 days before: inside the census's 12-month window at any time of year.
        latest_gap = max(1, min(364, (on - earliest).days))
        count = rng.choices((1, 2, 3), weights=(0.80, 0.15, 0.05))[0]
        dates += [on - timedelta(days=rng.randint(1, latest_gap)) for _ in range(count)]
    if rng.random() < OLDER_REFERRAL_SHARE and (on - earliest).days > 400:
        oldest_gap = min(5 * 365, (on - earliest).days)
        dates += [on - timedelta(days=rng.randint(400, oldest_gap))]
    ordered = sorted(set(dates))
    # Every date is on or after the eldest child's `conceived`, so the eldest carries them all.
    return {kid.child_id: [d for d in ordered if d >= kid.conceived] for kid in kids}


def _child_form(
    rng: random.Random, vocabulary: _Vocabulary, kid: _Child, on: date, previous: list[date]
) -> dict[str, Any]:
    child: dict[str, Any] = {"child_id": kid.child_id}
    if kid.born is None:
        assert kid.due is not None
        child["expected_date_of_birth"] = kid.due.isoformat()
    else:
        child["date_of_birth"] = kid.born.isoformat()
        if kid.age >= 4 and rng.random() < SEND_SHARE:
            kid.flags.add(ChildFlag.SEND)
        if rng.random() < DISABILITY_SHARE:
            kid.flags.add(ChildFlag.DISABILITY)
        if vocabulary.services and rng.random() < OPEN_INVOLVEMENT_SHARE:
            service = rng.choices(vocabulary.services, weights=vocabulary.service_weights)[0]
            since = max(kid.born, on - timedelta(days=rng.randint(14, 540)))
            child["open_involvement"] = {"service": service, "since": since.isoformat()}
            if service in vocabulary.looked_after:
                kid.flags.add(ChildFlag.LOOKED_AFTER)
    if kid.flags:
        child["flags"] = [flag.value for flag in ChildFlag if flag in kid.flags]
    if previous:
        child["previous_referrals"] = [day.isoformat() for day in previous]
    return child
