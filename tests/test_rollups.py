"""Rollups never lie: the cockpit's counts through the rollups equal the base table's at many
random times, windows, regions, units and roles, after random writes (new items, a unit or a
deadline changed, reopened, cancelled on appeal, rule verdicts, deleted, contradictory times), with
and without the sweep's maintenance in between, and after a write that crashed half-way."""

import os
import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import delete, func, select, update

from lib import db, queries, rollups, scoring
from lib.access import SYSTEM, CurrentUser
from lib.config import TZ
from lib.models import (
    Item,
    Person,
    Post,
    Region,
    RollupCell,
    RollupChange,
    RollupDirty,
    RollupSnapshot,
    Subsystem,
    Unit,
)

NOW = datetime(2026, 6, 15, 10, 30, tzinfo=TZ)
H = timedelta(hours=1)
D = timedelta(days=1)


HANDLERS: dict[int, list[int]] = {}  # unit: its people, who handle items (set by _world)


def _world(s):
    units = [(u.id, u.region_id, u.level) for u in s.scalars(select(Unit).order_by(Unit.id))][:12]
    subs = [x.id for x in s.scalars(select(Subsystem).order_by(Subsystem.id))][:8]
    counties = [r.id for r in s.scalars(select(Region).where(Region.level == "county"))]
    if s.scalar(select(Person.id).limit(1)) is None:  # two posts and three people in six units
        for unit, _, _ in units[:6]:
            posts = [Post(unit_id=unit, name=f"岗位{unit}-{k}") for k in range(2)]
            s.add_all(posts)
            s.flush()
            s.add_all([Person(name=f"经办人{unit}-{k}", unit_id=unit, post_id=posts[k % 2].id, rank="科员")
                       for k in range(3)])
        s.flush()
    HANDLERS.clear()
    for person in s.scalars(select(Person)):
        HANDLERS.setdefault(person.unit_id, []).append(person.id)
    return units, subs, counties


def _handler(n: int, unit: int) -> int | None:
    """A handler of the unit for most items (of another unit now and then, or none), drawn from
    its own generator so the items' other fields are drawn as before."""
    rng = random.Random(n * 7919 + unit)
    r = rng.random()
    if r < 0.3 or not HANDLERS:
        return None
    if r < 0.35:
        return rng.choice(sorted(p for ps in HANDLERS.values() for p in ps))
    return rng.choice(HANDLERS[unit]) if unit in HANDLERS else None


def _random_item(rng, n, units, subs, counties):
    unit, unit_region, level = rng.choice(units)
    recv = NOW + timedelta(seconds=rng.randint(-400 * 86400, 20 * 86400))
    due = recv + timedelta(seconds=rng.randint(3600, 30 * 86400))
    done = None
    r = rng.random()
    if r < 0.6:
        done = recv + timedelta(seconds=rng.randint(60, 40 * 86400))
    elif r < 0.63:
        done = recv - timedelta(hours=rng.randint(1, 48))  # done before receipt: contradictory
    if rng.random() < 0.03:
        recv = None  # grey
    if rng.random() < 0.03:
        due = recv - timedelta(days=2) if recv else None
    return Item(external_id=f"R-{n}", subsystem_id=rng.choice(subs), unit_id=unit,
                handler_id=_handler(n, unit),
                region_id=unit_region if level == "county" else rng.choice(counties + [None]),
                received_at=recv, deadline=due, completed_at=done,
                state="completed" if done else "open",
                card_cancelled=rng.random() < 0.05, verdict=rng.choice((0,) * 12 + (1, 2)))


def _random_items(engine, seed: int, n: int):
    """n random items written; (the generator, units, subsystems, counties) for what follows."""
    rng = random.Random(seed)
    with db.session_scope(engine) as s:
        units, subs, counties = _world(s)
        s.add_all([_random_item(rng, k, units, subs, counties) for k in range(n)])
    return rng, units, subs, counties


def _edit(rng, s, item, units, subs, counties):
    what = rng.choice(("unit", "deadline", "reopen", "complete", "cancel", "verdict", "region",
                       "subsystem", "received", "delete", "handler"))
    if what == "handler":  # only the handler: the kept figures per handler must notice
        item.handler_id = _handler(rng.randint(0, 10**6), item.unit_id)
    elif what == "unit":
        item.unit_id = rng.choice(units)[0]
    elif what == "deadline":
        base = item.deadline or NOW
        item.deadline = base + timedelta(seconds=rng.randint(-20 * 86400, 20 * 86400))
    elif what == "reopen":
        item.completed_at, item.state = None, "open"
    elif what == "complete":
        item.completed_at = NOW + timedelta(seconds=rng.randint(-30 * 86400, 5 * 86400))
        item.state = "completed"
    elif what == "cancel":
        item.card_cancelled = not item.card_cancelled
    elif what == "verdict":
        item.verdict = rng.choice((0, 1, 2))
    elif what == "region":
        item.region_id = rng.choice(counties + [None])
    elif what == "subsystem":
        item.subsystem_id = rng.choice(subs)
    elif what == "received":
        item.received_at = NOW + timedelta(seconds=rng.randint(-300 * 86400, 10 * 86400))
    else:
        s.delete(item)


def _check_counts(s, rng, units, counties, as_of, source: str) -> None:
    """The counts at `as_of` for a random window, county, unit and role: from `source`, equal
    to the base table's."""
    window = rng.choice((1, 7, 30, 90, 365, None))
    region = rng.choice([None, None, *counties])
    unit = rng.choice([None, None, *[u for u, _, _ in units]])
    user = SYSTEM
    if rng.random() < 0.25:
        unit = rng.choice(units)[0]
        user = CurrentUser(None, "staff", "经办", frozenset({"staff"}), unit_id=unit)
    subs = None
    if rng.random() < 0.3:  # a domain page's subsystems only
        every = sorted(s.scalars(select(Subsystem.id)))
        subs = sorted(rng.sample(every, rng.randint(0, len(every))))
    got = queries.light_counts(s, user=user, as_of=as_of, window_days=window,
                               region_id=region, unit_id=unit, subsystem_ids=subs)
    want = queries.direct_light_counts(s, user=user, as_of=as_of, window_days=window,
                                       region_id=region, unit_id=unit, subsystem_ids=subs)
    assert got.attrs["source"] == source
    assert rollups.frames_equal(got, want), (as_of, window, region, unit, subs)
    if subs is not None:  # the same rows as the whole city's counts cut to those subsystems
        whole = queries.light_counts(s, user=user, as_of=as_of, window_days=window,
                                     region_id=region, unit_id=unit)
        assert set(got["subsystem_id"]) <= set(subs)
        assert rollups.frames_equal(
            got, whole[whole["subsystem_id"].isin(subs)].reset_index(drop=True)), subs


def _compare(engine, rng, units, counties, times: int, start=NOW):
    with db.session_scope(engine, write=False) as s:
        for _ in range(times):
            as_of = start + timedelta(seconds=rng.randint(0, 60 * 86400))
            _check_counts(s, rng, units, counties, as_of, "rollups")


