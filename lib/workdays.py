"""Working-day calendar and deadlines (工作日与办理时限).

China's statutory holidays and the weekend days declared working days (调休) come from the
maintained `holidays` package; an administrator's overrides (`calendar_overrides`) win over it.

Convention of Chinese administrative practice: the day of receipt does not count; a limit of N
working days (or N natural days) ends at 24:00 Asia/Shanghai of the N-th working (natural) day
after the day of receipt; a limit in hours runs from the moment of receipt.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays

from lib.config import TZ

UNITS = {"wd": "个工作日", "d": "天", "h": "小时"}
_LIMIT_RE = re.compile(r"^\s*(\d{1,4})\s*(wd|d|h)\s*$", re.IGNORECASE)

# The span the precomputed table covers; a date outside it is an error, not a silent guess.
FIRST_YEAR, LAST_YEAR = 2000, 2040


@dataclass(frozen=True)
class TimeLimit:
    value: int
    unit: str  # wd / d / h

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ValueError(f"时限单位无效：{self.unit}（应为 wd、d 或 h）")
        if self.value <= 0:
            raise ValueError(f"时限必须为正数：{self.value}")

    def __str__(self) -> str:
        return f"{self.value}{self.unit}"

    def label(self) -> str:
        return f"{self.value}{UNITS[self.unit]}"


LIMIT_HINT = "写法：数字加单位，wd 为工作日、d 为自然日、h 为小时，如 10wd、15d、48h"


@lru_cache(maxsize=512)
def parse_limit(text: str) -> TimeLimit:
    """'10wd' → 10 working days, '15d' → 15 natural days, '48h' → 48 hours (TimeLimit is frozen,
    so the parsed value is shared)."""
    if not (text or "").strip():
        raise ValueError(f"请填写时限（{LIMIT_HINT}）")
    m = _LIMIT_RE.match(text or "")
    if not m:
        raise ValueError(f"时限格式无效：“{text}”（{LIMIT_HINT}）")
    return TimeLimit(int(m.group(1)), m.group(2).lower())


@lru_cache(maxsize=1)
def _statutory() -> tuple[frozenset[date], frozenset[date]]:
    """(statutory holidays, weekend days declared working days) for the covered years."""
    cn = holidays.China(years=range(FIRST_YEAR, LAST_YEAR + 1))
    return frozenset(cn.keys()), frozenset(cn.weekend_workdays)


def statutory_is_workday(day: date) -> bool:
    """The holiday table's answer, before any administrator's override."""
    off, makeup = _statutory()
    if day in makeup:
        return True
    if day in off:
        return False
    return day.weekday() < 5


def _statutory_workdays() -> tuple[int, ...]:
    """Ordinals of the statutory working days of the span, in order."""
    start, end = date(FIRST_YEAR, 1, 1).toordinal(), date(LAST_YEAR, 12, 31).toordinal()
    return tuple(o for o in range(start, end + 1) if statutory_is_workday(date.fromordinal(o)))


# The holiday table, read once when the module is imported (the `holidays` package computes
# forty years of Chinese holidays in about 0.1 s: it was paid inside a page's first run).
_STATUTORY_WORKDAYS = _statutory_workdays()


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@lru_cache(maxsize=32_768)
def end_of_day(day: date) -> datetime:
    """24:00 of a day in Asia/Shanghai (00:00 of the next), one shared object per day: a
    deadline is made thousands of times a page, and an aware datetime is immutable."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=TZ)


@lru_cache(maxsize=1024)
def working_days(n: int) -> TimeLimit:
    """The limit of n working days (frozen: one object per n, shared)."""
    return TimeLimit(n, "wd")


