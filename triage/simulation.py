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
offset of the day (+00:00 or +01:00).

Journey events (issue 3) will be generated beside `simulate`, from a `random.Random` stream of
their own, so that asking for journeys never changes the referrals a seed gives.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from triage.conditions import Domain
from triage.decision import Decision
from triage.errors import UsageError
from triage.facts import age_in_years
from triage.loader import load_rulebook
from triage.referral import About, CensusSource, ChildFlag, Consent, Notification
from triage.rulebook import Indicator, Rulebook
from triage.workdays import add_working_days, is_working_day

# --- Calibrated to national figures (shared/domain.md section 7) -----------------------------

# (group, percentage of referrals, the DfE census referral-source codes of the group). Inside a
# group the codes are equally likely: the national figures stop at groups.
SOURCE_MIX: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("police", 28.7, ("6",)),
    ("schools", 18.2, ("2A",)),
    ("health", 15.0, ("3A", "3B", "3C", "3D", "3E", "3F")),
    ("la_services", 14.1, ("5A", "5B", "5C", "5D")),
    ("individuals", 8.1, ("1A", "1B", "1C", "1D")),
    ("other", 4.9, ("8",)),
    ("other_legal_agency", 3.9, ("7",)),
    ("education_services", 2.1, ("2B",)),
    ("anonymous", 2.1, ("9",)),
    ("unknown", 1.4, ("10",)),
    ("housing", 1.3, ("4",)),
)
RE_REFERRAL_SHARE = 0.22  # re-referrals within 12 months, year to March 2024
# "A factor in about half of assessments" (2017), read as 45-50% of referrals: the middle.
DOMESTIC_ABUSE_SHARE = 0.475
DOMESTIC_ABUSE_FACTORS = frozenset({"3A", "3B", "3C"})  # census factor: domestic violence

# --- This project's choices (not calibrated; docs/simulation.md says why) --------------------

LEVEL_MIX: Mapping[int, float] = {1: 0.05, 2: 0.30, 3: 0.45, 4: 0.20}
POLICE_DOMESTIC_ABUSE_SHARE = 0.85  # of police referrals at level 2 or above
# The share of domestic abuse referrals whose indicator is at the referral's level; the others
# carry a domestic abuse indicator one level below beside another need at the level.
DOMESTIC_ABUSE_AT_LEVEL: Mapping[int, float] = {2: 1.0, 3: 0.85, 4: 0.40}
DOMESTIC_ABUSE_NOTIFICATION_SHARE = 0.90  # of police referrals about domestic abuse
EARLY_HELP_NOTIFICATION_SHARE = 0.40  # of other referrals below level 4
ACCUMULATED_LEVEL_3_SHARE = 0.10  # of level-3 referrals: three level-2 needs, no level-3 one
CHILDREN_MIX: Mapping[int, float] = {1: 0.75, 2: 0.15, 3: 0.07, 4: 0.03}
UNBORN_SHARE = 0.025  # of children
IMMEDIATE_DANGER_SHARE = 0.015  # of referrals, all of them at level 4
CONSENT_MIX: Mapping[Consent, float] = {
    Consent.GIVEN: 0.85,
    Consent.REFUSED: 0.07,
    Consent.NOT_SOUGHT: 0.08,
}
# At level 4 seeking consent may put the child at risk of significant harm: sought less often.
CONSENT_MIX_LEVEL_4: Mapping[Consent, float] = {
    Consent.GIVEN: 0.55,
    Consent.REFUSED: 0.10,
    Consent.NOT_SOUGHT: 0.35,
}
OPEN_INVOLVEMENT_SHARE = 0.07  # of born children
OPEN_SERVICE_WEIGHTS: Mapping[str, float] = {
    "single_agency_support": 3,
    "team_around_the_family": 3,
    "intensive_early_help": 3,
    "child_and_family_assessment": 1,
    "child_in_need_plan": 2,
    "child_protection_plan": 1,
    "children_in_care": 1,
    "care_leavers": 0,  # a service for 18-25 year olds; simulated children are 0-17
}
OTHER_SERVICE_WEIGHT = 1.0  # a service of another rulebook, not named above
OLDER_REFERRAL_SHARE = 0.15  # referrals with a previous referral more than 12 months before
SEND_SHARE = 0.08  # of children aged 4-17
DISABILITY_SHARE = 0.03  # of born children, besides those with a disability indicator

UNBORN = -1
"""The age of an unborn child in `AGE_RANGES`."""