def _compare_month_ends(engine, rng, units, counties, times: int):
    """The city at past months' ends: through the snapshots, equal to the base table."""
    with db.session_scope(engine, write=False) as s:
        st = rollups.state(s)
        days = rollups.month_starts(st.snap_from, st.snap_until)
        assert len(days) >= 10
        for _ in range(times):
            as_of = datetime.fromtimestamp(rollups.snapshot_time(rng.choice(days)),
                                           UTC).astimezone(TZ)
            assert as_of.time().isoformat() == "23:59:59" and (as_of + D).day == 1
            _check_counts(s, rng, units, counties, as_of, "snapshot")
        assert rollups.as_of_source(s, as_of - H) == "direct"  # not a month's end


def _compare_lists(engine, rng, units, counties, times: int, start=NOW):
    """Item lists: the tally through the rollups equals the base table's, and a page read from
    the list's head equals the same slice of the whole list sorted urgent first."""
    domains = [None, None, "POWER", "MARKET", "EFFICIENCY"]
    head_min, queries.HEAD_MIN_ROWS = queries.HEAD_MIN_ROWS, 0  # the head's read, however short
    try:
        with db.session_scope(engine, write=False) as s:
            for _ in range(times):
                flt = queries.ItemFilter(
                    as_of=start + timedelta(seconds=rng.randint(0, 60 * 86400)),
                    window_days=rng.choice((7, 30, 365, None)),
                    region_id=rng.choice([None, None, *counties]),
                    unit_id=rng.choice([None, None, None, *[u for u, _, _ in units]]),
                    domain_code=rng.choice(domains), light=rng.choice((None, None, "red", "yellow")))
                page, per = rng.randint(1, 4), rng.choice((3, 10, 40))
                got = queries.item_page(s, user=SYSTEM, flt=flt, page=page, per_page=per)
                os.environ["ESUP_ROLLUPS"] = "off"
                try:
                    whole = queries.item_page(s, user=SYSTEM, flt=flt, per_page=None)
                finally:
                    os.environ.pop("ESUP_ROLLUPS")
                assert got.counts == whole.counts, flt
                # The tally cut from the page's own counts (every county and unit) is the same.
                counts = queries.light_counts(s, user=SYSTEM, as_of=flt.as_of,
                                              window_days=flt.window_days)
                cut = queries.item_page(s, user=SYSTEM, flt=flt, page=page, per_page=per,
                                        counts=counts)
                assert cut.counts == whole.counts, flt
                first = (got.page - 1) * per
                assert [r.id for r in got.rows] == [r.id for r in whole.rows][first:first + per], flt
    finally:
        queries.HEAD_MIN_ROWS = head_min


def _compare_rankings(engine, rng, times: int):
    """Rankings of units, posts and persons through the kept monthly figures equal those
    judged from the items."""
    periods = ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2025", "2026", "2026-03", "2026-05",
               "2026-06", "2026-07"]
    cols = ["code", "items", "cases", "on_time", "red", "yellow", "rank", "ranked"]
    ranked = 0
    with db.session_scope(engine, write=False) as s:
        for _ in range(times):
            period = scoring.Period.parse(rng.choice(periods))
            span = (period.end - period.start).total_seconds()
            as_of = rng.choice([None, period.start + timedelta(
                seconds=rng.randint(3600, int(span) + 90 * 86400))])
            level = rng.choice(("unit", "unit", "post", "person"))
            got = scoring.compute(s, period, level, as_of=as_of)
            if period.start <= datetime(2026, 5, 1, tzinfo=TZ) <= period.end - D:
                assert scoring.kept_figures(s, period, period.end, level) is not None  # May is kept
            ranked += int(got.table["ranked"].sum())
            os.environ["ESUP_ROLLUPS"] = "off"
            try:
                want = scoring.compute(s, period, level, as_of=as_of)
            finally:
                os.environ.pop("ESUP_ROLLUPS")
            a, b = got.table, want.table
            assert a[cols].equals(b[cols]), (period, as_of, level)
            assert ((a["score"] - b["score"]).abs().fillna(0) < 1e-9).all(), (period, as_of, level)
            assert got.monthly["cases"].sum() == want.monthly["cases"].sum()
    assert ranked > 0


