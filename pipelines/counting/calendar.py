"""Working days: Monday to Friday, minus the configured holidays."""

from __future__ import annotations

import bisect
from collections.abc import Collection
from datetime import date, timedelta


def is_working_day(day: date, holidays: Collection[date] = ()) -> bool:
    return day.weekday() < 5 and day not in holidays


def first_working_day_from(day: date, holidays: Collection[date] = ()) -> date:
    """``day`` itself when it is a working day, else the next one."""
    while not is_working_day(day, holidays):
        day += timedelta(days=1)
    return day


def next_working_day(day: date, holidays: Collection[date] = ()) -> date:
    """The first working day strictly after ``day``."""
    return first_working_day_from(day + timedelta(days=1), holidays)


def previous_working_day(day: date, holidays: Collection[date] = ()) -> date:
    """The last working day strictly before ``day``."""
    day -= timedelta(days=1)
    while not is_working_day(day, holidays):
        day -= timedelta(days=1)
    return day


def working_days(start: date, end: date, holidays: Collection[date] = ()) -> list[date]:
    """Working days from ``start`` to ``end``, both included."""
    days, day = [], start
    while day <= end:
        if is_working_day(day, holidays):
            days.append(day)
        day += timedelta(days=1)
    return days


class WorkingCalendar:
    """Working days numbered consecutively, so intervals can be measured in working days."""

    def __init__(self, holidays: Collection[date] = ()) -> None:
        self._holidays = sorted(h for h in holidays if h.weekday() < 5)

    def ordinal(self, day: date) -> int:
        """How many working days come before ``day`` (since 1 January of year 1, a Monday)."""
        weeks, rest = divmod(day.toordinal() - 1, 7)
        return weeks * 5 + min(rest, 5) - bisect.bisect_left(self._holidays, day)