AGE_RANGES: Mapping[str, tuple[int, int]] = {
    # The ages (inclusive; UNBORN for an unborn child) at which an indicator of the Kent
    # vocabulary is plausible, so that a baby is never truanting and a teenager never a
    # non-mobile baby. An indicator not listed: _DEFAULT_AGES.
    "school_attendance_above_90": (5, 17),
    "secure_caring_parenting": (0, 17),
    "occasional_truancy": (5, 16),
    "fixed_term_exclusions": (5, 16),
    "missing_starting": (10, 17),
    "young_carer_some_responsibilities": (8, 17),
    "teenage_parent_low_level_support": (14, 17),
    "developmental_milestones_missed": (0, 5),
    "speech_language_difficulty": (1, 10),
    "associating_with_offending_peers": (10, 17),
    "low_level_mental_health": (5, 17),
    "self_harm_low_level": (10, 17),
    "neglect_emerging": (0, 17),
    "home_educated_some_concerns": (5, 16),
    "risky_online_behaviour": (8, 17),
    "cse_low_level": (10, 17),
    "persistent_absence": (5, 16),
    "neet": (16, 17),
    "permanent_exclusion": (5, 16),
    "serious_developmental_delay": (0, 5),
    "missing_regularly": (10, 17),
    "pregnant_teenager_serious_concerns": (13, 17),
    "cse_vulnerable": (10, 17),
    "cse_high_risk": (10, 17),
    "criminal_exploitation_vulnerable": (10, 17),
    "drug_alcohol_use_vulnerable": (11, 17),
    "homeless_child": (16, 17),
    "young_carer_outcomes_affected": (8, 17),
    "untreated_dental_decay": (2, 17),
    "education_supervision_order": (5, 16),
    "home_educated_significant_concerns": (5, 16),
    "unborn_pre_birth_assessment": (UNBORN, UNBORN),
    "neglect_chronic": (0, 17),
    "failure_to_thrive_non_organic": (0, 4),
    "non_mobile_baby_injury": (0, 0),
    "under_13_sexual_activity": (10, 12),
    "sexually_aggressive_behaviour": (8, 17),
    "physical_abuse": (0, 17),
    "sexual_abuse": (0, 17),
    "missing_frequently": (10, 17),
    "thrown_out_of_home": (14, 17),
    "youth_justice_order": (10, 17),
    "suicidal_ideation": (10, 17),
    "neglect_severe": (0, 17),
    "emotional_abuse_significant": (0, 17),
    "drug_alcohol_dependency_significant": (12, 17),
    "home_educated_serious_concerns": (5, 16),
    "radicalisation_immediate_risk": (12, 17),
    "gang_involvement": (12, 17),
    "adult_posing_risk": (0, 17),
    "medical_care_refused": (0, 17),
    "court_ordered_report": (0, 17),
}

# Working hours at the Front Door, in seconds after local midnight.
OPENS, CLOSES = 8 * 3600, 18 * 3600
GMT, BST = timezone(timedelta(0)), timezone(timedelta(hours=1))

_SOURCE_CUMULATIVE = tuple(itertools.accumulate(weight for _, weight, _ in SOURCE_MIX))
_POLICE_WEIGHT = SOURCE_MIX[0][1] / _SOURCE_CUMULATIVE[-1]
# Domestic abuse is drawn only at level 2 or above (the lowest domestic abuse indicator is
# level 2), for police at POLICE_DOMESTIC_ABUSE_SHARE; this share for every other source
# makes the overall share DOMESTIC_ABUSE_SHARE.
_OTHER_DOMESTIC_ABUSE_SHARE = (
    DOMESTIC_ABUSE_SHARE / (1 - LEVEL_MIX[1]) - _POLICE_WEIGHT * POLICE_DOMESTIC_ABUSE_SHARE
) / (1 - _POLICE_WEIGHT)
assert 0 <= _OTHER_DOMESTIC_ABUSE_SHARE <= 1, "the domestic abuse shares cannot be met"