def test_month_days():
    assert rollups.date_of(rollups.day_number(date(2026, 2, 28))) == date(2026, 2, 28)
    first = rollups.day_number(date(2025, 11, 15))
    last = rollups.day_number(date(2026, 3, 1))
    assert [rollups.date_of(d) for d in rollups.month_starts(first, last)] == [
        date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    end_of_feb = datetime(2026, 2, 28, 23, 59, 59, tzinfo=TZ)
    assert rollups.snapshot_day(int(end_of_feb.timestamp())) == rollups.day_number(date(2026, 3, 1))
    assert rollups.snapshot_day(int(end_of_feb.timestamp()) - 1) is None
    assert rollups.snapshot_day(int(datetime(2026, 2, 27, 23, 59, 59, tzinfo=TZ).timestamp())) is None


def test_cover_is_exact():
    rng = random.Random(1)
    for _ in range(500):
        a = rng.randint(0, 3000)
        b = a + rng.randint(-2, 800)
        days = [d for s, lo, hi in rollups.cover(a, b) for bk in range(lo, hi + 1)
                for d in range(bk * s, bk * s + s)]
        assert days == list(range(a, b + 1))
    # The top level (45 years): from day 0 to the end of a bucket, one cell per bucket.
    assert rollups.cover(0, 16383) == [(16384, 0, 0)]
    assert rollups.cover(0, 2 * 16384 + 70) == [(16384, 0, 1), (64, 512, 512), (1, 32832, 32838)]


@pytest.mark.parametrize("few_days", [0, 10**6], ids=["dirty-days-joined", "dirty-days-one-by-one"])
def test_rollups_equal_the_base_table(empty_engine, monkeypatch, few_days):
    # The sweep reads a few dirty days one by one through their time index, many through one
    # join with the markers: both ways are checked.
    monkeypatch.setattr(rollups, "FEW_DAYS", few_days)
    if few_days:  # and the rebuild's reads in many small parts, whose sums must add up
        monkeypatch.setattr(rollups, "SNAPSHOT_CHUNK", 37)
        monkeypatch.setattr(scoring, "SCAN_CHUNK", 41)
    engine = empty_engine
    rng, units, subs, counties = _random_items(engine, 16, 500)
    # Everything written since the (empty) build is dirty: read live, still exact.
    _compare(engine, rng, units, counties, 15)
    with db.session_scope(engine) as s:
        assert rollups.maintain(s, NOW)["dirty"] > 0
        assert rollups.dirty_count(s) == 0
    _compare(engine, rng, units, counties, 15)
    _compare_month_ends(engine, rng, units, counties, 15)
    _compare_rankings(engine, rng, 6)
    _compare_lists(engine, rng, units, counties, 20)
    with db.session_scope(engine, write=False) as s:
        assert rollups.verify(s, NOW + D) == []
        assert s.scalar(select(RollupCell.n).limit(1)) is not None
        assert s.scalar(select(RollupSnapshot.n).limit(1)) is not None

    sweep = NOW
    for rnd in range(3):
        with db.session_scope(engine) as s:
            ids = list(s.scalars(select(Item.id)))
            for iid in rng.sample(ids, 60):
                item = s.get(Item, iid)
                if item is not None:
                    _edit(rng, s, item, units, subs, counties)
            s.add_all([_random_item(rng, 1000 * (rnd + 1) + n, units, subs, counties)
                       for n in range(40)])
        _compare(engine, rng, units, counties, 10, sweep)  # dirty, before the sweep
        _compare_month_ends(engine, rng, units, counties, 10)  # stale snapshots read live
        _compare_rankings(engine, rng, 4)  # stale months judged live
        _compare_lists(engine, rng, units, counties, 8, sweep)
        sweep += timedelta(hours=rng.randint(1, 200))
        with db.session_scope(engine) as s:
            rollups.maintain(s, sweep)
        with db.session_scope(engine, write=False) as s:
            assert rollups.verify(s, sweep) == []
        _compare(engine, rng, units, counties, 10, sweep)  # after the sweep
        _compare_month_ends(engine, rng, units, counties, 10)
        _compare_rankings(engine, rng, 4)
        with db.session_scope(engine, write=False) as s:
            # Before the watermark the base table answers, and says so.
            assert rollups.as_of_source(s, sweep - H) == "direct"
            assert rollups.as_of_source(s, sweep + H) == "rollups"
            old = queries.light_counts(s, user=SYSTEM, as_of=sweep - 3 * D, window_days=30)
            assert old.attrs["source"] == "direct"

    # A write that crashes half-way leaves neither the items nor the markers.
    with db.session_scope(engine, write=False) as s:
        before = rollups.dirty_count(s)
    with pytest.raises(RuntimeError), db.session_scope(engine) as s:
        item = s.scalar(select(Item).where(Item.completed_at.is_not(None)).limit(1))
        item.unit_id = units[-1][0]
        item.completed_at, item.state = None, "open"
        s.flush()
        s.execute(delete(Item).where(Item.id == item.id + 1))
        raise RuntimeError("crash in the middle of a write")
    with db.session_scope(engine, write=False) as s:
        assert rollups.dirty_count(s) == before
        assert rollups.verify(s, sweep) == []
    _compare(engine, random.Random(5), units, counties, 10, sweep)
    _compare_month_ends(engine, random.Random(6), units, counties, 10)


def test_a_month_end_passed_is_snapshotted_by_the_sweep(empty_engine):
    rng, units, subs, counties = _random_items(empty_engine, 11, 300)
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)  # 2026-06-15: the last snapshot is of May's end
        assert rollups.date_of(rollups.state(s).snap_until) == date(2026, 6, 1)
    end_of_june = datetime(2026, 6, 30, 23, 59, 59, tzinfo=TZ)
    with db.session_scope(empty_engine, write=False) as s:
        assert rollups.as_of_source(s, end_of_june) == "rollups"  # after the watermark: live
    with db.session_scope(empty_engine) as s:
        out = rollups.maintain(s, datetime(2026, 7, 1, 8, 0, tzinfo=TZ))
        assert out["snapshots_added"] == 1
        assert rollups.verify(s, datetime(2026, 7, 1, 8, 0, tzinfo=TZ)) == []
    with db.session_scope(empty_engine, write=False) as s:
        got = queries.light_counts(s, user=SYSTEM, as_of=end_of_june, window_days=365)
        want = queries.direct_light_counts(s, user=SYSTEM, as_of=end_of_june, window_days=365)
        assert got.attrs["source"] == "snapshot" and rollups.frames_equal(got, want)


def test_drift_is_named_and_rebuild_repairs_it(empty_engine):
    rng, units, subs, counties = _random_items(empty_engine, 7, 200)
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)
        assert rollups.verify(s, NOW) == []
        cell = s.scalars(select(RollupCell).where(RollupCell.size == 1)).first()
        cell.n += 1  # a cell that lies
        s.flush()
        drift = rollups.verify(s, NOW)
        assert drift and any("cell" in x for x in drift)
        rollups.rebuild(s, NOW)
        assert rollups.verify(s, NOW) == []
        snap = s.scalars(select(RollupSnapshot).where(RollupSnapshot.n > 1)).first()
        snap.overdue += 1  # a snapshot that lies
        s.flush()
        drift = rollups.verify(s, NOW)
        assert drift and any("snapshot" in x for x in drift)
        rollups.rebuild(s, NOW)
        assert rollups.verify(s, NOW) == []


def _kept(s) -> dict:
    """Every month-end snapshot and kept monthly figure, as plain rows (the efficiency points'
    sums to 1e-6: parts read in another order add the same floats in another order)."""
    from lib.models import ScoreHandlerMonth, ScoreMonth

    out = {}
    for model in (RollupSnapshot, ScoreMonth, ScoreHandlerMonth):
        cols = [c for c in model.__table__.columns if c.name != "id"]
        out[model.__tablename__] = sorted(
            tuple(round(v, 6) if isinstance(v, float) else v for v in row)
            for row in s.execute(select(*cols)).all())
    return out


def _odd_items(engine) -> None:
    """Items whose times contradict each other in each way `ODD_SQL` names, and items with
    missing times beside them (odd or not by the times they have)."""
    with db.session_scope(engine) as s:
        units, subs, _ = _world(s)
        epoch0 = datetime(1970, 1, 1, tzinfo=UTC)
        times = [  # received, deadline, completed
            (None, epoch0 - D, None),  # a deadline before 1970, no receipt
            (None, None, epoch0 - H),  # completed before 1970, no receipt
            (NOW - 5 * D, None, None),  # received, no deadline: not odd
            (NOW - 5 * D, None, NOW - 9 * D),  # no deadline, completed before receipt
            (NOW - 5 * D, NOW - 9 * D, None),  # due before receipt, open
            (NOW - 5 * D, NOW - 9 * D, NOW - 2 * D),  # due before receipt, completed
            (None, NOW + D, NOW - D),  # no receipt: not odd
            (NOW - 40 * D, NOW - 30 * D, NOW - 35 * D),  # completed early: not odd
        ]
        for k, (recv, due, done) in enumerate(times * 3):
            unit = units[k % len(units)][0]
            s.add(Item(external_id=f"ODD-{k}", subsystem_id=subs[k % len(subs)], unit_id=unit,
                       handler_id=_handler(k, unit), region_id=None, received_at=recv,
                       deadline=due, completed_at=done, state="completed" if done else "open",
                       card_cancelled=False, verdict=0))


def test_the_odd_rows_in_numpy_are_the_odd_rows_in_sql(empty_engine):
    """`rollups.odd_mask` (the rebuild's filter in numpy) selects the rows `rollups.odd()`
    selects in SQL, NULLs included."""
    _random_items(empty_engine, 29, 300)
    _odd_items(empty_engine)
    recv, due, done = (rollups._ts(c) for c in (Item.received_at, Item.deadline,
                                                 Item.completed_at))
    with db.session_scope(empty_engine, write=False) as s:
        a = db.numbers(s.execute(select(Item.id, recv, due, done).order_by(Item.id)).all())
        want = set(s.scalars(select(Item.id).where(rollups.odd())))
        kept = set(s.scalars(select(Item.id).where(rollups.not_odd())))
    got = set(a[rollups.odd_mask(a[:, 1], a[:, 2], a[:, 3]), 0].astype(int))
    assert len(want) > 15 and got == want
    assert kept == set(a[:, 0].astype(int)) - want  # not_odd() is its complement


