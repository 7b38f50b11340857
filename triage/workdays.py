"""Working days: Monday to Friday, less England and Wales bank holidays.

The calendar is the maintained `holidays` package (country GB, subdivision ENG, which England
and Wales share), as the DfE census validator does; no holiday is written here by hand.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache, lru_cache

import holidays


@cache
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


@lru_cache(maxsize=4096)
def add_working_days(start: date, working_days: int) -> date:
    """The date `working_days` working days after `start`; 0 is `start` itself, any day.

    Counting starts the day after `start`, so a referral received on a Friday with one working
    day is due the next Monday (Tuesday when Monday is a bank holiday).
    """
    if working_days < 0:
        raise ValueError("working_days must not be negative")
    day = start
    remaining = working_days
    while remaining:
        try:
            day += timedelta(days=1)
        except OverflowError:  # a clear error, not date arithmetic's own
            raise ValueError("the due date would fall after 9999-12-31") from None
        if is_working_day(day):
            remaining -= 1
    return day