# An indicator not in AGE_RANGES: a concern about parenting or the home can be raised before
# birth; the child's own development cannot.
_DEFAULT_AGES: Mapping[Domain, tuple[int, int]] = {
    Domain.CHILD_DEVELOPMENT: (0, 17),
    Domain.PARENTING_CAPACITY: (UNBORN, 17),
    Domain.FAMILY_AND_ENVIRONMENT: (UNBORN, 17),
}


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
    domestic_abuse: Mapping[int, tuple[Indicator, ...]]
    everything: tuple[Indicator, ...]
    fitting: Mapping[int, frozenset[str]]  # age -> ids of the indicators plausible at it
    services: tuple[str, ...]
    service_weights: tuple[float, ...]

    @classmethod
    def of(cls, rulebook: Rulebook) -> _Vocabulary:
        by_level: dict[int, list[Indicator]] = {level: [] for level in LEVEL_MIX}
        abuse: dict[int, list[Indicator]] = {level: [] for level in LEVEL_MIX}
        for indicator in rulebook.indicators:
            is_abuse = DOMESTIC_ABUSE_FACTORS.intersection(indicator.census_factors)
            (abuse if is_abuse else by_level)[indicator.level].append(indicator)
        services = [
            (s.id, OPEN_SERVICE_WEIGHTS.get(s.id, OTHER_SERVICE_WEIGHT)) for s in rulebook.services
        ]
        services = [(service, weight) for service, weight in services if weight > 0]
        return cls(
            by_level={level: tuple(found) for level, found in by_level.items()},
            domestic_abuse={level: tuple(found) for level, found in abuse.items()},
            everything=rulebook.indicators,
            fitting={
                age: frozenset(
                    i.id
                    for i in rulebook.indicators
                    for low, high in [AGE_RANGES.get(i.id) or _DEFAULT_AGES[i.domain]]
                    if low <= age <= high
                )
                for age in range(UNBORN, 18)
            },
            services=tuple(service for service, _ in services),
            service_weights=tuple(weight for _, weight in services),
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
        offset = _uk_offset(day)
        for second in sorted(rng.randrange(OPENS, CLOSES) for _ in range(count)):
            number += 1
            received = datetime.combine(day, time(), offset) + timedelta(seconds=second)
            yield _referral(rng, vocabulary, f"S{seed}-{number}", received)


def _uk_offset(day: date) -> timezone:
    """British Summer Time runs from the last Sunday of March to the last Sunday of October.

    Written out rather than read from `zoneinfo`, which needs a time zone database that not
    every system has; the clocks change at night on a Sunday, never in working hours.
    """

    def last_sunday(month: int) -> date:
        end = date(day.year, month, 31)
        return end - timedelta(days=(end.weekday() + 1) % 7)

    return BST if last_sunday(3) <= day < last_sunday(10) else GMT


def _draw(rng: random.Random, mix: Mapping[Any, float]) -> Any:
    return rng.choices(tuple(mix), weights=tuple(mix.values()))[0]


def _referral(
    rng: random.Random, vocabulary: _Vocabulary, key: str, received: datetime
) -> dict[str, Any]:
    on = received.date()
    group, _, codes = rng.choices(SOURCE_MIX, cum_weights=_SOURCE_CUMULATIVE)[0]
    source = CensusSource(rng.choice(codes))
    level: int = _draw(rng, LEVEL_MIX)
    kids = [_draw_child(rng, f"C-{key}-{k}", on) for k in range(1, _draw(rng, CHILDREN_MIX) + 1)]
    abuse_share = POLICE_DOMESTIC_ABUSE_SHARE if group == "police" else _OTHER_DOMESTIC_ABUSE_SHARE
    domestic_abuse = level >= 2 and rng.random() < abuse_share
    concerns, level = _concerns(rng, vocabulary, kids, level, domestic_abuse)
    immediate_danger = level == 4 and rng.random() < IMMEDIATE_DANGER_SHARE / LEVEL_MIX[4]
    consent: Consent = (
        Consent.NOT_SOUGHT
        if immediate_danger
        else _draw(rng, CONSENT_MIX_LEVEL_4 if level == 4 else CONSENT_MIX)
    )
    if group == "police" and domestic_abuse and rng.random() < DOMESTIC_ABUSE_NOTIFICATION_SHARE:
        notification = Notification.DOMESTIC_ABUSE_NOTIFICATION
    elif group != "police" and level < 4 and rng.random() < EARLY_HELP_NOTIFICATION_SHARE:
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
    domestic_abuse: bool,
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

    if domestic_abuse:
        top = level if rng.random() < DOMESTIC_ABUSE_AT_LEVEL[level] else level - 1
        for at in range(top, 1, -1):
            if pick(vocabulary.domestic_abuse[at]):
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
            if service == "children_in_care":
                kid.flags.add(ChildFlag.LOOKED_AFTER)
    if kid.flags:
        child["flags"] = [flag.value for flag in ChildFlag if flag in kid.flags]
    if previous:
        child["previous_referrals"] = [day.isoformat() for day in previous]
    return child


# -- journey events ---------------------------------------------------------------------------

# Follow-up chances per route, from domain.md where it gives a figure, otherwise stated here.
EARLY_HELP_GOOD_OUTCOME = 0.80  # Kent 2016-17: intensive early help units, good outcome in 80%
TAF_OUTCOMES_ACHIEVED = 0.70  # not in the plans: a team around the family is less intensive
ESCALATION = 0.08  # not in the plans: a minority of early help cases step up
ASSESSMENT_NFA = 0.28  # England 2017: about 28% of assessments end in no further action
ASSESSMENT_MEDIAN_WORKING_DAYS = 33  # England 2025: median assessment length
PLAN_CONCERNS_REDUCED = 0.85  # not in the plans: most plans end because concerns reduced
# Not in the plans. Kent's 23% step-down share (2016-17) is over all social care closures; the
# simulator makes only assessment and protection plan endings, so the demo's share is higher.
CONSENT_TO_EARLY_HELP = 0.12


def simulate_journeys(
    routed: Iterable[tuple[Mapping[str, Any], Sequence[Decision]]], seed: int
) -> Iterator[dict[str, Any]]:
    """Journey events that follow routed referrals: reviews of early help and teams around the
    family, the end of assessments and of child protection plans, an 18th birthday in care.

    Deterministic for a seed, on its own random stream (the referrals a seed gives never
    change). Events are JSON-ready dicts for `triage.journey.Journeys.decide`.
    """
    rng = random.Random(f"journeys:{seed}")  # noqa: S311 - synthetic data, not secrets
    for referral, decisions in routed:
        children = {child["child_id"]: child for child in referral["children"]}
        received = date.fromisoformat(str(referral["received_at"])[:10])
        for decision in decisions:
            child = children[decision.child_id]
            for number, event in enumerate(_follow_ups(rng, decision, child, received)):
                event["event_id"] = f"E-{decision.referral_id}-{decision.child_id}-{number}"
                yield event


def _event(
    child: Mapping[str, Any],
    day: date,
    kind: str,
    service: str,
    since: date,
    findings: list[str],
    consent: str = "given",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "child_id": child["child_id"],
        "occurred_at": datetime(
            day.year, day.month, day.day, 11, 0, tzinfo=_uk_offset(day)
        ).isoformat(),
        "event": kind,
        "service": service,
        "service_since": since.isoformat(),
        "findings": findings,
        "consent": consent,
    }
    for key in ("date_of_birth", "expected_date_of_birth"):
        if key in child:
            event[key] = child[key]
    if "flags" in child:
        event["flags"] = child["flags"]
    return event


def _follow_ups(
    rng: random.Random, decision: Decision, child: Mapping[str, Any], received: date
) -> Iterator[dict[str, Any]]:
    if "date_of_birth" not in child:
        return  # an unborn child's journey starts at birth: not simulated
    route = decision.route
    if route in ("team_around_the_family", "intensive_early_help"):
        good = EARLY_HELP_GOOD_OUTCOME if route == "intensive_early_help" else TAF_OUTCOMES_ACHIEVED
        months = rng.randint(3, 9) if route == "intensive_early_help" else rng.randint(6, 14)
        draw = rng.random()
        finding = (
            "outcomes_achieved"
            if draw < good
            else "concerns_escalated"
            if draw < good + ESCALATION
            else "concerns_unchanged"
        )
        yield _event(
            child, received + timedelta(days=30 * months), "review", route, received, [finding]
        )
    elif route == "child_and_family_assessment":
        if rng.random() < ASSESSMENT_NFA:
            day = add_working_days(received, rng.randint(10, 2 * ASSESSMENT_MEDIAN_WORKING_DAYS))
            yield _event(child, day, "review", route, received, ["no_further_action"])
    elif route == "strategy_discussion":
        since = add_working_days(received, 15)  # the initial conference makes the plan
        finding = (
            "concerns_reduced" if rng.random() < PLAN_CONCERNS_REDUCED else "concerns_unchanged"
        )
        consent = "given" if rng.random() < CONSENT_TO_EARLY_HELP else "refused"
        ended = since + timedelta(days=30 * rng.randint(6, 18))
        yield _event(child, ended, "plan_ended", "child_protection_plan", since, [finding], consent)