def test_the_first_receipt_read_per_unit_is_the_tables_least(empty_engine):
    """`rollups.first_receipt` (each unit's first receipt through its index, then the least)
    is the least receipt of the items whose times do not contradict each other, as a scan of
    the table gives it: an odd item received earlier than every other is passed over, an item
    without a receipt too; None when no item counts."""
    with db.session_scope(empty_engine, write=False) as s:
        assert rollups.first_receipt(s) is None
    _random_items(empty_engine, 43, 300)
    _odd_items(empty_engine)

    def scanned(s):
        return s.scalar(select(func.min(rollups._ts(Item.received_at))).where(rollups.not_odd()))

    with db.session_scope(empty_engine) as s:
        units, subs, _ = _world(s)
        first = scanned(s)
        assert rollups.first_receipt(s) == first
        for k, (recv, due, done) in enumerate((  # earlier than all, each odd or without receipt
                (NOW - 900 * D, NOW - 901 * D, None), (NOW - 950 * D, NOW - 10 * D, NOW - 990 * D),
                (None, NOW - 999 * D, None))):
            s.add(Item(external_id=f"FIRST-{k}", subsystem_id=subs[0], unit_id=units[k][0],
                       received_at=recv, deadline=due, completed_at=done,
                       state="completed" if done else "open", card_cancelled=False, verdict=0))
        s.flush()
        assert scanned(s) == first and rollups.first_receipt(s) == first
        s.add(Item(external_id="FIRST-ok", subsystem_id=subs[0], unit_id=units[-1][0],
                   received_at=NOW - 800 * D, deadline=NOW - 790 * D, completed_at=None,
                   state="open", card_cancelled=False, verdict=0))
        s.flush()
        assert rollups.first_receipt(s) == scanned(s) == int((NOW - 800 * D).timestamp())


def test_the_rebuilds_one_read_equals_each_part_read_alone(empty_engine, monkeypatch):
    """`rebuild` reads the items once for the month-end snapshots and the monthly figures (each
    part filtered in numpy as each one's own read filters it in SQL): what it keeps equals what
    the two reads alone keep (`rebuild_snapshots`, `scoring.rebuild_months`, which the sweep
    still runs), read in many parts, with contradictory times, NULLs, handlers and verdicts."""
    _random_items(empty_engine, 23, 700)
    _odd_items(empty_engine)
    monkeypatch.setattr(rollups, "SNAPSHOT_CHUNK", 53)  # many parts (summed as they come)
    monkeypatch.setattr(scoring, "SCAN_CHUNK", 89)
    with db.session_scope(empty_engine) as s:
        odd = s.scalar(select(func.count()).select_from(Item).where(rollups.odd()))
        assert odd > 10  # the rows the snapshots leave out are there
        built = rollups.rebuild(s, NOW)
        assert built["snapshots"] >= 10 and built["score_months"] >= 10
        one_read = _kept(s)
        assert all(len(rows) > 20 for rows in one_read.values()), {
            k: len(v) for k, v in one_read.items()}
        st = rollups.state(s)
        watermark = int(st.overdue_until)
        assert rollups.rebuild_snapshots(s, st, watermark) == built["snapshots"]
        assert scoring.rebuild_months(s, st, watermark) == built["score_months"]
        s.flush()
        assert _kept(s) == one_read
        assert rollups.verify(s, NOW) == []
        # A loader holding the rows (`bench.build`) gives them instead of the read: in another
        # order and other parts, the same rows kept.
        rows = np.concatenate(list(rollups.raw_items(s)))
        assert rows.shape == (len(rows), len(rollups.RAW_ITEM_COLUMNS)) and len(rows) > 700
        # Read without joins, joined in numpy: the columns the join in SQL gives, row for row.
        stmt = scoring._item_stmt((Item.subsystem_id, func.coalesce(Item.region_id, -1)))[0]
        want = db.numbers(s.execute(stmt.order_by(Item.id)).all())
        got = rollups._joined(rows[np.argsort(rows[:, 0])], *rollups._lookups(s))
        np.testing.assert_array_equal(got, want)
        post = scoring.ITEM_COLUMNS.index("post_id")
        assert (~np.isnan(want[:, post])).sum() > 100 and np.isnan(want[:, post]).sum() > 100
        rows = rows[np.random.default_rng(3).permutation(len(rows))]
        assert rollups.rebuild(s, NOW, items=np.array_split(rows, 7)) == built
        assert _kept(s) == one_read
        missing = rows[rows[:, 1] != rows[0, 1]]  # a loader that left a unit out: not the same
        rollups.rebuild(s, NOW, items=[missing])
        assert _kept(s) != one_read
        # Judged ahead (`bench.build`: while the indexes are built), before the rebuild: the
        # same rows kept; rows whose ranges are not the table's refused, nothing half-kept.
        ahead = rollups.judge_ahead(s, NOW, lambda: np.array_split(rows, 5)).start()
        assert rollups.rebuild(s, NOW, ahead=ahead) == built
        assert _kept(s) == one_read
        received = rollups.RAW_ITEM_COLUMNS.index("received")
        first = np.nanargmin(np.where(rollups.odd_mask(rows[:, received], rows[:, received + 1],
                                                       rows[:, received + 2]),
                                      np.nan, rows[:, received]))
        later = rows.copy()
        later[first, received] -= 400 * 86400  # the first receipt earlier than the table's
        for wrong, at in ((later, NOW), (rows, NOW + timedelta(minutes=5))):
            ahead = rollups.judge_ahead(s, at, lambda wrong=wrong: [wrong])
            with pytest.raises(ValueError, match="judged ahead"), s.begin_nested():
                rollups.rebuild(s, NOW, ahead=ahead)
            assert _kept(s) == one_read


def test_the_numpy_lookup_is_an_outer_join():
    """`rollups._lookup` (the rebuild's join done in numpy) gives a key's value, and NaN for a
    NULL key, a key not there or a NULL value, whatever the ids."""
    keys = np.array([np.nan, -5, 0, 1, 2, 3, 1e10, 7, 5])
    got = rollups._lookup(keys, {-5: 50, 1: None, 2: 20, 7: 70, 10**10: 99})
    np.testing.assert_array_equal(got, [np.nan, 50, np.nan, np.nan, 20, np.nan, 99, 70, np.nan])
    assert np.isnan(rollups._lookup(keys, {})).all()


def _sql_day_cells(s, watermark: int) -> list[tuple]:
    """The day cells counted by the database (`_cell_select`, as `verify` counts them)."""
    out = []
    for kind, where in (("c", rollups._closed_where()),
                        ("o", rollups._overdue_where(watermark))):
        out += [tuple(int(v) if k else v for k, v in enumerate(row))
                for row in s.execute(rollups._cell_select(kind, *where)).all()]
    return sorted(out)


def _kept_day_cells(s) -> list[tuple]:
    c = RollupCell
    return sorted(tuple(int(v) if k else v for k, v in enumerate(row)) for row in s.execute(
        select(c.kind, c.size, c.bucket, c.unit_id, c.subsystem_id, c.region_id, c.n, c.red,
               c.near, c.grey).where(c.size == 1)).all())


