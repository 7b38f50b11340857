"""The figures the simulator draws from: national ones for England (DfE children in need
statistics, as restated in `shared/domain.md` section 7) and this project's choices, each stated
here and in docs/simulation.md with why it is not calibrated. Nothing here is a council's: that
is the rulebook's `simulation:` section."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from triage.conditions import Domain
from triage.referral import Consent

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
OTHER_SERVICE_WEIGHT = 1.0  # a service the simulation section gives no weight
OLDER_REFERRAL_SHARE = 0.15  # referrals with a previous referral more than 12 months before
SEND_SHARE = 0.08  # of children aged 4-17
DISABILITY_SHARE = 0.03  # of born children, besides those with a disability indicator

UNBORN = -1
"""The age of an unborn child, in the simulation section's `ages`."""

# Working hours at the Front Door, in seconds after local midnight.
OPENS, CLOSES = 8 * 3600, 18 * 3600
UK = ZoneInfo("Europe/London")

SOURCE_CUMULATIVE = tuple(itertools.accumulate(weight for _, weight, _ in SOURCE_MIX))
POLICE_WEIGHT = SOURCE_MIX[0][1] / SOURCE_CUMULATIVE[-1]
# Domestic abuse is drawn only at level 2 or above (the lowest domestic abuse indicator is
# level 2), for police at POLICE_DOMESTIC_ABUSE_SHARE; this share for every other source
# makes the overall share DOMESTIC_ABUSE_SHARE.
OTHER_DOMESTIC_ABUSE_SHARE = (
    DOMESTIC_ABUSE_SHARE / (1 - LEVEL_MIX[1]) - POLICE_WEIGHT * POLICE_DOMESTIC_ABUSE_SHARE
) / (1 - POLICE_WEIGHT)
assert 0 <= OTHER_DOMESTIC_ABUSE_SHARE <= 1, "the domestic abuse shares cannot be met"


# An indicator the section gives no ages: a concern about parenting or the home can be raised before
# birth; the child's own development cannot.
DEFAULT_AGES: Mapping[Domain, tuple[int, int]] = {
    Domain.CHILD_DEVELOPMENT: (0, 17),
    Domain.PARENTING_CAPACITY: (UNBORN, 17),
    Domain.FAMILY_AND_ENVIRONMENT: (UNBORN, 17),
}


def uk_offset(day: date) -> timezone:
    """The UK's UTC offset in the working hours of a day (the clocks change at night)."""
    offset = UK.utcoffset(datetime.combine(day, time(12)))
    assert offset is not None
    return timezone(offset)
