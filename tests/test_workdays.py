"""Working days skip weekends and England and Wales bank holidays (dates from gov.uk's list)."""

from __future__ import annotations

from datetime import date

import pytest

from triage import add_working_days


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (date(2026, 3, 2), 1, date(2026, 3, 3)),  # Monday -> Tuesday
        (date(2026, 3, 6), 1, date(2026, 3, 9)),  # Friday -> Monday
        (date(2026, 3, 7), 0, date(2026, 3, 7)),  # 0 is the same day, even a Saturday
        (date(2026, 4, 2), 1, date(2026, 4, 7)),  # Good Friday 3 Apr, Easter Monday 6 Apr
        (
            date(2026, 12, 24),
            1,
            date(2026, 12, 29),
        ),  # Christmas Fri 25, Boxing Day substitute Mon 28
        (date(2026, 5, 22), 2, date(2026, 5, 27)),  # spring bank holiday Mon 25 May
        # 45 working days (the assessment timescale): Easter 3 and 6 Apr, early May 4 May
        (date(2026, 3, 2), 45, date(2026, 5, 7)),
    ],
)
def test_add_working_days_skips_weekends_and_bank_holidays(
    start: date, days: int, due: date
) -> None:
    assert add_working_days(start, days) == due


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_days(date(2026, 3, 2), -1)