def test_the_rebuilds_day_cells_in_numpy_are_the_sql_counts(empty_engine, monkeypatch):
    """The rebuild counts the day cells in numpy from its one read (`_cells_of`); the database's
    GROUP BY (`_cell_select`, which `verify` and the sweep's dirty days use) gives the same
    cells, row for row: random items, contradictory and missing times, cancelled cards,
    verdicts on closed and open items, items completed exactly at the deadline and a second
    after, items due just before and at the watermark, read in many parts."""
    rng, units, subs, counties = _random_items(empty_engine, 41, 900)
    _odd_items(empty_engine)
    watermark = rollups._watermark(NOW)
    at = datetime.fromtimestamp(watermark, UTC)
    with db.session_scope(empty_engine) as s:
        unit, sub = units[0][0], subs[0]
        edge = [  # received, deadline, completed, cancelled, verdict
            (NOW - 9 * D, NOW - 2 * D, NOW - 2 * D, False, 0),  # done at the deadline: on time
            (NOW - 9 * D, NOW - 2 * D, NOW - 2 * D + timedelta(seconds=1), False, 0),  # late
            (NOW - 9 * D, NOW - 2 * D, NOW - 2 * D + H, True, 0),  # late, card cancelled
            (NOW - 9 * D, NOW - 2 * D, NOW - 3 * D, False, 1),  # on time, yellow verdict
            (NOW - 9 * D, NOW - 2 * D, NOW - 3 * D, False, 2),  # on time, red verdict
            (NOW - 9 * D, NOW - 2 * D, NOW - 3 * D, True, 2),  # red verdict cancelled
            (NOW - 9 * D, NOW - 2 * D, NOW - D, False, 1),  # late and a yellow verdict
            (None, NOW - 2 * D, NOW - D, False, 1),  # closed, no receipt: grey
            (NOW - 9 * D, None, NOW - D, False, 2),  # closed, no deadline: grey
            (NOW - 9 * D, at - timedelta(seconds=1), None, False, 0),  # due just before
            (NOW - 9 * D, at, None, False, 0),  # due at the watermark: not yet overdue
            (NOW - 9 * D, NOW - 4 * D, None, True, 1),  # overdue, cancelled, yellow verdict
            (None, NOW - 4 * D, None, False, 2),  # overdue, no receipt: grey
        ]
        for k, (recv, due, done, cancelled, verdict) in enumerate(edge * 2):
            s.add(Item(external_id=f"EDGE-{k}", subsystem_id=sub, unit_id=unit,
                       region_id=None if k % 2 else counties[0], received_at=recv,
                       deadline=due, completed_at=done,
                       state="completed" if done else "open", card_cancelled=cancelled,
                       verdict=verdict))
    monkeypatch.setattr(rollups, "SNAPSHOT_CHUNK", 97)  # many parts, summed as they come
    monkeypatch.setattr(scoring, "FOLD_PARTS", 3)
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)
        assert int(rollups.state(s).overdue_until) == watermark
        kept, want = _kept_day_cells(s), _sql_day_cells(s, watermark)
        assert kept == want
        kinds = {row[0] for row in kept}
        assert kinds == {"c", "o"} and len(kept) > 300
        for col in (7, 8, 9):  # red, near and grey each counted somewhere
            assert sum(row[col] for row in kept) > 5, col
        assert rollups.verify(s, NOW) == []
        # A cell changed in the kept rows is drift the SQL names.
        s.execute(update(RollupCell).where(RollupCell.size == 1, RollupCell.kind == "c")
                  .values(near=RollupCell.near + 1))
        assert rollups.verify(s, NOW) != []


def test_a_cancelled_judgement_ahead_stops_and_is_never_kept(empty_engine):
    """`Ahead.cancel` (a loader that failed after starting the judgement): the thread stops at
    its next part instead of judging every row, and its half-made scan is refused by the
    rebuild, which keeps nothing of it."""
    import threading
    import time

    _random_items(empty_engine, 5, 60)
    started, taken = threading.Event(), []
    with db.session_scope(empty_engine) as s:
        rows = np.concatenate(list(rollups.raw_items(s)))
        rollups.rebuild(s, NOW)
        kept = _kept(s)

        def parts():
            for k in range(200):
                taken.append(k)
                if k == 1:
                    started.set()
                time.sleep(0.02)
                yield rows

        ahead = rollups.judge_ahead(s, NOW, parts).start()
        assert started.wait(30)
        ahead.cancel()
        t = time.perf_counter()
        with pytest.raises(RuntimeError, match="cancelled"), s.begin_nested():
            rollups.rebuild(s, NOW, ahead=ahead)
        assert time.perf_counter() - t < 5 and len(taken) < 20, len(taken)  # not 400 parts
        assert _kept(s) == kept


def test_many_dirty_days_are_read_in_parts(empty_engine):
    """Between two sweeps, up to MAX_DIRTY marked (unit, day)s are read live: their terms are
    OR-ed in parts of at most OR_TERMS (SQLite refuses an expression over 1,000 deep), and the
    counts equal the base table's."""
    from lib.models import RollupDirty

    rng, units, subs, counties = _random_items(empty_engine, 16, 400)
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)
        today = rollups.day_of(int(NOW.timestamp()))
        # every other day of 320 for each unit: as many dirty days, and clean gaps between them
        marks = [("c", u, today - 2 * k) for u, _, _ in units for k in range(160)]
        marks += [("o", u, today - 3 - 7 * k) for u, _, _ in units[:4] for k in range(10)]
        assert 1000 < len(marks) <= rollups.MAX_DIRTY
        s.add_all([RollupDirty(kind=k, unit_id=u, day=d) for k, u, d in marks])
    with db.read_scope(empty_engine) as s:
        for window in (30, 365, None):
            got = queries.light_counts(s, user=SYSTEM, as_of=NOW, window_days=window)
            want = queries.direct_light_counts(s, user=SYSTEM, as_of=NOW, window_days=window)
            assert got.attrs["source"] == "rollups"
            assert rollups.frames_equal(got, want), window


def test_rankings_when_no_item_has_a_handler(empty_engine):
    """Kept months with no handled items: posts and persons have nothing kept (an empty table
    read), and every level equals the base table's judgement."""
    _random_items(empty_engine, 31, 200)
    with db.session_scope(empty_engine) as s:
        s.execute(update(Item).values(handler_id=None))
        rollups.rebuild(s, NOW)
    _compare_rankings(empty_engine, random.Random(3), 10)
    with db.session_scope(empty_engine, write=False) as s:
        period = scoring.Period.parse("2026-Q1")
        for level in ("post", "person"):
            kept = scoring.kept_figures(s, period, NOW, level)
            assert kept is not None and kept.empty


