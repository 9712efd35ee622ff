"""Working days and deadlines: holiday weeks, makeup days, year boundaries, overrides."""

from datetime import date, datetime, timedelta

import pytest

from lib import db
from lib.config import TZ
from lib.models import CalendarOverride
from lib.workdays import TimeLimit, WorkCalendar, load_calendar, parse_limit, statutory_is_workday

CAL = WorkCalendar()


def at(y, m, d, hh=10, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


@pytest.mark.parametrize("text,value,unit", [("10wd", 10, "wd"), ("15d", 15, "d"), ("48h", 48, "h"),
                                              (" 3WD ", 3, "wd")])
def test_parse_limit(text, value, unit):
    assert parse_limit(text) == TimeLimit(value, unit)


@pytest.mark.parametrize("text", ["", "10", "wd", "0wd", "-3d", "10w", "1.5d", "10 days"])
def test_parse_limit_rejects(text):
    with pytest.raises(ValueError, match="时限"):
        parse_limit(text)


def test_statutory_table_knows_holidays_and_makeup_days():
    assert not statutory_is_workday(date(2026, 10, 1))  # National Day
    assert statutory_is_workday(date(2026, 10, 10))  # Saturday declared a working day
    assert statutory_is_workday(date(2026, 2, 14))  # Saturday before Spring Festival
    assert not statutory_is_workday(date(2026, 2, 17))  # Spring Festival
    assert not statutory_is_workday(date(2026, 11, 28))  # an ordinary Saturday
    assert statutory_is_workday(date(2026, 11, 27))  # an ordinary Friday


def test_holiday_week_is_skipped():
    # Received the day before National Day: 10/8, 10/9, 10/10 (makeup Saturday), 10/12, 10/13.
    assert CAL.deadline(at(2026, 9, 30), parse_limit("5wd")) == at(2026, 10, 14, 0)


def test_makeup_working_day_counts():
    # Friday 2026-02-13; Saturday 2026-02-14 is a declared working day.
    assert CAL.deadline(at(2026, 2, 13), parse_limit("1wd")) == at(2026, 2, 15, 0)


def test_year_boundary_with_makeup_sunday():
    # 2026-01-01..03 are New Year holidays, Sunday 2026-01-04 is a working day.
    assert CAL.deadline(at(2025, 12, 31), parse_limit("3wd")) == at(2026, 1, 7, 0)


def test_receipt_on_a_holiday():
    # Received on a holiday: the first working day after it is 10/8, so one working day ends
    # at 24:00 on 10/8.
    first = CAL.add_working_days(date(2026, 10, 3), 1)
    assert first == date(2026, 10, 8)
    assert CAL.deadline(at(2026, 10, 3, 15), parse_limit("1wd")) == at(2026, 10, 9, 0)


def test_day_of_receipt_does_not_count():
    # Received Monday 09:00: 1 working day ends at 24:00 on Tuesday, not Monday.
    assert CAL.deadline(at(2026, 11, 23, 9), parse_limit("1wd")) == at(2026, 11, 25, 0)


def test_natural_days_and_hours():
    assert CAL.deadline(at(2026, 3, 2, 10), parse_limit("15d")) == at(2026, 3, 18, 0)
    # Natural days run through holidays.
    assert CAL.deadline(at(2026, 9, 30), parse_limit("3d")) == at(2026, 10, 4, 0)
    assert CAL.deadline(at(2026, 3, 2, 10, 30), parse_limit("48h")) == at(2026, 3, 4, 10, 30)


def test_local_day_is_china_time():
    # 20:00 UTC on 1 March is 04:00 on 2 March in Zhanjiang: the day of receipt is 2 March (Mon).
    from datetime import UTC

    received = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    assert CAL.deadline(received, parse_limit("1wd")) == at(2026, 3, 4, 0)


def test_working_days_between():
    assert CAL.working_days_between(date(2026, 9, 30), date(2026, 10, 13)) == 5


def test_override_beats_the_table():
    cal = WorkCalendar({date(2026, 10, 8): False, date(2026, 11, 28): True})
    assert not cal.is_workday(date(2026, 10, 8))
    assert cal.deadline(at(2026, 9, 30), parse_limit("1wd")) == at(2026, 10, 10, 0)
    assert cal.deadline(at(2026, 11, 27), parse_limit("1wd")) == at(2026, 11, 29, 0)


def test_overrides_are_read_from_the_database(empty_engine):
    with db.session_scope(empty_engine) as s:
        s.add(CalendarOverride(day=date(2026, 10, 8), is_workday=False, note="台风停工"))
    with db.session_scope(empty_engine) as s:
        cal = load_calendar(s)
    assert cal.deadline(at(2026, 9, 30), parse_limit("1wd")) == at(2026, 10, 10, 0)


def test_outside_the_calendar_is_an_error():
    with pytest.raises(ValueError, match="工作日历范围"):
        CAL.deadline(at(1999, 5, 1), parse_limit("3wd"))


def test_every_limit_ends_at_local_midnight_or_exact_hours():
    start = at(2026, 1, 5, 9, 17)
    for n in range(1, 40):
        due = CAL.deadline(start + timedelta(days=n), parse_limit(f"{n}wd"))
        assert (due.hour, due.minute, due.second) == (0, 0, 0)
        assert due.tzinfo is not None


def test_deadline_ts_equals_deadline_at_any_time_of_any_day():
    """The importer's epoch-second deadline (cached per local day and limit) is `deadline`'s,
    around midnight and across holidays and their make-up working days included."""
    import random

    cal = WorkCalendar()
    rng = random.Random(5)
    start = datetime(2020, 1, 1, tzinfo=TZ)
    limits = [TimeLimit(5, "wd"), TimeLimit(1, "wd"), TimeLimit(15, "d"), TimeLimit(48, "h"),
              TimeLimit(20, "wd")]
    for _ in range(5000):
        received = start + timedelta(minutes=rng.randrange(7 * 366 * 24 * 60))
        if rng.random() < 0.2:  # just before and after local midnight
            received = received.replace(hour=rng.choice([0, 23]), minute=rng.choice([0, 59]))
        limit = rng.choice(limits)
        ts = int(received.timestamp())
        assert cal.deadline_ts(ts, limit) == int(cal.deadline(received, limit).timestamp()), \
            (received, limit)


def test_overrides_applied_to_the_precomputed_table_match_day_by_day():
    """The calendar starts from the statutory table read at import and applies overrides as
    sets; the result equals asking every day of the span in turn (overrides outside the span
    ignored)."""
    import random
    from datetime import date, timedelta

    from lib.workdays import FIRST_YEAR, LAST_YEAR, WorkCalendar, statutory_is_workday

    rng = random.Random(3)
    for _ in range(4):
        ov = {date(rng.randint(FIRST_YEAR - 1, LAST_YEAR + 1), rng.randint(1, 12),
                   rng.randint(1, 28)): rng.random() < 0.5 for _ in range(rng.randint(1, 30))}
        ref, d = [], date(FIRST_YEAR, 1, 1)
        while d <= date(LAST_YEAR, 12, 31):
            if ov[d] if d in ov else statutory_is_workday(d):
                ref.append(d.toordinal())
            d += timedelta(days=1)
        assert WorkCalendar(ov)._workdays == ref


def test_working_days_between_epoch_seconds_is_between_their_local_days():
    """`working_days_between_ts` counts what `working_days_between` counts for the days the
    two moments fall on in Asia/Shanghai, across midnight, holidays and an override."""
    import random
    from datetime import UTC

    rng = random.Random(7)
    base = datetime(2025, 12, 20, tzinfo=UTC)
    for cal in (CAL, WorkCalendar({date(2026, 10, 10): False, date(2026, 10, 4): True})):
        for _ in range(2000):
            a = base + timedelta(seconds=rng.randrange(0, 400 * 86400))
            b = a + timedelta(seconds=rng.randrange(0, 60 * 86400))
            want = cal.working_days_between(a.astimezone(TZ).date(), b.astimezone(TZ).date())
            assert cal.working_days_between_ts(int(a.timestamp()), int(b.timestamp())) == want
    # 16:00 UTC is midnight in Shanghai: one second either side falls on two local days.
    eve = int(datetime(2026, 9, 29, 15, 59, 59, tzinfo=UTC).timestamp())
    assert CAL.working_days_between_ts(eve, eve + 1) == 1  # Wed 30 Sep is a working day


def test_a_limit_left_blank_is_asked_for_and_a_bad_one_says_how_to_write_it():
    """系统设置 and the importer show these messages as they are."""
    for blank in ("", "  ", None):
        with pytest.raises(ValueError, match="^请填写时限（写法：数字加单位，wd 为工作日"):
            parse_limit(blank)
    with pytest.raises(ValueError, match="^时限格式无效：“五天”（写法：.*如 10wd、15d、48h）"):
        parse_limit("五天")
    assert parse_limit("3wd").label() == "3个工作日"