class WorkCalendar:
    """Working days, with overrides {date: is_workday} on top of the statutory table."""

    def __init__(self, overrides: dict[date, bool] | None = None):
        self.overrides = dict(overrides or {})
        self._start = date(FIRST_YEAR, 1, 1)
        days = _STATUTORY_WORKDAYS
        if self.overrides:
            lo, hi = self._start.toordinal(), date(LAST_YEAR, 12, 31).toordinal()
            on = {d.toordinal() for d, w in self.overrides.items()
                  if w and lo <= d.toordinal() <= hi}  # a day outside the span is not added
            off = {d.toordinal() for d, w in self.overrides.items() if not w}
            days = sorted((set(days) - off) | on)
        self._workdays = list(days)  # sorted ordinals of working days
        self._day_deadlines: dict[tuple, int] = {}
        self._day_deadline_times: dict[tuple, datetime] = {}  # (local day, unit, value)

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        return statutory_is_workday(day)

    def _check(self, day: date) -> None:
        if not (FIRST_YEAR <= day.year <= LAST_YEAR - 1):
            raise ValueError(f"日期超出工作日历范围（{FIRST_YEAR}–{LAST_YEAR - 1} 年）：{day}")

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day strictly after `day`."""
        self._check(day)
        i = bisect.bisect_right(self._workdays, day.toordinal())
        return date.fromordinal(self._workdays[i + n - 1])

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]."""
        lo = bisect.bisect_right(self._workdays, start.toordinal())
        hi = bisect.bisect_right(self._workdays, end.toordinal())
        return hi - lo

    def working_days_between_ts(self, start: int, end: int) -> int:
        """`working_days_between` the local days of two epoch seconds (China Standard Time,
        UTC+8 all year since 1992): a day's ordinal by arithmetic instead of a time-zone
        conversion, for counts over thousands of pairs."""
        lo = bisect.bisect_right(self._workdays, (start + 28800) // 86400 + _EPOCH_ORDINAL)
        hi = bisect.bisect_right(self._workdays, (end + 28800) // 86400 + _EPOCH_ORDINAL)
        return hi - lo

    def deadline(self, received_at: datetime, limit: TimeLimit) -> datetime:
        """The moment the limit runs out, as an aware datetime in Asia/Shanghai."""
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=TZ)
        if limit.unit == "h":
            return (received_at + timedelta(hours=limit.value)).astimezone(TZ)
        local_day = received_at.astimezone(TZ).date()
        key = (local_day, limit.unit, limit.value)
        due = self._day_deadline_times.get(key)
        if due is not None:  # a day limit's deadline depends only on the local day of receipt
            return due
        if limit.unit == "wd":
            last = self.add_working_days(local_day, limit.value)
        else:
            self._check(local_day)
            last = local_day + timedelta(days=limit.value)
        # 24:00 of the last day is 00:00 of the next.
        due = self._day_deadline_times[key] = end_of_day(last)
        return due


    def deadline_ts(self, received_ts: int, limit: TimeLimit) -> int:
        """`deadline` for a receipt time in epoch seconds, as epoch seconds. A day limit's
        deadline depends only on the local day of receipt, so it is computed once per day and
        limit (a million imported items fall on a few thousand). China Standard Time is UTC+8
        all year since 1992, before the calendar's first year."""
        if limit.unit == "h":
            return received_ts + limit.value * 3600
        key = ((received_ts + 28800) // 86400, limit.unit, limit.value)
        due = self._day_deadlines.get(key)
        if due is None:
            received = datetime.fromtimestamp(received_ts, TZ)
            due = self._day_deadlines[key] = int(self.deadline(received, limit).timestamp())
        return due


@lru_cache(maxsize=8)
def _calendar_for(overrides: frozenset) -> WorkCalendar:
    return WorkCalendar(dict(overrides))


def load_calendar(session) -> WorkCalendar:
    """The calendar with the overrides stored in the database (built once per set of overrides)."""
    from sqlalchemy import select

    from lib.models import CalendarOverride

    rows = session.execute(select(CalendarOverride.day, CalendarOverride.is_workday)).all()
    return _calendar_for(frozenset((d, bool(w)) for d, w in rows))