def test_completing_an_old_item_makes_no_past_month_stale(empty_engine):
    """Migration 0025: a write that only completes or reopens an item marks the month-ends from
    the earlier completion on, not from the receipt; anything else marks from the receipt.
    The kept figures stay exact either way."""
    rng, units, subs, counties = _random_items(empty_engine, 23, 300)
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)
        old = s.scalar(select(Item).where(Item.completed_at.is_(None),
                                          Item.received_at < NOW - 200 * D,
                                          Item.verdict == 0).order_by(Item.id).limit(1))
        if old is None:  # the generator's items are random: make one that was open for long
            old = _random_item(rng, 999_999, units, subs, counties)
            old.received_at, old.deadline = NOW - 300 * D, NOW - 290 * D
            old.completed_at, old.state, old.verdict = None, "open", 0
            s.add(old)
            s.flush()
            rollups.maintain(s, NOW)
        iid = old.id
        s.execute(delete(RollupDirty))

    def snapshot_markers(s):
        return sorted(d for k, _, d in s.execute(
            select(RollupDirty.kind, RollupDirty.unit_id, RollupDirty.day)) if k == "s")

    def write(**values):
        with db.session_scope(empty_engine) as s:
            s.execute(update(Item).where(Item.id == iid).values(**values))
            markers = snapshot_markers(s)
        _compare_month_ends(empty_engine, rng, units, counties, 4)  # stale: read live
        _compare_rankings(empty_engine, rng, 2)
        with db.session_scope(empty_engine) as s:
            done = rollups.maintain(s, NOW)
            assert rollups.verify(s, NOW) == []
        return markers, done

    def untouched(done):
        return all(done.get(k, 0) == 0 for k in ("snapshots_recomputed", "score_months_recomputed",
                                                 "snapshots_changed", "score_months_changed"))

    # Completed now, after every kept month-end: nothing kept changes, nothing is recomputed.
    markers, done = write(completed_at=NOW, state="completed")
    assert markers == [rollups.day_of(rollups.epoch(NOW))]
    assert untouched(done) and done["changes_applied"] == 2
    # Moved to the first day of this month, after the last kept month-end (the snapshot of
    # that day stands for the moment before it): still nothing changes.
    first_day = datetime(2026, 6, 1, 10, 0, tzinfo=TZ)
    markers, done = write(completed_at=first_day)
    assert markers == [rollups.day_of(rollups.epoch(first_day))]
    assert untouched(done)
    # Its completion moved 100 days back: the month-ends from then on change (migration 0026:
    # the change is added to the kept rows, nothing is judged again; its deadline's month, long
    # past, judged it open either way).
    markers, done = write(completed_at=NOW - 100 * D)
    assert markers == [rollups.day_of(rollups.epoch(NOW - 100 * D))]
    assert done["snapshots_changed"] > 0 and done["score_months_changed"] == 0
    assert done["snapshots_recomputed"] == 0 and done["score_months_recomputed"] == 0
    # Reopened: from the completion it had.
    markers, _ = write(completed_at=None, state="open")
    assert markers == [rollups.day_of(rollups.epoch(NOW - 100 * D))]
    # Its deadline changed: from its receipt, as before.
    with db.session_scope(empty_engine, write=False) as s:
        recv = rollups.epoch(s.get(Item, iid).received_at)
    markers, done = write(deadline=NOW - 280 * D)
    assert markers == [rollups.day_of(recv)]
    assert done["snapshots_changed"] > 0 and done["score_months_changed"] > 0
    _compare_month_ends(empty_engine, rng, units, counties, 4)
    _compare_rankings(empty_engine, rng, 2)


def test_a_subsystems_new_yellow_share_is_not_read_from_the_old_rollups(empty_engine):
    """A subsystem's yellow share lights every item of it, closed or open, in every month: the
    kept counts, snapshots and monthly figures are forgotten in the same write, the base table
    answers until the sweep has rebuilt them, and they hold again after it."""
    from lib import settings

    rng, units, subs, counties = _random_items(empty_engine, 29, 400)
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)
        sub = s.get(Subsystem, subs[0])
        new_pct = 90 if sub.yellow_pct != 90 else 10
        admin = CurrentUser(id=None, username="admin", display_name="管理员",
                            roles=frozenset({"admin"}))
        limit = f"{sub.limit_value}{sub.limit_unit}"
        settings.update_subsystem(s, admin, sub.id, yellow_pct=new_pct, limit=limit)
        assert rollups.as_of_source(s, NOW) == "direct"  # in the same transaction already
    month_end = datetime(2026, 5, 31, 23, 59, 59, tzinfo=TZ)
    with db.session_scope(empty_engine, write=False) as s:
        for as_of in (NOW, month_end):
            got = queries.light_counts(s, user=SYSTEM, as_of=as_of, window_days=365)
            assert got.attrs["source"] == "direct"
        period = scoring.Period(2026, "quarter", 1)
        assert scoring.kept_figures(s, period, NOW) is None
    _compare_rankings(empty_engine, rng, 3)
    with db.session_scope(empty_engine) as s:
        assert rollups.maintain(s, NOW).get("rebuilt")
        assert rollups.verify(s, NOW) == []
        assert rollups.as_of_source(s, NOW) == "rollups"
    _compare(empty_engine, rng, units, counties, 6)
    _compare_month_ends(empty_engine, rng, units, counties, 4)
    _compare_rankings(empty_engine, rng, 3)


def test_the_sweep_judges_the_marked_units_again_when_the_log_cannot_be_added(
        empty_engine, monkeypatch):
    """Migration 0026's log is added to the kept rows; when it is too long (a large import), or
    it and the kept rows disagree (a count would go below zero), the sweep judges the marked
    units' items again, as before the log, and the kept figures are exact either way."""
    rng, units, subs, counties = _random_items(empty_engine, 31, 400)
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)
    # A long log: more than MAX_CHANGES versions.
    monkeypatch.setattr(rollups, "MAX_CHANGES", 5)
    with db.session_scope(empty_engine) as s:
        for iid in rng.sample(list(s.scalars(select(Item.id))), 20):
            _edit(rng, s, s.get(Item, iid), units, subs, counties)
    with db.session_scope(empty_engine) as s:
        done = rollups.maintain(s, NOW)
        assert "changes_applied" not in done and done["snapshots_recomputed"] > 0
        assert s.scalar(select(func.count()).select_from(RollupChange)) == 0
        assert rollups.verify(s, NOW) == []
    monkeypatch.setattr(rollups, "MAX_CHANGES", 50_000)
    # The kept rows disagree with the log: an item open at the kept month-ends is deleted, and
    # its unit's snapshots after its receipt were lost meanwhile (taking it away from them
    # would leave a count below zero).
    with db.session_scope(empty_engine) as s:
        item = s.scalar(select(Item).where(Item.completed_at.is_(None),
                                           Item.received_at < NOW - 100 * D)
                        .order_by(Item.id).limit(1))
        after = rollups.first_stale(rollups.day_of(rollups.epoch(item.received_at)))
        s.delete(item)
        s.flush()
        s.execute(update(RollupSnapshot).where(RollupSnapshot.unit_id == item.unit_id,
                                               RollupSnapshot.day >= after)
                  .values(n=0, grey=0, overdue=0, near=0))
    with db.session_scope(empty_engine) as s:
        done = rollups.maintain(s, NOW)
        assert "changes_applied" not in done and done["snapshots_recomputed"] > 0
        assert rollups.verify(s, NOW) == []
    _compare_month_ends(empty_engine, rng, units, counties, 4)
    _compare_rankings(empty_engine, rng, 2)


@pytest.mark.parametrize("log", [True, False], ids=["change-log", "units-judged-again"])
def test_a_completion_at_the_months_last_second_counts_in_that_month(empty_engine, monkeypatch,
                                                                      log):
    """A month is judged at 24:00 of its last day, 00:00 of the next month's first: a completion
    at that very second counts in the month before the marker's day (found in review)."""
    rng, units, subs, counties = _random_items(empty_engine, 37, 200)
    midnight = datetime(2026, 4, 1, tzinfo=TZ)
    with db.session_scope(empty_engine) as s:
        item = _random_item(rng, 424242, units, subs, counties)
        item.received_at, item.deadline = datetime(2026, 3, 2, 9, 0, tzinfo=TZ), midnight
        item.completed_at, item.state, item.verdict, item.card_cancelled = None, "open", 0, False
        s.add(item)
        s.flush()
        iid = item.id
        rollups.rebuild(s, NOW)
    with db.session_scope(empty_engine) as s:
        s.execute(update(Item).where(Item.id == iid).values(completed_at=midnight,
                                                            state="completed"))
    march = scoring.Period.parse("2026-03")

    def same(s):
        got = scoring.compute(s, march, "unit", as_of=NOW)
        os.environ["ESUP_ROLLUPS"] = "off"
        try:
            want = scoring.compute(s, march, "unit", as_of=NOW)
        finally:
            os.environ.pop("ESUP_ROLLUPS")
        cols = ["code", "items", "cases", "on_time", "red", "yellow"]
        return got.table[cols].equals(want.table[cols])
    with db.session_scope(empty_engine, write=False) as s:  # before the sweep: read live
        assert same(s) and rollups.verify(s, NOW) == []
    if not log:
        monkeypatch.setattr(rollups, "MAX_CHANGES", 0)
    with db.session_scope(empty_engine) as s:
        done = rollups.maintain(s, NOW)
        assert ("changes_applied" in done) == log
        assert rollups.verify(s, NOW) == [] and same(s)


def test_an_open_items_future_deadline_does_not_split_the_overdue_cells(empty_engine,
                                                                         monkeypatch):
    """Writing an open item marks the day of its deadline, usually after the watermark's day,
    where no overdue cell can be: the read of the overdue cells leaves such days out (they
    only split the unit's range, one more cell term each), and the counts stay exact."""
    rng, units, subs, counties = _random_items(empty_engine, 41, 300)
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)
        unit = units[0][0]
        for k in range(5):  # open items of one unit, due 3..7 days after NOW
            s.add(Item(external_id=f"F-{k}", subsystem_id=subs[0], unit_id=unit,
                       received_at=NOW - timedelta(days=1),
                       deadline=NOW + timedelta(days=3 + k), state="open"))
    seen = []
    real = rollups._cell_terms

    def spy(kind, a, b, dirty):
        if kind == "o":
            seen.append((b, {u: sorted(d) for u, d in dirty.items()}))
        return real(kind, a, b, dirty)

    monkeypatch.setattr(rollups, "_cell_terms", spy)
    with db.session_scope(empty_engine, write=False) as s:
        got = queries.light_counts(s, user=SYSTEM, as_of=NOW, window_days=365)
        watermark_day = rollups.day_of(int(rollups.state(s).overdue_until))
    assert got.attrs["source"] == "rollups"
    (_, dirty), = seen
    assert all(d <= watermark_day for days in dirty.values() for d in days)
    assert unit not in dirty  # its only marked days were after the watermark's
    monkeypatch.setenv("ESUP_ROLLUPS", "off")
    with db.session_scope(empty_engine, write=False) as s:
        want = queries.light_counts(s, user=SYSTEM, as_of=NOW, window_days=365)
    assert rollups.frames_equal(got, want)


def test_the_windows_first_day_is_its_cells_less_its_head(empty_engine, monkeypatch):
    """The window's first, partial day: when its head (the day's start to T − W) is the shorter
    span, the day's cells less the head's items read live; else the tail read live; with a
    marker on that day (a write since the sweep), the tail. Items completed just before, at and
    just after T − W, at both ends of the day: the base table's counts every time."""
    rng, units, subs, counties = _random_items(empty_engine, 31, 300)
    day = (NOW - 29 * D).astimezone(TZ).replace(hour=0, minute=0, second=0)  # local midnight
    edge = day + 3 * H  # T − W of the first T below
    times = [day + timedelta(seconds=x) for x in (0, 3600, -1)] + \
        [edge + timedelta(seconds=x) for x in (-1, 0, 1)] + [day + 12 * H, day + D - timedelta(seconds=1)] + \
        [day + 30 * D + H, day + 30 * D + 2 * H]  # and on the day of the first T, before it
    with db.session_scope(empty_engine) as s:
        for k, done in enumerate(times * 3):
            unit, region, _ = units[k % 4]
            s.add(Item(external_id=f"E-{k}", subsystem_id=subs[k % 3], unit_id=unit,
                       region_id=region, received_at=done - 2 * D, deadline=done - D * (k % 2),
                       completed_at=done, state="completed", card_cancelled=False, verdict=0))
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)
    heads = []
    hinted = db.hinted_cursor

    def spy(session, stmt, indexes, values=None):
        heads.append(indexes == ["ix_items_completed"])
        return hinted(session, stmt, indexes, values)

    monkeypatch.setattr(db, "hinted_cursor", spy)
    night, evening = edge + 30 * D, day + 20 * H + 30 * D  # T − W at 03:00 and at 20:00
    for as_of, head in ((night, True), (evening, False)):
        for unit in (None, units[1][0]):
            heads.clear()
            with db.session_scope(empty_engine, write=False) as s:
                got = queries.light_counts(s, user=SYSTEM, as_of=as_of, window_days=30,
                                           unit_id=unit)
                want = queries.direct_light_counts(s, user=SYSTEM, as_of=as_of, window_days=30,
                                                   unit_id=unit)
            assert got.attrs["source"] == "rollups"
            assert rollups.frames_equal(got, want), (as_of, unit)
            assert heads[-1] is head  # the head's own read comes last, only when used
    # A window of no days at all: T − W is T, its day not yet a whole day in the cells.
    with db.session_scope(empty_engine, write=False) as s:
        for as_of in (night, evening):
            got = queries.light_counts(s, user=SYSTEM, as_of=as_of, window_days=0)
            want = queries.direct_light_counts(s, user=SYSTEM, as_of=as_of, window_days=0)
            assert rollups.frames_equal(got, want), as_of
    # A write since the sweep marks that day: its cells are stale, the tail is read.
    with db.session_scope(empty_engine) as s:
        item = s.scalars(select(Item).where(Item.external_id == "E-0")).one()
        item.completed_at = day + 5 * H
    heads.clear()
    with db.session_scope(empty_engine, write=False) as s:
        got = queries.light_counts(s, user=SYSTEM, as_of=night, window_days=30)
        want = queries.direct_light_counts(s, user=SYSTEM, as_of=night, window_days=30)
    assert rollups.frames_equal(got, want) and not heads[-1]


def test_the_open_items_lights_come_from_the_pending_cells_at_any_minute(empty_engine):
    """The open items due after the watermark's day are counted from their pending cells (by the
    day each turns yellow, falls due or was received late, and its class): at many moments over
    three days, among them each item's own turn to yellow and deadline to the second, and after
    writes before and after the sweep, the counts equal the base table's; a cell that lies
    changes them, and `verify` names it."""
    from lib.lights import yellow_from
    from lib.models import RollupPending

    rng, units, subs, counties = _random_items(empty_engine, 53, 60)
    with db.session_scope(empty_engine) as s:
        pct = dict(s.execute(select(Subsystem.id, Subsystem.yellow_pct)).all())
        items = []
        for k in range(160):
            unit, region, _ = rng.choice(units)
            recv = NOW - timedelta(seconds=rng.randint(0, 10 * 86400))
            if rng.random() < 0.06:
                recv = NOW + timedelta(seconds=rng.randint(3600, 2 * 86400))  # received later
            items.append(Item(
                external_id=f"P-{k}", subsystem_id=rng.choice(subs), unit_id=unit,
                region_id=region, state="open",
                received_at=None if rng.random() < 0.05 else recv,
                deadline=max(recv, NOW) + timedelta(seconds=rng.randint(3600, 4 * 86400)),
                card_cancelled=rng.random() < 0.08, verdict=rng.choice((0,) * 8 + (1, 2))))
        s.add_all(items)
        s.flush()
        moments = [t for i in items if i.received_at is not None
                   for t in (yellow_from(i.received_at, i.deadline, pct[i.subsystem_id]),
                             i.deadline)]
        rollups.rebuild(s, NOW)
        kept = s.execute(select(RollupPending.cls, RollupPending.recv_day)).all()
        assert {c for c, _ in kept} == {0, 1, 2, 3, 4} and any(r >= 0 for _, r in kept)

    def compare(times):
        with db.session_scope(empty_engine, write=False) as s:
            for at in times:
                for window in (30, None):
                    got = queries.light_counts(s, user=SYSTEM, as_of=at, window_days=window)
                    want = queries.direct_light_counts(s, user=SYSTEM, as_of=at,
                                                       window_days=window)
                    assert got.attrs["source"] == "rollups", at
                    assert rollups.frames_equal(got, want), (at, window)

    second = timedelta(seconds=1)
    exact = [t + d for t in rng.sample(moments, 40) for d in (-second, 0 * second, second)]
    compare([NOW + timedelta(seconds=rng.randint(0, 3 * 86400)) for _ in range(30)]
            + [t for t in exact if t >= NOW])
    with db.session_scope(empty_engine) as s:  # writes: read live until the sweep
        for item in rng.sample(items, 25):
            item = s.get(Item, item.id)
            _edit(rng, s, item, units, subs, counties)
    compare([NOW + timedelta(seconds=rng.randint(0, 3 * 86400)) for _ in range(15)])
    later = NOW + timedelta(hours=30)
    with db.session_scope(empty_engine) as s:
        rollups.maintain(s, later)
        assert rollups.verify(s, later) == []
    compare([later + timedelta(seconds=rng.randint(0, 2 * 86400)) for _ in range(15)])
    with db.session_scope(empty_engine) as s:
        cell = s.scalars(select(RollupPending).where(RollupPending.cls == 0)
                         .order_by(RollupPending.due_day.desc())).first()
        cell.n += 1  # a pending cell that lies
        s.flush()
        assert any("pending cell" in x for x in rollups.verify(s, later))
        got = queries.light_counts(s, user=SYSTEM, as_of=later, window_days=None)
        want = queries.direct_light_counts(s, user=SYSTEM, as_of=later, window_days=None)
        assert not rollups.frames_equal(got, want)  # the counts are read from the cells


def test_the_migration_fills_the_pending_cells_as_the_rebuild_does(empty_engine):
    """Migration 0028 fills the pending cells of a built database in SQL of its own: the same
    cells as `rollups.pending_select` gives (both databases)."""
    import importlib.util

    from sqlalchemy import text

    from lib.models import RollupPending

    path = db.MIGRATIONS_DIR / "versions" / "0028_pending_cells.py"
    spec = importlib.util.spec_from_file_location("migration_0028", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    _random_items(empty_engine, 61, 400)
    cols = [getattr(RollupPending, c) for c in rollups.PENDING_COLUMNS]
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)
        built = sorted(tuple(r) for r in s.execute(select(*cols)).all())
        w = int(rollups.state(s).overdue_until)
        s.execute(delete(RollupPending))
        s.execute(text(migration.fill_sql()), {"w": w, "first": rollups.first_pending_day(w)})
        filled = sorted(tuple(r) for r in s.execute(select(*cols)).all())
    assert len(built) >= 5 and filled == built


def test_a_group_due_after_2038_turning_yellow_today_is_read(empty_engine):
    """A day's start after 19 January 2038 passes 2**31 seconds: the groups read live join on
    64-bit arithmetic (PostgreSQL's 32-bit product overflowed). An item due in 2040 whose light
    turns yellow at once (a subsystem's share of 100 %) is counted as the base table counts it."""
    with db.session_scope(empty_engine) as s:
        unit, region = s.execute(select(Unit.id, Unit.region_id)).first()
        sub = s.scalar(select(Subsystem).order_by(Subsystem.id))
        sub.yellow_pct = 100
        s.add(Item(external_id="LATE-1", subsystem_id=sub.id, unit_id=unit, region_id=region,
                   received_at=NOW - 2 * H, deadline=datetime(2040, 1, 1, tzinfo=TZ),
                   state="open"))
        s.flush()
        rollups.rebuild(s, NOW)
    with db.session_scope(empty_engine, write=False) as s:
        got = queries.light_counts(s, user=SYSTEM, as_of=NOW + H, window_days=None)
        want = queries.direct_light_counts(s, user=SYSTEM, as_of=NOW + H, window_days=None)
    assert got.attrs["source"] == "rollups" and int(got["yellow"].sum()) == 1
    assert rollups.frames_equal(got, want)


def test_the_sweep_tells_sqlites_planner_the_pending_cells_size_each_day(empty_engine):
    """A database that grows from empty is never rebuilt: the sweep analyses the pending cells
    when the watermark reaches a new day (SQLite's planner otherwise takes the table for a
    large one and reads every open item against the groups)."""
    from sqlalchemy import text

    if empty_engine.dialect.name != "sqlite":
        pytest.skip("SQLite's planner statistics only")
    _random_items(empty_engine, 71, 200)
    with db.session_scope(empty_engine) as s:
        rollups.maintain(s, NOW)
        s.execute(text("DELETE FROM sqlite_stat1 WHERE tbl = 'rollup_pending'"))
        rollups.maintain(s, NOW + timedelta(minutes=5))  # the same day: not analysed again
        assert s.execute(text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'rollup_pending'")
                         ).first() is None
        rollups.maintain(s, NOW + D)
        stat = s.execute(text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'rollup_pending'")
                         ).scalar()
        count = s.scalar(select(func.count()).select_from(rollups.RollupPending))
    assert count > 0 and int(stat.split()[0]) == count
