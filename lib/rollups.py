"""Rollups: the cockpit's counts read in time proportional to units × days, not to items.

A closed item's light never changes again, and an open item past its deadline is simply red until
it closes. So the items are split three ways:

- **closed** items are counted in cells (kind 'c') per unit, subsystem, region and local day of
  completion: how many, and of them red, yellow and grey, exactly as `lib.lights` counts them;
- **open items past the overdue watermark** (`rollup_state.overdue_until`, moved up to the minute
  by every sweep) are counted in cells (kind 'o') per local day of the deadline;
- **open items due after the watermark's day** are counted in pending cells (`rollup_pending`)
  per day of the deadline and day their light turns yellow, so their light at T follows from the
  cell unless T's day is one of those days (migration 0028);
- everything else is read **live** from the base table through small indexes: the open items due
  on T's day or in the rest of the watermark's, the groups turning yellow on T's day (the
  partial indexes `ix_items_open`, `ix_items_open_units`), items completed on the window's
  partial first and last days (`ix_items_completed`), items whose times contradict each other
  (`ix_items_odd`).

Cells exist at three sizes (1, 8 and 64 days); a window is read from the fewest cells covering it.

Never wrong: triggers on items (migration 0018) write a dirty marker (kind, unit, day) for the
old and the new row of every insert, update and delete, in the writing transaction. Until
`maintain` (run by the sweep) recomputes them, the cells of a dirty (unit, day) are skipped and
that day is read live, so a read right after a write is exact; `verify` recomputes every cell from
the base table and names any drift. Whenever the rollups cannot answer (not built yet, an as-of
time before the watermark, thousands of dirty days), `light_counts` returns None and the caller
reads the base table (`lib.queries.direct_light_counts`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    TextClause,
    and_,
    case,
    column,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from lib import db
from lib.lights import VERDICT_RED, VERDICT_YELLOW, epoch, light_flags_sql
from lib.models import (
    ODD_SQL,
    Item,
    Person,
    RollupCell,
    RollupChange,
    RollupDirty,
    RollupPending,
    RollupSnapshot,
    RollupState,
    Subsystem,
    Unit,
    VillageDisclosure,
    VillageDisclosureMonth,
)

_log = logging.getLogger(__name__)

SIZES = (1, 8, 64, 16384)  # cell sizes in days, finest first (the last: 45 years, migration 0027)
OFFSET = 8 * 3600  # China Standard Time (no summer time): local day = (epoch + OFFSET) // 86400
DAY = 86400
FEW_DAYS = 40  # dirty days of one kind up to this: read day by day through a time index
MAX_DIRTY = 2000  # more dirty days than this: the base table answers until the sweep has run
OR_TERMS = 400  # terms OR-ed in one part of a read (SQLite: an expression at most 1,000 deep)
FAR = datetime(2200, 1, 1, tzinfo=UTC)  # a time after every completion and deadline

RAW_COLUMNS = ["unit_id", "subsystem_id", "region_id", "total", "open", "grey", "late", "closed",
               "overdue", "near"]


def day_of(ts: int) -> int:
    return (ts + OFFSET) // DAY


def day_start(day: int) -> int:
    return day * DAY - OFFSET


def _ts(col):
    return type_coerce(col, BigInteger)


def _day_sql(col):
    """The local day of an epoch column, in SQL (integer division in both databases)."""
    return (_ts(col) + OFFSET) // DAY


def not_odd(open_: bool = False):
    """Rows whose times do not contradict each other (`ODD_SQL` is not true). `open_`: the
    rows are known not to be completed (`completed_at IS NULL`), so the completion's two
    conditions hold and are left out (each is evaluated for every open item read)."""
    recv, due, done = _ts(Item.received_at), _ts(Item.deadline), _ts(Item.completed_at)
    cond = [or_(recv.is_(None), due.is_(None), due >= recv), or_(due.is_(None), due >= 0)]
    if not open_:
        cond += [or_(recv.is_(None), done.is_(None), done >= recv),
                 or_(done.is_(None), done >= 0)]
    return and_(*cond)


def odd():
    """The predicate of the partial index `ix_items_odd`, word for word (SQLite matches it)."""
    return text(f"({ODD_SQL})")


def odd_mask(received: np.ndarray, deadline: np.ndarray, completed: np.ndarray) -> np.ndarray:
    """`ODD_SQL` over epoch-second columns read by `db.numbers` (NULL is NaN): true where the
    times contradict each other. A comparison with NULL is not true in SQL, and one with NaN is
    false in numpy, so a row with missing times is odd only by the times it has."""
    with np.errstate(invalid="ignore"):
        return ((deadline < received) | (completed < received) | (deadline < 0)
                | (completed < 0))


# -- state -----------------------------------------------------------------------------------

def state(session: Session) -> RollupState | None:
    return session.get(RollupState, 1)


def _lock(session: Session) -> RollupState:
    """The state row, and on PostgreSQL the dirty markers and the change log, held until the
    transaction ends: no write can add a marker or a logged change while the rollups are
    recomputed (SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        # In the order a write takes them (PostgreSQL fires triggers by name: the log's
        # `trg_items_changes*` before the markers' `trg_items_rollup*`), or the two deadlock.
        session.execute(text("LOCK TABLE rollup_changes, rollup_dirty IN EXCLUSIVE MODE"))
        st = session.execute(select(RollupState).where(RollupState.id == 1)
                             .with_for_update()).scalar_one_or_none()
    else:
        st = session.get(RollupState, 1)
    if st is None:
        st = RollupState(id=1, built=False, overdue_until=0)
        session.add(st)
        session.flush()
    return st


def _watermark(now: datetime) -> int:
    """The overdue watermark for a sweep at `now`: to the minute, as the pages' as-of time."""
    return epoch(now) // 60 * 60


# -- computing cells from the base table -------------------------------------------------------

def _cell_select(kind: str, *where):
    """Day cells (size 1) computed from the base table, for the items matching `where`."""
    f = light_flags_sql(Item.received_at, Item.deadline, Item.completed_at, Subsystem.yellow_pct,
                        FAR, Item.card_cancelled, Item.verdict)
    col = Item.completed_at if kind == "c" else Item.deadline
    red = f["late"] if kind == "c" else f["overdue"]
    near = f["near"] if kind == "c" else literal(False)
    day = _day_sql(col).label("bucket")
    region = func.coalesce(Item.region_id, -1).label("region_id")
    return (select(literal(kind).label("kind"), literal(1).label("size"), day,
                   Item.unit_id, Item.subsystem_id, region, func.count().label("n"),
                   func.count().filter(red).label("red"), func.count().filter(near).label("near"),
                   func.count().filter(f["grey"]).label("grey"))
            .select_from(Item).join(Subsystem, Subsystem.id == Item.subsystem_id)
            .where(not_odd(), *where)
            .group_by(day, Item.unit_id, Item.subsystem_id, region))


def _closed_where():
    return [Item.completed_at.is_not(None)]


def _overdue_where(watermark: int):
    return [Item.completed_at.is_(None), _ts(Item.deadline) < watermark]


CELL_COLUMNS = ["kind", "size", "bucket", "unit_id", "subsystem_id", "region_id", "n", "red",
                "near", "grey"]


def _insert_cells(session: Session, stmt) -> None:
    if isinstance(stmt, TextClause):  # a select given index hints (db.indexed_by)
        stmt = stmt.columns(*[column(c) for c in CELL_COLUMNS])
    session.execute(insert(RollupCell).from_select(CELL_COLUMNS, stmt))


def _roll_up(session: Session, size: int, lower: int, where=()) -> None:
    """Cells of `size` days summed from the cells of `lower` days (matching `where`)."""
    c = RollupCell
    bucket = (c.bucket // (size // lower)).label("bucket")
    stmt = (select(c.kind, literal(size).label("size"), bucket, c.unit_id, c.subsystem_id,
                   c.region_id, func.sum(c.n), func.sum(c.red), func.sum(c.near),
                   func.sum(c.grey))
            .where(c.size == lower, *where)
            .group_by(c.kind, bucket, c.unit_id, c.subsystem_id, c.region_id))
    _insert_cells(session, stmt)


# -- the open items not yet overdue (migration 0028) --------------------------------------------
#
# An open item before its deadline is green, turns yellow at a moment fixed by its receipt, its
# deadline and its subsystem's share, and red after its deadline (unless a rule's verdict or a
# cancelled card says otherwise: its class). Counted per unit, day of the deadline, subsystem,
# region, day it turns yellow, day of a receipt after the watermark and class, the light at any
# T whose local day is none of those days follows from the cell. The items of a (unit, day of
# the deadline) with a cell turning yellow or received on T's day, those due on T's day and
# those due on the rest of the watermark's day are read live, as are a dirty (unit, day).

PENDING_COLUMNS = ["unit_id", "due_day", "subsystem_id", "region_id", "near_day", "recv_day",
                   "cls", "n"]
CLOCK, GREY_CLS, CANCELLED, RED_VERDICT, YELLOW_VERDICT = 0, 1, 2, 3, 4


def first_pending_day(watermark: int) -> int:
    """The first local day with pending cells: the day after the watermark's."""
    return day_of(watermark) + 1


def pending_select(watermark: int, *where):
    """Pending cells computed from the base table (the items open, with a deadline on or after
    `first_pending_day(watermark)`, their times not contradicting each other, matching
    `where`). `near_day`: the local day of the moment m = deadline − share × (deadline −
    receipt) after which `light_flags_sql` calls the item near (T > m), for the classes the
    clock turns yellow; `recv_day`: the day of a receipt after the watermark (such an item does
    not exist at a T before it)."""
    due, recv = _ts(Item.deadline), _ts(Item.received_at)
    known = Item.received_at.is_not(None)
    cancelled = Item.card_cancelled == true()
    cls = case((Item.received_at.is_(None), GREY_CLS), (cancelled, CANCELLED),
               (Item.verdict == VERDICT_RED, RED_VERDICT),
               (Item.verdict == VERDICT_YELLOW, YELLOW_VERDICT), else_=CLOCK)
    by_clock = or_(cancelled, Item.verdict.not_in([VERDICT_RED, VERDICT_YELLOW]))
    near = case((and_(known, by_clock),
                 (due * 100 - Subsystem.yellow_pct * (due - recv) + OFFSET * 100)
                 // (DAY * 100)), else_=-1)
    late = case((and_(known, recv > literal(watermark, BigInteger)), (recv + OFFSET) // DAY),
                else_=-1)
    return (select(Item.unit_id, _day_sql(Item.deadline), Item.subsystem_id,
                   func.coalesce(Item.region_id, -1), near, late, cls, func.count())
            .select_from(Item).join(Subsystem, Subsystem.id == Item.subsystem_id)
            .where(Item.completed_at.is_(None), Item.deadline.is_not(None),
                   due >= day_start(first_pending_day(watermark)), not_odd(open_=True), *where)
            .group_by(*[literal_column(str(i)) for i in range(1, 8)]))


def _insert_pending(session: Session, stmt) -> None:
    session.execute(insert(RollupPending).from_select(PENDING_COLUMNS, stmt))


def _recompute_pending(session: Session, pairs: set[tuple[int, int]], watermark: int) -> None:
    """The pending cells of these (unit, day of the deadline) counted again from the items."""
    session.execute(text("DELETE FROM rollup_pending WHERE unit_id = :u AND due_day = :d"),
                    [{"u": u, "d": d} for u, d in sorted(pairs)])
    days: dict[int, list[int]] = defaultdict(list)
    for u, d in pairs:
        days[d].append(u)
    due = _ts(Item.deadline)
    ordered = sorted(days.items())
    for i in range(0, len(ordered), 100):  # (SQLite: at most 500 selects in a compound one)
        parts = [pending_select(watermark, Item.unit_id.in_(sorted(units)), due >= day_start(d),
                                due < day_start(d + 1)) for d, units in ordered[i:i + 100]]
        _insert_pending(session, union_all(*parts) if len(parts) > 1 else parts[0])


def _dirty_day(p):
    """A dirty marker on the pending cell's (unit, day of the deadline): read live, whole."""
    d = RollupDirty
    return select(d.day).where(d.kind == "o", d.unit_id == p.unit_id, d.day == p.due_day).exists()


def _analyze_pending(session: Session) -> None:
    """SQLite: the pending cells' size told to the planner, so a read joins the few groups to
    the items (`_pending_group_parts`) and not every open item to the groups (1 against 120 ms
    at ten million items). Run by the rebuild, and by the sweep once a day (a database that
    grows from empty is never rebuilt)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("ANALYZE rollup_pending"))


def _pending_group_parts(base, first: int, today: int) -> list:
    """The open items of the (unit, subsystem, region, day of the deadline) groups whose pending
    cells cannot say their light on `today` (a cell turning yellow or received late that day;
    not due that day nor of a dirty (unit, day): those are read whole), read by a join with the
    groups taken from the cells themselves: each group one seek in the open items' index by
    its key and deadline (an OR of a hundred groups made SQLite read every open item: 120 ms
    against 0.3 at ten million items; a list of the groups' values made the statement new on
    every read). Groups without a region in a part of their own (NULL equals nothing)."""
    p = RollupPending
    due = _ts(Item.deadline)
    out = []
    for with_region in (True, False):
        g = (select(p.unit_id, p.subsystem_id, p.region_id, p.due_day).distinct()
             .where(or_(p.near_day == today, p.recv_day == today), p.due_day != today,
                    p.due_day >= first, (p.region_id != -1) if with_region else (p.region_id == -1),
                    ~_dirty_day(p))
             .cte("pending_live" if with_region else "pending_live_nr"))
        region = Item.region_id == g.c.region_id if with_region else Item.region_id.is_(None)
        start = _ts(g.c.due_day) * DAY  # (64-bit: a day's start after 2038 passes 2**31)
        out.append(base.join(g, and_(Item.unit_id == g.c.unit_id,
                                     Item.subsystem_id == g.c.subsystem_id, region,
                                     due >= start - OFFSET, due < start + (DAY - OFFSET)))
                   .where(Item.completed_at.is_(None), not_odd(open_=True)))
    return out


def _unclear(p, today: int):
    """The pending cells of a group (unit, subsystem, region, day of the deadline) with a cell
    turning yellow or received late on `today`: their light on that day needs the items' times."""
    q = aliased(RollupPending)
    return (select(q.unit_id).where(q.unit_id == p.unit_id, q.due_day == p.due_day,
                                    q.subsystem_id == p.subsystem_id, q.region_id == p.region_id,
                                    or_(q.near_day == today, q.recv_day == today)).exists())


def pending_sums(first: int, today: int):
    """Per unit, subsystem and region: the pending cells' items and, of them, grey, red and
    yellow at any moment of local day `today`, as `light_flags_sql` judges them, from the cells
    whose light that day follows from their days (none due that day, their group not turning
    yellow nor received late that day, no dirty marker on their unit's day). Received after
    that day: not counted (the item does not exist yet)."""
    p = RollupPending
    due_later, past_due = p.due_day > today, p.due_day < today
    counted = func.sum(p.n)

    def n(cond):
        return func.sum(case((cond, p.n), else_=0))

    return (select(p.unit_id, p.subsystem_id, p.region_id, counted, n(p.cls == GREY_CLS),
                   n(or_(p.cls == RED_VERDICT, and_(p.cls.in_([CLOCK, YELLOW_VERDICT]), past_due))),
                   n(and_(due_later, or_(p.cls == YELLOW_VERDICT,
                                         and_(p.cls.in_([CLOCK, CANCELLED]), p.near_day < today)))))
            .where(p.due_day >= first, p.due_day != today, p.recv_day <= today,
                   ~_dirty_day(p), ~_unclear(p, today))
            .group_by(p.unit_id, p.subsystem_id, p.region_id))


def forget(session: Session) -> None:
    """The kept counts, snapshots and monthly figures no longer hold for a reason the markers
    cannot say (a subsystem's yellow share changed: every light it lit, closed or open, in
    every month): the base table answers from now on, in this transaction, until the next
    sweep rebuilds them (`maintain`)."""
    st = _lock(session)
    st.built = False
    session.flush()


def rebuild(session: Session, now: datetime | None = None,
            items: Iterable[np.ndarray] | None = None, ahead: Ahead | None = None) -> dict:
    """Every cell recomputed from the base table; the dirty markers cleared; the watermark at
    `now`. Returns what was built. The table is read once (`raw_items`) and judged in numpy for
    the day cells, the month-end snapshots and the assessment's months (`_Scan`); `verify`
    counts the same in SQL. `items`: every row of the table as `raw_items` gives them, from a
    loader that holds them in memory, judged instead of the read. `ahead`: those rows judged
    before the rebuild began (`judge_ahead`, for the same `now`: `bench.build` judges them
    while SQLite builds the indexes), in place of `items`."""
    from lib.clock import now_utc

    now = now or now_utc()
    st = _lock(session)
    watermark = _watermark(now)
    with db.sqlite_sorts(session):
        return _rebuild(session, st, now, watermark, items, ahead)


class Ahead:
    """Rows a loader holds, to be judged for a rebuild still to come (`judge_ahead`)."""

    def __init__(self, run: Callable[[threading.Event], _Scan], watermark: int):
        self._run, self.watermark, self._future = run, watermark, None
        self.seconds: float | None = None  # how long the judging took, once done
        self._stop = threading.Event()

    def _timed(self) -> _Scan:
        t = time.perf_counter()
        try:
            return self._run(self._stop)
        finally:
            self.seconds = time.perf_counter() - t

    def start(self) -> Ahead:
        """Judging begun on another thread (a process that forks must fork before this)."""
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge-ahead")
        self._future = pool.submit(self._timed)
        pool.shutdown(wait=False)  # (its one thread ends with its one task)
        return self

    def cancel(self) -> None:
        """Judging stopped at its next part (the loader failed: its thread does not keep the
        process judging rows for tens of seconds); the scan is then refused."""
        self._stop.set()

    def scan(self, watermark: int) -> _Scan:
        """The finished scan (waits for it; raises what the judging raised, or if cancelled:
        a scan stopped half-way is never kept)."""
        if watermark != self.watermark:
            raise ValueError("rows judged ahead for another time than the rebuild's")
        if self._future is None:
            self.start()
        scan = self._future.result()
        if self._stop.is_set():
            raise RuntimeError("judging the rows ahead was cancelled: rebuild without them")
        return scan


def judge_ahead(session: Session, now: datetime, parts: Callable[[], Iterable[np.ndarray]]
                ) -> Ahead:
    """Rows held by a loader in memory, to be judged (`Ahead.start`: on another thread) for the
    day cells, the month-end snapshots and the assessment's months of a rebuild at `now` that
    runs later (`rebuild(ahead=…)`): `bench.build` judges its ten million rows while SQLite
    builds the indexes, on the other core. The session is read now (the people's posts and the
    subsystems' shares, which must not change before the rebuild), never by the thread.
    `parts()` gives every row the table will hold at the rebuild (RAW_ITEM_COLUMNS) each time
    it is called: once for the ranges of months (the first receipt and the first deadline,
    which the rebuild reads from the table and compares), once to judge them."""
    from lib import scoring

    posts, pcts = _lookups(session)
    watermark = _watermark(now)

    def run(stop: threading.Event) -> _Scan:
        def given():  # every part until cancelled (`Ahead.cancel`: the scan is then refused)
            for part in parts():
                if stop.is_set():
                    return
                yield part

        first_recv, first_due = _first_times(given())
        days = month_starts(*_snapshot_range_of(first_recv, watermark))
        scan = _Scan(days, scoring.months_from(first_due, watermark), posts, pcts, watermark)
        scan.add_all(given())
        return scan

    return Ahead(run, watermark)


def _rebuild(session: Session, st: RollupState, now: datetime, watermark: int,
             items: Iterable[np.ndarray] | None = None, ahead: Ahead | None = None) -> dict:
    t0 = time.perf_counter()
    session.execute(delete(RollupCell))
    session.execute(delete(RollupDirty))
    session.execute(delete(RollupChange))  # the rebuild reads the items as they are now
    scan = _Scan.begin(session, st, watermark)
    if ahead is not None:
        # Judged before the rebuild began: its ranges, look-ups and watermark must be what the
        # table gives now (the rows given were all the table's, none changed since).
        judged_ahead = ahead.scan(watermark)
        if not judged_ahead.same_as(scan):
            raise ValueError("rows judged ahead of the rebuild do not match the table: "
                             "rebuild without them")
        scan, how = judged_ahead, "judged ahead"
    elif items is not None:
        scan.add_all(items)
        how = "given"
    else:
        # (closed here even if judging fails: a server-side cursor must not outlive it)
        with closing(raw_items(session)) as parts:
            scan.add_all(parts)
        how = "read once"
    t1 = time.perf_counter()
    # The day cells, the month-end snapshots and the months' figures from the one scan (the
    # day cells were counted by a GROUP BY of the whole table before: 15-30 s at ten million
    # items, besides the read the scan makes anyway); the larger cells summed from the days.
    snapshots, months = scan.store(session)
    for lower, size in zip(SIZES, SIZES[1:], strict=False):
        _roll_up(session, size, lower)
    session.execute(delete(RollupPending))
    _insert_pending(session, pending_select(watermark))
    _analyze_pending(session)
    _log.info("rollups rebuilt: the items %s in %.1f s; cells, %d month-end snapshots and %d "
              "months' figures kept in %.1f s", how, t1 - t0, snapshots, months,
              time.perf_counter() - t1)
    st.built, st.overdue_until, st.maintained_at = True, watermark, epoch(now)
    session.flush()
    cells = session.scalar(select(func.count()).select_from(RollupCell))
    return {"cells": int(cells or 0), "overdue_until": watermark, "snapshots": snapshots,
            "score_months": months}


def maintain(session: Session, now: datetime | None = None) -> dict:
    """The sweep's part: move the watermark up to `now` (the open items falling due since are
    recomputed into 'o' cells) and recompute the dirty days' cells. Cheap when little changed."""
    from lib import scoring
    from lib.clock import now_utc

    now = now or now_utc()
    st = _lock(session)
    if not st.built:
        return rebuild(session, now) | {"rebuilt": True}
    old, new = int(st.overdue_until), _watermark(now)
    regroup: set[tuple[int, int]] = set()
    if new > old:
        # The open items that fall due between the two watermarks: their days are recomputed.
        due = _ts(Item.deadline)
        keys = session.execute(
            select(Item.unit_id, _day_sql(Item.deadline)).distinct()
            .where(Item.completed_at.is_(None), due >= old, due < new)).all()
        _mark(session, [("o", u, d) for u, d in keys])
        st.overdue_until = new
        # Pending cells only after the new watermark's day (its rest is read live); and those
        # counting items received after an older watermark on or before the new one's day are
        # counted again, so that every cell holds what `pending_select` gives now (`verify`).
        first = first_pending_day(new)
        p = RollupPending
        session.execute(delete(p).where(p.due_day < first))
        regroup = {tuple(r) for r in session.execute(
            select(p.unit_id, p.due_day).distinct().where(p.recv_day >= 0, p.recv_day < first))}
        if first != first_pending_day(old):
            _analyze_pending(session)  # a new day: the planner's count of the cells renewed
    marked = [tuple(r) for r in session.execute(
        select(RollupDirty.kind, RollupDirty.unit_id, RollupDirty.day)).all()]
    dirty = [m for m in marked if m[0] != "s"]
    if len(dirty) > MAX_DIRTY * 5:
        return rebuild(session, now) | {"rebuilt": True}
    watermark = max(new, old)
    if dirty:
        _recompute(session, dirty, watermark)
    first = first_pending_day(watermark)
    regroup |= {(u, d) for k, u, d in dirty if k == "o" and d >= first}
    if regroup:
        _recompute_pending(session, regroup, watermark)
    receipts = [(u, d) for k, u, d in marked if k == "s"]
    changes = _changes(session)
    applied = None if changes is None else _apply_changes(session, st, changes)
    # What the writes changed added to the kept rows: only the month-ends and months passed
    # since are computed. Else (a very long log, or one that disagrees with the kept rows) the
    # marked units are judged again from their markers' days on.
    stale = receipts if applied is None else []
    snapshots = maintain_snapshots(session, st, stale, int(st.overdue_until))
    snapshots |= scoring.maintain_months(session, st, stale, int(st.overdue_until))
    snapshots |= applied or {}
    # The whole log: the lock (`_lock`) keeps any write from adding to it meanwhile.
    session.execute(delete(RollupChange))
    if marked:
        session.execute(delete(RollupDirty))
    st.maintained_at = epoch(now)
    session.flush()
    return {"dirty": len(dirty), "overdue_until": int(st.overdue_until)} | snapshots


def _mark(session: Session, keys) -> None:
    have = {tuple(r) for r in session.execute(
        select(RollupDirty.kind, RollupDirty.unit_id, RollupDirty.day)).all()}
    rows = [{"kind": k, "unit_id": u, "day": d} for k, u, d in set(keys) - have]
    if rows:
        session.execute(insert(RollupDirty), rows)


def _recompute(session: Session, dirty: list[tuple], watermark: int) -> None:
    d = RollupDirty
    # Day cells of the dirty (kind, unit, day): deleted (each through the cells' primary key;
    # a join with the markers walked every day cell), then recomputed from the base table.
    session.execute(text("DELETE FROM rollup_cells WHERE kind = :k AND size = 1 AND bucket = :b "
                         "AND unit_id = :u"),
                    [{"k": k, "u": u, "b": day} for k, u, day in sorted(set(dirty))])
    for kind, col, where, index in (("c", Item.completed_at, _closed_where(), "ix_items_completed"),
                                    ("o", Item.deadline, _overdue_where(watermark), "ix_items_open")):
        t = _ts(col)
        days: dict[int, list[int]] = defaultdict(list)
        for k, u, day in dirty:
            if k == kind:
                days[day].append(u)
        if not days:
            continue
        if len(days) <= FEW_DAYS:
            # A few days: each read through the index of its time column (one day's items),
            # not through the units' (all of a large unit's items).
            parts = [_cell_select(kind, *where, Item.unit_id.in_(sorted(units)),
                                  t >= day_start(day), t < day_start(day + 1))
                     for day, units in sorted(days.items())]
            stmt = db.indexed_by(session, union_all(*parts) if len(parts) > 1 else parts[0],
                                 [index] * len(parts))
        else:
            stmt = _cell_select(kind, *where).join(
                d, and_(d.kind == kind, d.unit_id == Item.unit_id,
                        t >= _ts(d.day) * DAY - OFFSET, t < _ts(d.day) * DAY + (DAY - OFFSET)))
        _insert_cells(session, stmt)
    # Coarser cells holding a dirty day: summed again from the finer ones (one statement each,
    # executed for every such cell).
    for lower, size in zip(SIZES, SIZES[1:], strict=False):
        ratio = size // lower
        keys = [{"k": k, "u": u, "b": b, "s": size, "l": lower, "lo": b * ratio,
                 "hi": b * ratio + ratio - 1}
                for k, u, b in sorted({(k, u, day // size) for k, u, day in dirty})]
        session.execute(text("DELETE FROM rollup_cells WHERE kind = :k AND size = :s "
                             "AND unit_id = :u AND bucket = :b"), keys)
        session.execute(text(
            "INSERT INTO rollup_cells (kind, size, bucket, unit_id, subsystem_id, region_id, "
            "n, red, near, grey) SELECT kind, :s, :b, unit_id, subsystem_id, region_id, "
            "SUM(n), SUM(red), SUM(near), SUM(grey) FROM rollup_cells WHERE kind = :k "
            "AND size = :l AND unit_id = :u AND bucket BETWEEN :lo AND :hi "
            "GROUP BY kind, unit_id, subsystem_id, region_id"), keys)


# -- month-end snapshots ------------------------------------------------------------------------
#
# The city at the end of a past month: the closed items are in the 'c' cells (their lights never
# change), the items open then are in a snapshot per unit, subsystem and region of the month's
# last second (23:59:59 local, what a page's as-of date gives). A write to an item that was open
# at a month's end marks ('s', unit, local day of receipt) (migration 0019's triggers): that unit's
# snapshots from the receipt on are read live until `maintain` recomputes them.

EPOCH_DATE = date(1970, 1, 1)
MAX_SNAPSHOT_PAIRS = 20_000  # more stale (unit, month) pairs than this: all snapshots rebuilt


def date_of(day: int) -> date:
    return EPOCH_DATE + timedelta(days=day)


def day_number(d: date) -> int:
    return (d - EPOCH_DATE).days


def month_start(day: int) -> int:
    """The first day of the month holding `day` (local day numbers)."""
    d = date_of(day)
    return day_number(d.replace(day=1))


def next_month_start(day: int) -> int:
    d = date_of(day)
    return day_number(date(d.year + (d.month == 12), d.month % 12 + 1, 1))


def month_starts(first: int, last: int) -> list[int]:
    """The first days of months in [first, last]."""
    out, d = [], month_start(first)
    if d < first:
        d = next_month_start(d)
    while d <= last:
        out.append(d)
        d = next_month_start(d)
    return out


def first_stale(marked_day: int) -> int:
    """The first snapshot (by its day) that a snapshot marker ('s', unit, day) can make stale.
    The marker's day is that of the earliest moment the write changed (a receipt, or the
    earlier of an old and a new completion: migration 0025); the snapshot of day d stands for
    the moment before d begins, so only those after the marker's day can differ."""
    return marked_day + 1


def snapshot_time(day: int) -> int:
    """The moment a snapshot stands for: 23:59:59 of the day before `day`."""
    return day_start(day) - 1


def snapshot_day(t: int) -> int | None:
    """The snapshot's day when `t` is the last second of a month, else None."""
    day = day_of(t + 1)
    return day if day_start(day) == t + 1 and date_of(day).day == 1 else None


def _snapshot_flags(t: int):
    return light_flags_sql(Item.received_at, Item.deadline, Item.completed_at,
                           Subsystem.yellow_pct, datetime.fromtimestamp(t, UTC),
                           Item.card_cancelled, Item.verdict)


def _snapshot_select(day: int, *where):
    """Per unit, subsystem and region: the items open at the month's end (by the light rule at
    that moment), matching `where`."""
    t = snapshot_time(day)
    f = _snapshot_flags(t)
    recv = _ts(Item.received_at)
    region = func.coalesce(Item.region_id, -1).label("region_id")
    return (select(Item.unit_id, Item.subsystem_id, region, func.count(),
                   func.count().filter(f["grey"]), func.count().filter(f["overdue"]),
                   func.count().filter(f["near"]))
            .select_from(Item).join(Subsystem, Subsystem.id == Item.subsystem_id)
            .where(not_odd(), or_(recv.is_(None), recv <= t), *where)
            .group_by(Item.unit_id, Item.subsystem_id, region))


def _open_at(t: int):
    done = _ts(Item.completed_at)
    return or_(Item.completed_at.is_(None), done > t)


def snapshot_rows(session: Session, day: int, units: list[int] | None = None
                  ) -> dict[tuple, list[int]]:
    """The snapshot of `day` computed in SQL from the open set and the items completed since the
    month's end (what `verify` compares with): {(unit, subsystem, region): [n, grey, overdue,
    near]}."""
    t = snapshot_time(day)
    done = _ts(Item.completed_at)
    unit_where = [] if units is None else [Item.unit_id.in_(units)]
    parts = [([Item.completed_at.is_(None), *unit_where], "ix_items_open"),
             ([Item.completed_at.is_not(None), done > t, *unit_where], "ix_items_completed")]
    stmt = db.indexed_by(session, union_all(*[_snapshot_select(day, *where) for where, _ in parts]),
                         [index for _, index in parts])
    out: dict[tuple, list[int]] = {}
    for unit, sub, region, n, grey, overdue, near in session.execute(stmt).all():
        acc = out.setdefault((unit, sub, region), [0, 0, 0, 0])
        for i, v in enumerate((n, grey, overdue, near)):
            acc[i] += int(v or 0)
    return out


def _store_snapshot(session: Session, day: int, rows: dict[tuple, list[int]],
                    units: list[int] | None = None) -> None:
    s = RollupSnapshot
    stmt = delete(s).where(s.day == day)
    if units is not None:
        stmt = stmt.where(s.unit_id.in_(units))
    session.execute(stmt)
    if rows:
        session.execute(insert(s), [
            {"day": day, "unit_id": u, "subsystem_id": sub, "region_id": region, "n": v[0],
             "grey": v[1], "overdue": v[2], "near": v[3]}
            for (u, sub, region), v in rows.items()])


def _snapshot_range(session: Session, watermark: int) -> tuple[int, int]:
    """The month-ends to snapshot: from the first after the earliest receipt to the last before
    the watermark."""
    return _snapshot_range_of(first_receipt(session), watermark)


def first_receipt(session: Session) -> int | None:
    """The earliest receipt of the items whose times do not contradict each other (`not_odd`):
    each unit's first read through `ix_items_unit_received` (its items in the order of receipt:
    the first one not odd ends the read), then the least of them. A few index entries per unit
    instead of a scan of the table (10.5 s at ten million items on SQLite); every item has a
    unit (a foreign key)."""
    i = Item
    per_unit = (select(_ts(i.received_at))
                .where(i.unit_id == Unit.id, i.received_at.is_not(None), not_odd())
                .order_by(i.received_at).limit(1).correlate(Unit).scalar_subquery())
    return session.scalar(select(func.min(per_unit)).select_from(Unit))


def _snapshot_range_of(first_recv: float | None, watermark: int) -> tuple[int, int]:
    last = month_start(day_of(watermark))
    first = last if first_recv is None else min(next_month_start(day_of(int(first_recv))), last)
    return first, last


def _first_times(parts: Iterable[np.ndarray]) -> tuple[float | None, float | None]:
    """(the first receipt of the items whose times do not contradict each other, the first
    deadline of all) of RAW_ITEM_COLUMNS rows, as `_snapshot_range` and
    `scoring.forget_months` read them from the table (NULL left out)."""
    at = {c: RAW_ITEM_COLUMNS.index(c) for c in ("received", "deadline", "completed")}
    recv = due = None
    for raw in parts:
        r, d, c = raw[:, at["received"]], raw[:, at["deadline"]], raw[:, at["completed"]]
        with np.errstate(invalid="ignore"):
            r = r[~odd_mask(r, d, c) & ~np.isnan(r)]
        d = d[~np.isnan(d)]
        if len(r):
            recv = float(r.min()) if recv is None else min(recv, float(r.min()))
        if len(d):
            due = float(d.min()) if due is None else min(due, float(d.min()))
    return recv, due


def _int_column(a: np.ndarray, fill: int) -> tuple[np.ndarray, np.ndarray]:
    """A float column with NaN for NULL (`db.numbers`) as (int64 array with `fill` for NULL,
    mask of non-NULL)."""
    known = ~np.isnan(a)
    return np.where(known, np.nan_to_num(a).astype(np.int64), fill), known


def snapshot_sums(session: Session, days: list[int], units: list[int] | None = None
                  ) -> pd.DataFrame:
    """The snapshots of the month-ends `days` (sorted) computed in one read of the items and one
    numpy pass: each item counted at every one of those month-ends it was open at, by the light
    rule at that moment as `lib.lights.light_flags_sql` states it (`verify` compares with the
    SQL). `units`: only theirs, read through the covering index `ix_items_view`. Columns: day,
    unit_id, subsystem_id, region_id, n, grey, overdue, near."""
    days_a = np.array(sorted(days), dtype=np.int64)
    if not len(days_a):
        return pd.DataFrame(columns=SNAPSHOT_SUMS)
    ts = days_a * DAY - OFFSET - 1
    recv, due, done = _ts(Item.received_at), _ts(Item.deadline), _ts(Item.completed_at)
    where = [not_odd(), or_(Item.completed_at.is_(None), done > int(ts[0])),
             or_(recv.is_(None), recv <= int(ts[-1]))]
    if units is not None:
        where.append(Item.unit_id.in_(units))
    stmt = (select(Item.unit_id, Item.subsystem_id, func.coalesce(Item.region_id, -1), recv, due,
                   done, Item.card_cancelled, Item.verdict, Subsystem.yellow_pct)
            .join(Subsystem, Subsystem.id == Item.subsystem_id).where(*where))
    if units is not None:
        stmt = db.indexed_by(session, stmt, ["ix_items_view"])
    cursor = db.raw_cursor(session, stmt, stream=True)
    parts = [_snapshot_part(db.numbers(rows), days_a, ts)
             for rows in iter(lambda: cursor.fetchmany(SNAPSHOT_CHUNK), [])]
    cursor.close()
    return _summed(parts)


SNAPSHOT_SUMS = ["day", "unit_id", "subsystem_id", "region_id", "n", "grey", "overdue", "near"]


def _summed(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The snapshots' parts (`_snapshot_part`) added up per month-end, unit, subsystem and
    region (the columns of `snapshot_sums`)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=SNAPSHOT_SUMS)
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    return frame.groupby(SNAPSHOT_SUMS[:4], as_index=False).sum().astype("int64")[SNAPSHOT_SUMS]


SNAPSHOT_CHUNK = 1_000_000  # items read and expanded at a time (the memory of a rebuild)


def _snapshot_part(a: np.ndarray, days_a: np.ndarray, ts: np.ndarray) -> pd.DataFrame:
    """`snapshot_sums` of one part of the items (rows of unit, subsystem, region, received,
    deadline, completed, card_cancelled, verdict, yellow_pct as `db.numbers`)."""
    cols = [a[:, i] for i in range(a.shape[1])]
    unit, _ = _int_column(cols[0], 0)
    sub, _ = _int_column(cols[1], 0)
    region, _ = _int_column(cols[2], -1)
    r, has_recv = _int_column(cols[3], 0)
    d, has_due = _int_column(cols[4], 0)
    c, _ = _int_column(cols[5], np.iinfo(np.int64).max)  # open until now: after every month-end
    cancelled, has_flag = _int_column(cols[6], 0)
    standing = has_flag & (cancelled == 0)
    verdict, _ = _int_column(cols[7], 0)
    pct, _ = _int_column(cols[8], 0)
    # Month-ends each item was open at: ts[i0] .. ts[i1 - 1] (received by then, done after).
    i0 = np.where(has_recv, np.searchsorted(ts, r, "left"), 0)
    i1 = np.searchsorted(ts, c, "left")
    count = np.maximum(i1 - i0, 0)
    idx = np.repeat(np.arange(len(unit)), count)
    k = i0[idx] + np.arange(len(idx)) - np.repeat(np.cumsum(count) - count, count)
    t = ts[k]
    r, d, std, v, p = r[idx], d[idx], standing[idx], verdict[idx], pct[idx]
    known = has_recv[idx] & has_due[idx]
    v_red = (v == 2) & std
    v_yellow = (v == 1) & std
    overdue_clock = (t > d) & std
    near_clock = (t <= d) & ((d - t) * 100 < p * (d - r))
    frame = pd.DataFrame({
        "day": days_a[k], "unit_id": unit[idx], "subsystem_id": sub[idx],
        "region_id": region[idx], "n": 1, "grey": ~known,
        "overdue": known & ((t > d) | v_red) & std,
        "near": known & ~v_red & (near_clock | (v_yellow & ~overdue_clock)),
    })
    return frame.groupby(["day", "unit_id", "subsystem_id", "region_id"], as_index=False).sum()


def _insert_sums(session: Session, sums: pd.DataFrame) -> None:
    records = [dict(zip(sums.columns, map(int, row), strict=True))
               for row in sums.itertuples(index=False)]
    for start in range(0, len(records), 50_000):
        session.execute(insert(RollupSnapshot), records[start:start + 50_000])


def rebuild_snapshots(session: Session, st: RollupState, watermark: int) -> int:
    """Every month-end snapshot computed from the base table in one pass (`snapshot_sums`).
    Returns how many snapshots."""
    session.execute(delete(RollupSnapshot))
    first, last = _snapshot_range(session, watermark)
    days = month_starts(first, last)
    st.snap_from, st.snap_until = days[0], days[-1]
    _insert_sums(session, snapshot_sums(session, days))
    return len(days)


# The rebuild's one read: the items' own columns in this order, with no join (a join per row
# cost a quarter of the read at ten million items): the handler's post and the subsystem's
# yellow share are looked up in numpy (`_joined`), giving scoring's ITEM_COLUMNS, then the
# subsystem and the region; a snapshot reads its columns from them in `_snapshot_part`'s order.
RAW_ITEM_COLUMNS = ("id", "unit_id", "handler_id", "received", "deadline", "completed",
                    "cancelled", "rating", "rated_at", "verdict", "subsystem_id", "region_id")
SNAPSHOT_COLUMNS = ("unit_id", "subsystem_id", "region_id", "received", "deadline", "completed",
                    "cancelled", "verdict", "yellow_pct")


def raw_items_select(*where):
    """Every item's RAW_ITEM_COLUMNS (times as epoch seconds, no region as -1), in the table's
    order."""
    return select(Item.id, Item.unit_id, Item.handler_id, _ts(Item.received_at),
                  _ts(Item.deadline), _ts(Item.completed_at), Item.card_cancelled, Item.rating,
                  _ts(Item.rated_at), Item.verdict, Item.subsystem_id,
                  func.coalesce(Item.region_id, -1)).where(*where)


def raw_items(session: Session, *where, chunk: int | None = None):
    """The items (matching `where`) as arrays of RAW_ITEM_COLUMNS (`db.numbers`), a part at a
    time, read in the table's order."""
    stmt = db.indexed_by(session, raw_items_select(*where), [db.NOT_INDEXED])
    cursor = db.raw_cursor(session, stmt, stream=True)
    try:
        while rows := cursor.fetchmany(chunk or SNAPSHOT_CHUNK):
            yield db.numbers(rows)
    finally:
        cursor.close()


def _lookup(keys: np.ndarray, values: dict) -> np.ndarray:
    """values[key] for each key as floats: NaN for a NULL key, a key not in `values` or a NULL
    value (as an outer join gives). Any ids (negative, sparse, large): found by binary search
    among the keys that have a value."""
    known = sorted((k, v) for k, v in values.items() if v is not None)
    if not known:
        return np.full(len(keys), np.nan)
    ks = np.array([k for k, _ in known], dtype=np.float64)
    vs = np.array([v for _, v in known], dtype=np.float64)
    at = np.minimum(np.searchsorted(ks, keys), len(ks) - 1)  # (NaN sorts last)
    return np.where(ks[at] == keys, vs[at], np.nan)  # (NaN equals nothing)


def _lookups(session: Session) -> tuple[dict, dict]:
    """What `_joined` looks up: every person's post, every subsystem's yellow share."""
    return (dict(session.execute(select(Person.id, Person.post_id)).all()),
            dict(session.execute(select(Subsystem.id, Subsystem.yellow_pct)).all()))


def _joined(raw: np.ndarray, posts: dict, pcts: dict) -> np.ndarray:
    """RAW_ITEM_COLUMNS rows as scoring's ITEM_COLUMNS, then the subsystem and the region: the
    handler's post (none without a handler or a post) and the subsystem's yellow share (an item
    whose subsystem is unknown is left out, as the join to the subsystems leaves it)."""
    c = {name: raw[:, i] for i, name in enumerate(RAW_ITEM_COLUMNS)}
    pct = _lookup(c["subsystem_id"], pcts)
    keep = ~np.isnan(pct)
    out = np.column_stack([c["id"], c["unit_id"], c["handler_id"],
                           _lookup(c["handler_id"], posts), c["received"], c["deadline"],
                           c["completed"], c["cancelled"], pct, c["rating"], c["rated_at"],
                           c["verdict"], c["subsystem_id"], c["region_id"]])
    return out if keep.all() else out[keep]


@lru_cache(maxsize=16)
def _joined_index(columns: tuple[str, ...]) -> list[int]:
    """Where `columns` stand in a `_joined` row (scoring's ITEM_COLUMNS, then the subsystem and
    the region)."""
    from lib import scoring

    names = [*scoring.ITEM_COLUMNS, "subsystem_id", "region_id"]
    return [names.index(c) for c in columns]


def _snapshot_of(a: np.ndarray, days_a: np.ndarray, ts: np.ndarray) -> pd.DataFrame:
    """The month-end snapshots' sums (`_snapshot_part`) of `_joined` rows: the rows filtered as
    `snapshot_sums`' WHERE filters them in SQL (an empty frame when none is left)."""
    snap = a[:, _joined_index(SNAPSHOT_COLUMNS)]  # unit, subsystem, region, …
    recv, due, done = snap[:, 3], snap[:, 4], snap[:, 5]
    with np.errstate(invalid="ignore"):  # NULL (NaN) compares false, as in SQL
        snap = snap[~odd_mask(recv, due, done) & (np.isnan(done) | (done > ts[0]))
                    & (np.isnan(recv) | (recv <= ts[-1]))]
    if not len(snap):
        return pd.DataFrame(columns=SNAPSHOT_SUMS)
    return _snapshot_part(snap, days_a, ts)


FAR_S = int(FAR.timestamp())
CELL_KEYS = ["kind", "bucket", "unit_id", "subsystem_id", "region_id"]
CELL_SUMS = ["n", "red", "near", "grey"]


def _cells_of(a: np.ndarray, watermark: int) -> pd.DataFrame:
    """The day cells (size 1) of `_joined` rows, as `_cell_select` counts them in SQL for the
    closed items ('c', by the day of completion) and the open items due before the watermark
    ('o', by the day of the deadline): the rows filtered as its WHERE filters them and each
    flag of `lib.lights.light_flags_sql` at FAR written out in numpy, NULL as NaN (a
    comparison with NULL is not true in SQL, one with NaN false in numpy; every flag that
    could differ is ANDed with the times being known). `verify` recounts the cells in SQL."""
    unit, sub, region, recv, due, done, cancelled, verdict, pct = (
        a[:, i] for i in _joined_index(("unit_id", "subsystem_id", "region_id", "received",
                                        "deadline", "completed", "cancelled", "verdict",
                                        "yellow_pct")))
    t = FAR_S
    with np.errstate(invalid="ignore"):  # NULL (NaN) compares false, as in SQL
        ok = ~odd_mask(recv, due, done)
        has_done = ~np.isnan(done)
        closed_rows = ok & has_done
        overdue_rows = ok & ~has_done & (due < watermark)
        known = ~np.isnan(recv) & ~np.isnan(due)
        standing = cancelled == 0
        red_verdict = verdict == 2
        v_red = red_verdict & standing
        v_yellow = (verdict == 1) & standing
        is_open = ~has_done | (done > t)
        is_closed = has_done & (done <= t)
        late = known & is_closed & ((done > due) | v_red) & standing
        overdue = ((t > due) | red_verdict) & standing & is_open & known
        late_by_clock = is_closed & (done > due) & standing
        overdue_by_clock = is_open & (t > due) & standing
        near_by_clock = ((due - t) * 100 < pct * (due - recv)) & (t <= due) & is_open
        near = (near_by_clock | (v_yellow & ~late_by_clock & ~overdue_by_clock)) & known & ~v_red
    grey = ~known
    frames = []
    for kind, rows, col, red, near_ in (("c", closed_rows, done, late, near),
                                        ("o", overdue_rows, due, overdue, None)):
        if not rows.any():
            continue
        frames.append(pd.DataFrame({
            "kind": kind, "bucket": ((col[rows] + OFFSET) // DAY).astype(np.int64),
            "unit_id": unit[rows].astype(np.int64), "subsystem_id": sub[rows].astype(np.int64),
            "region_id": region[rows].astype(np.int64), "n": 1,
            "red": red[rows].astype(np.int64),
            "near": 0 if near_ is None else near_[rows].astype(np.int64),
            "grey": grey[rows].astype(np.int64)}))
    if not frames:
        return pd.DataFrame(columns=CELL_KEYS + CELL_SUMS)
    return _cells_summed(frames)


def _cells_summed(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=CELL_KEYS + CELL_SUMS)
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    return frame.groupby(CELL_KEYS, as_index=False, sort=False)[CELL_SUMS].sum()


def _insert_cell_frame(session: Session, cells: pd.DataFrame) -> None:
    """Day cells counted in numpy (`_cells_of`) written as size-1 cells."""
    records = [{"kind": k, "size": 1, "bucket": int(b), "unit_id": int(u), "subsystem_id": int(s),
                "region_id": int(r), "n": int(n), "red": int(red), "near": int(near),
                "grey": int(grey)}
               for k, b, u, s, r, n, red, near, grey in zip(
                   *(cells[c].tolist() for c in CELL_KEYS + CELL_SUMS), strict=True)]
    for start in range(0, len(records), 50_000):
        session.execute(insert(RollupCell), records[start:start + 50_000])


class _Scan:
    """Every month-end snapshot (`rebuild_snapshots`) and every finished month's figures of the
    assessment (`scoring.rebuild_months`) from one read of the items in the table's order,
    a part at a time: each part is filtered in numpy as each one's own read filters it in SQL
    and fed to both (at ten million items each read cost 40-60 s, most of the rebuild).
    Made at the rebuild's start (the old snapshots and months forgotten, the ranges read);
    `add_all` judges the parts in numpy without touching the database (rows a loader holds can
    be judged on another thread); `store` keeps the sums."""

    def __init__(self, days: list[int], keys: list[int], posts: dict, pcts: dict,
                 watermark: int):
        from lib import scoring

        self.days, self.keys, self.posts, self.pcts = days, keys, posts, pcts
        self.watermark = watermark
        self.cells: list[pd.DataFrame] = []  # the day cells' parts (`_cells_of`)
        self.days_a = np.array(self.days, dtype=np.int64)
        self.ts = self.days_a * DAY - OFFSET - 1
        self.months = scoring.MonthScan(self.keys)
        self.parts: list[pd.DataFrame] = []

    @classmethod
    def begin(cls, session: Session, st: RollupState, watermark: int) -> _Scan:
        """The old snapshots and months forgotten, the ranges read from the table and kept in
        `st`: a scan of every item to come."""
        from lib import scoring

        session.execute(delete(RollupSnapshot))
        first, last = _snapshot_range(session, watermark)
        days = month_starts(first, last)
        st.snap_from, st.snap_until = days[0], days[-1]
        keys = scoring.forget_months(session, st, watermark)
        return cls(days, keys, *_lookups(session), watermark)

    def same_as(self, other: _Scan) -> bool:
        return (self.days, self.keys, self.posts, self.pcts, self.watermark) == \
            (other.days, other.keys, other.posts, other.pcts, other.watermark)

    def add_all(self, items: Iterable[np.ndarray]) -> None:
        """Parts of RAW_ITEM_COLUMNS rows (`raw_items`), every row of the table once."""
        from lib import scoring

        ts = self.ts
        for raw in items:
            a = _joined(raw, self.posts, self.pcts)
            del raw
            self.cells.append(_cells_of(a, self.watermark))
            if len(self.cells) >= scoring.FOLD_PARTS:
                self.cells = [_cells_summed(self.cells)]
            self.months.add(a)
            part = _snapshot_of(a, self.days_a, ts)
            if len(part):
                self.parts.append(part)
                if len(self.parts) >= scoring.FOLD_PARTS:  # memory holds the sums so far only
                    self.parts = [_summed(self.parts)]

    def store(self, session: Session) -> tuple[int, int]:
        """The sums kept (the day cells, the snapshots, the months); (snapshots, months)."""
        from lib import scoring

        _insert_cell_frame(session, _cells_summed(self.cells))
        _insert_sums(session, _summed(self.parts))
        scoring.store_months(session, self.months.figures(session), self.keys)
        return len(self.days), len(self.keys)


MAX_CHANGES = 50_000  # logged item versions the sweep adds; more: the marked units judged again


def _changes(session: Session) -> np.ndarray | None:
    """The change log (migration 0026) as RAW_ITEM_COLUMNS rows with the sign last; None when
    it is longer than MAX_CHANGES."""
    c = RollupChange
    rows = session.execute(
        select(c.item_id, c.unit_id, c.handler_id, c.received_at, c.deadline, c.completed_at,
               c.card_cancelled, literal(None), literal(None), c.verdict, c.subsystem_id,
               func.coalesce(c.region_id, -1), c.sign)
        .limit(MAX_CHANGES + 1)).all()
    if len(rows) > MAX_CHANGES:
        return None
    return db.numbers(rows) if rows else np.zeros((0, len(RAW_ITEM_COLUMNS) + 1))


def _apply_changes(session: Session, st: RollupState, changes: np.ndarray) -> dict | None:
    """The kept month-end snapshots and monthly figures brought up to date with the logged
    item versions: the versions a write made judged as the rebuild judges items, minus the
    versions it removed, added to the kept rows of the month-ends and months they touch.
    None (nothing written) if a kept count would go below zero: the kept rows and the log
    disagree, and the caller judges the marked units again instead."""
    from lib import scoring

    if not len(changes):
        return {"changes_applied": 0}
    raw, sign = changes[:, :-1], changes[:, -1]
    posts, pcts = _lookups(session)
    made, gone = (_joined(raw[sign > 0], posts, pcts), _joined(raw[sign < 0], posts, pcts))
    out = {"changes_applied": len(changes)}
    snapshot_rows = month_rows = None
    if st.snap_until is not None:
        days_a = np.array(month_starts(int(st.snap_from), int(st.snap_until)), dtype=np.int64)
        ts = days_a * DAY - OFFSET - 1
        # A version made and one removed that the month-ends see alike cancel out (an item
        # completed after the last kept month-end was open at every one of them either way).
        made_s, gone_s = _unmatched(made, gone, lambda r: alike_key(r, SNAPSHOT_COLUMNS,
                                                                  int(ts[-1])))
        delta = _summed([_snapshot_of(made_s, days_a, ts),
                         _negated(_snapshot_of(gone_s, days_a, ts))])
        delta = delta[(delta[SNAPSHOT_SUMS[4:]] != 0).any(axis=1)]
        if len(delta):
            days, units = sorted(set(delta["day"])), sorted(set(delta["unit_id"]))
            s = RollupSnapshot
            stored = db.frame(session.execute(
                select(s.day, s.unit_id, s.subsystem_id, s.region_id, s.n, s.grey, s.overdue,
                       s.near).where(s.day.in_(days), s.unit_id.in_(units))), SNAPSHOT_SUMS)
            merged = _summed([stored, delta])
            if (merged[SNAPSHOT_SUMS[4:]] < 0).to_numpy().any():
                _log.warning("rollups: the change log and the kept snapshots disagree; "
                             "the marked units are judged again")
                return None
            snapshot_rows = (days, units, merged[merged["n"] != 0])
        out["snapshots_changed"] = len(delta)
    if st.score_until is not None:
        keys = scoring.month_keys(int(st.score_from), int(st.score_until))
        made_m, gone_m = _unmatched(made, gone, scoring.judged_alike)
        month_rows = scoring.changed_months(session, keys, made_m, gone_m)
        if month_rows is None:
            _log.warning("rollups: the change log and the kept monthly figures disagree; "
                         "the marked units are judged again")
            return None
        out["score_months_changed"] = len(month_rows[0]) * len(month_rows[1])
    if snapshot_rows is not None:
        days, units, rows = snapshot_rows
        session.execute(delete(RollupSnapshot).where(RollupSnapshot.day.in_(days),
                                                     RollupSnapshot.unit_id.in_(units)))
        _insert_sums(session, rows)
    if month_rows is not None and month_rows[0]:
        scoring.store_months(session, month_rows[2], month_rows[0], month_rows[1])
    return out


def _unmatched(made: np.ndarray, gone: np.ndarray, key_of) -> tuple[np.ndarray, np.ndarray]:
    """The made and the removed versions (rows) less the pairs, one of each, with the same key:
    what the one adds the other takes away."""
    keys_m, keys_g = [key_of(r) for r in made], [key_of(r) for r in gone]
    common = Counter(keys_m) & Counter(keys_g)

    def left(rows: np.ndarray, keys: list) -> np.ndarray:
        pairs, keep = dict(common), []
        for i, k in enumerate(keys):
            if pairs.get(k, 0) > 0:
                pairs[k] -= 1
            else:
                keep.append(i)
        return rows[keep]
    return left(made, keys_m), left(gone, keys_g)


def alike_key(row: np.ndarray, columns: Sequence[str], last: int) -> tuple:
    """A `_joined` row's `columns` as a key (NULL as None), its completion as none when it
    came after `last`, the last moment the kept figures judge (open then either way): two
    versions with the same key count alike."""
    done = _joined_index(("completed",))[0]
    out = []
    for i in _joined_index(tuple(columns)):
        v = row[i]
        if i == done and v == v and v > last:
            v = np.nan
        out.append(None if v != v else float(v))
    return tuple(out)


def _negated(sums: pd.DataFrame) -> pd.DataFrame:
    """Snapshot sums (SNAPSHOT_SUMS) with the counts negated: what a removed version took."""
    out = sums.copy()
    for c in SNAPSHOT_SUMS[4:]:
        out[c] = -out[c]
    return out


def maintain_snapshots(session: Session, st: RollupState, marked: list[tuple[int, int]],
                       watermark: int) -> dict:
    """The sweep's part for the snapshots: the (unit, month) pairs a write made stale are
    recomputed (one read of the marked units' items through their covering index), and the
    month-ends the watermark has passed since are added (from the open set and the items
    completed since)."""
    if st.snap_until is None:
        return {"snapshots": rebuild_snapshots(session, st, watermark)}
    first, last = int(st.snap_from), int(st.snap_until)
    stale: dict[int, set[int]] = defaultdict(set)
    for unit, marked_day in marked:
        for day in month_starts(max(first_stale(marked_day), first), last):
            stale[day].add(unit)
    if sum(len(u) for u in stale.values()) > MAX_SNAPSHOT_PAIRS:
        return {"snapshots": rebuild_snapshots(session, st, watermark)}
    if stale:
        units = sorted(set().union(*stale.values()))
        sums = snapshot_sums(session, sorted(stale), units)
        s = RollupSnapshot
        for day, day_units in stale.items():
            session.execute(delete(s).where(s.day == day, s.unit_id.in_(sorted(day_units))))
        keep = pd.Series([u in stale[day] for day, u in zip(sums["day"], sums["unit_id"],
                                                           strict=True)], dtype=bool)
        _insert_sums(session, sums[keep.to_numpy()])
    added = month_starts(last + 1, month_start(day_of(watermark)))
    for day in added:
        _store_snapshot(session, day, snapshot_rows(session, day))
        st.snap_until = day
    return {"snapshots_recomputed": sum(len(u) for u in stale.values()),
            "snapshots_added": len(added)}


# -- reading -----------------------------------------------------------------------------------

def cover(a: int, b: int, sizes: tuple[int, ...] = SIZES[::-1]) -> list[tuple[int, int, int]]:
    """(size, first bucket, last bucket) ranges of cells covering the days a..b exactly, the
    coarsest cells first."""
    out: list[tuple[int, int, int]] = []

    def rec(a: int, b: int, i: int) -> None:
        if a > b:
            return
        s = sizes[i]
        if s == 1:
            out.append((1, a, b))
            return
        lo, hi = -(-a // s), (b + 1) // s - 1
        if lo > hi:
            rec(a, b, i + 1)
            return
        rec(a, lo * s - 1, i + 1)
        out.append((s, lo, hi))
        rec((hi + 1) * s, b, i + 1)

    rec(a, b, 0)
    return out


def _without(a: int, b: int, days: list[int]) -> list[tuple[int, int]]:
    """The day range a..b split around the given days."""
    out, start = [], a
    for d in sorted(days):
        if d < start or d > b:
            continue
        if d > start:
            out.append((start, d - 1))
        start = d + 1
    if start <= b:
        out.append((start, b))
    return out


def _cell_terms(kind: str, a: int, b: int, dirty: dict[int, list[int]]):
    """WHERE terms selecting the clean cells of `kind` covering days a..b: (the terms of the
    clean units, one per cell size: a few; the dirty units' terms, one per range of their
    clean days: as many as their dirty days split them into), each a (kind, size, bucket
    range[, unit]) conjunction, one range of the key."""
    c = RollupCell
    terms = []
    units = sorted(dirty)
    for s, lo, hi in cover(a, b):
        term = [c.kind == kind, c.size == s, c.bucket.between(lo, hi)]
        if units:
            term.append(c.unit_id.not_in(units))
        terms.append(and_(*term))
    unit_terms = [and_(c.kind == kind, c.size == s, c.bucket.between(lo, hi), c.unit_id == unit)
                  for unit, days in dirty.items()
                  for x, y in _without(a, b, days) for s, lo, hi in cover(x, y)]
    return terms, unit_terms


def usable(session: Session, as_of: datetime) -> RollupState | None:
    """The state when the rollups can answer for `as_of` (at or after the watermark, or at a
    past month's end with its snapshot), else None."""
    return _answer(session, as_of)[0]


def _answer(session: Session, as_of: datetime) -> tuple[RollupState | None, int | None]:
    """(the state, the snapshot's day for a past month's end, else None); (None, None) when the
    base table must answer."""
    if os.environ.get("ESUP_ROLLUPS", "").strip().lower() == "off":
        return None, None  # switched off (the benchmark's direct figures; an escape hatch)
    st = state(session)
    if st is None or not st.built:
        return None, None
    t = epoch(as_of)
    if t >= int(st.overdue_until):
        return st, None
    day = snapshot_day(t)
    if day is None or st.snap_from is None or not st.snap_from <= day <= st.snap_until:
        return None, None
    return st, day


def as_of_source(session: Session, as_of: datetime) -> str:
    """Which source answers a view as of `as_of`: 'rollups', 'snapshot' (a past month's end)
    or 'direct' (the base table)."""
    st, day = _answer(session, as_of)
    return "direct" if st is None else "snapshot" if day is not None else "rollups"


def light_counts(session: Session, *, as_of: datetime, window_days: int | None = 365,
                 region_id: int | None = None, unit_id: int | None = None,
                 subsystem_ids: Sequence[int] | None = None) -> tuple[str, list[tuple]] | None:
    """The rows `lib.queries.direct_light_counts` sums (RAW_COLUMNS, one per unit, subsystem and
    region), from the cells (at a past month's end: and its snapshot) and the live part, with
    the source's name ('rollups' or 'snapshot'); None when the rollups cannot answer.
    `subsystem_ids`: only these subsystems (a domain page's)."""
    from lib import queries

    st, snap = _answer(session, as_of)
    if st is None:
        return None
    dirty_rows = session.execute(select(RollupDirty.kind, RollupDirty.unit_id, RollupDirty.day)
                                 .limit(MAX_DIRTY + 1)).all()
    if len(dirty_rows) > MAX_DIRTY:
        return None
    t = epoch(as_of)
    w = int(st.overdue_until)
    d2 = day_of(t + 1) - 1  # the last whole day up to T
    if window_days is None:
        since, d1 = None, 0
    else:
        since = t - window_days * DAY
        d1 = day_of(since) + 1  # the first whole day after T − W
    dirty: dict[str, dict[int, list[int]]] = {k: defaultdict(list) for k in "cos"}
    for kind, unit, day in dirty_rows:
        if unit_id is None or unit == unit_id:
            dirty[kind][unit].append(day)
    # At a past month's end: the units whose snapshot a write has made stale are read live.
    stale = sorted(u for u, days in dirty["s"].items()
                   if snap is not None and first_stale(min(days)) <= snap)

    # Cells (at a past month's end: the closed ones, and the snapshot of the open set).
    c = RollupCell
    # The window's first, partial day (T − W to the end of its day) is read live; or, when its
    # head (the day's start to T − W) is the shorter span and no marker makes that day's cells
    # stale, the day's cells are read with the others and the head's items taken off them
    # (`head`, below). Completions fall in office hours: at night the tail holds the whole day
    # (5,100 items at ten million) and the head none.
    head = (since is not None and 1 <= d1 <= d2 + 1  # (that day a whole day the cells hold)
            and since - day_start(d1 - 1) < day_start(d1) - since
            and not any(d1 - 1 in days for days in dirty["c"].values()))
    terms, unit_terms = _cell_terms("c", d1 - 1 if head else d1, d2, dirty["c"])
    if snap is None:
        # No 'o' cell lies after the watermark's day (an item is in one only while its deadline
        # is before the watermark): the range runs to the end of the top-level cell holding
        # that day, so each group's cells before it are read as one (migration 0027).
        # A dirty day after the watermark's (the deadline of an open item just written) has no
        # cell and would only split its unit's range: left out.
        top, last = SIZES[-1], day_of(w)
        past = {u: [d for d in days if d <= last] for u, days in dirty["o"].items()
                if min(days) <= last}
        more, more_units = _cell_terms("o", 0, (last // top + 1) * top - 1, past)
        terms, unit_terms = terms + more, unit_terms + more_units
    # The dirty units' clean days (rare, between sweeps): parts of at most OR_TERMS terms
    # (SQLite parses an OR of n terms n deep, and refuses an expression deeper than 1,000).
    terms += [or_(*unit_terms[i:i + OR_TERMS]) for i in range(0, len(unit_terms), OR_TERMS)]
    out: dict[tuple, list[int]] = {}

    def add(key, vals):
        acc = out.get(key)
        if acc is None:
            out[key] = list(vals)
        else:
            for i, v in enumerate(vals):
                acc[i] += v

    if terms:
        also = []
        if region_id is not None:
            also.append(c.region_id == region_id)
        if unit_id is not None:
            also.append(c.unit_id == unit_id)
        if subsystem_ids is not None:
            also.append(queries.one_of(c.subsystem_id, subsystem_ids))
        # One part per term, each read through the primary key's range: a single OR of them
        # made SQLite gather every cell's key in a temporary table and read each cell twice
        # (a year's 10,400 cells: 33 -> 23 ms). The text is kept per shape (`db.indexed_by`).
        cells = union_all(*[select(c.unit_id, c.subsystem_id, c.region_id, c.kind, c.n, c.red,
                                   c.near, c.grey).where(term, *also) for term in terms]
                          ).subquery()
        stmt = (select(cells.c.unit_id, cells.c.subsystem_id, cells.c.region_id, cells.c.kind,
                       func.sum(cells.c.n), func.sum(cells.c.red), func.sum(cells.c.near),
                       func.sum(cells.c.grey))
                .group_by(cells.c.unit_id, cells.c.subsystem_id, cells.c.region_id,
                          cells.c.kind))
        for unit, sub, region, kind, n, red, near, grey in db.hinted_cursor(session, stmt, []):
            n, red, near, grey = int(n), int(red), int(near), int(grey)
            key = (unit, sub, None if region == -1 else region)
            if kind == "c":  # total, open, grey, late, closed, overdue, near
                add(key, (n, 0, grey, red, n - grey, 0, near))
            else:
                add(key, (n, n, grey, 0, 0, red, 0))
    pending_days: list[tuple[int, int]] = []  # (unit, day of the deadline) read live
    if snap is None:
        # The pending cells (the open items due after the watermark's day), summed in SQL with
        # their light on T's day, but those whose light needs the items' own times (T's day is
        # their deadline's, or their group's turn to yellow or late receipt: read live by
        # `_pending_group_parts`) or that a write made stale (read live with the rest of their
        # unit's day).
        first, today = first_pending_day(w), day_of(t)
        dirty_days = {(u, d) for u, days in dirty["o"].items() for d in days if d >= first}
        pending_days = sorted((u, d) for u, d in dirty_days if d != today)
        stmt = pending_sums(first, today)
        if region_id is not None:
            stmt = stmt.where(RollupPending.region_id == region_id)
        if unit_id is not None:
            stmt = stmt.where(RollupPending.unit_id == unit_id)
        if subsystem_ids is not None:
            stmt = stmt.where(queries.one_of(RollupPending.subsystem_id, subsystem_ids))
        for u, sub, region, total, grey, overdue, near in db.raw_cursor(session, stmt):
            add((u, sub, None if region == -1 else region),
                (int(total), int(total), int(grey), 0, 0, int(overdue), int(near)))
    if snap is not None:
        s = RollupSnapshot
        stmt = select(s.unit_id, s.subsystem_id, s.region_id, s.n, s.grey, s.overdue,
                      s.near).where(s.day == snap)
        if stale:
            stmt = stmt.where(s.unit_id.not_in(stale))
        if region_id is not None:
            stmt = stmt.where(s.region_id == region_id)
        if unit_id is not None:
            stmt = stmt.where(s.unit_id == unit_id)
        if subsystem_ids is not None:
            stmt = stmt.where(s.subsystem_id.in_(subsystem_ids))
        for unit, sub, region, n, grey, overdue, near in db.raw_cursor(session, stmt):
            add((unit, sub, None if region == -1 else region),
                (int(n), int(n), int(grey), 0, 0, int(overdue), int(near)))

    # The live part: every item not in a clean cell (nor in the snapshot).
    done, due = _ts(Item.completed_at), _ts(Item.deadline)
    # (where, the index that reads it, what the WHERE holds of its rows): SQLite is told the
    # index (its statistics take `completed_at IS NULL` for a rare value), PostgreSQL's planner
    # picks it by itself. The parts that select open items only ("open") are counted with the
    # open branch of the rule (`light_flags_sql(open_at=True)`), and those that also select a
    # range of the deadline ("open, due") without its NULL test.
    not_done = Item.completed_at.is_(None)
    if snap is None:
        live = [
            ([Item.completed_at.is_not(None), done >= day_start(d2 + 1), not_odd()],
             "ix_items_completed", None),
            ([not_done, Item.deadline.is_(None)], "ix_items_open", "open"),
            # The open items due in the rest of the watermark's day, and on T's day.
            ([not_done, due >= w, due < day_start(first), not_odd(open_=True)], "ix_items_open",
             "open, due"),
            ([odd()], "ix_items_odd", None),
        ]
        if today >= first:
            live.append(([not_done, due >= day_start(today), due < day_start(today + 1),
                          not_odd(open_=True)], "ix_items_open", "open, due"))
        terms = [and_(Item.unit_id == u, due >= day_start(d), due < day_start(d + 1))
                 for u, d in pending_days]
        for i in range(0, len(terms), OR_TERMS):
            live.append(([not_done, or_(*terms[i:i + OR_TERMS]), not_odd(open_=True)],
                          "ix_items_open", "open, due"))
    else:  # T is the month's last second: a closed item's day is at most d2
        live = [([odd()], "ix_items_odd", None)]
        if stale:
            live.append(([Item.unit_id.in_(stale), _open_at(t), not_odd()],
                         "ix_items_unit_received", None))
    if since is not None and not head:
        live.append(([Item.completed_at.is_not(None), done > since, done < day_start(d1),
                      not_odd()], "ix_items_completed", None))
    closed_days = [and_(Item.unit_id == u, done >= day_start(d), done < day_start(d + 1))
                   for u, days in dirty["c"].items() for d in days if d1 <= d <= d2]
    for i in range(0, len(closed_days), OR_TERMS):
        live.append(([Item.completed_at.is_not(None), or_(*closed_days[i:i + OR_TERMS]),
                      not_odd()], None, None))
    open_days = [and_(Item.unit_id == u, due >= day_start(d), due < min(day_start(d + 1), w))
                 for u, days in dirty["o"].items() for d in days if day_start(d) < w]
    if snap is None:
        for i in range(0, len(open_days), OR_TERMS):
            live.append(([not_done, or_(*open_days[i:i + OR_TERMS]), not_odd(open_=True)],
                          "ix_items_open", "open, due"))
    bases: dict[str | None, object] = {}
    for _, _, known in live:
        if known not in bases:
            bases[known], values = queries.light_template(
                as_of=as_of, window_days=window_days, region_id=region_id, unit_id=unit_id,
                subsystem_ids=subsystem_ids, open_only=known is not None,
                due_known=known == "open, due")
    parts = [bases[known].where(*where) for where, _, known in live]
    indexes = [index for _, index, _ in live]
    if snap is None:
        base = bases.get("open, due")
        if base is None:
            base, values = queries.light_template(
                as_of=as_of, window_days=window_days, region_id=region_id, unit_id=unit_id,
                subsystem_ids=subsystem_ids, open_only=True, due_known=True)
        parts += _pending_group_parts(base, first, today)
        indexes += ["ix_items_open_units"] * (len(parts) - len(indexes))
    # (The selects are kept per shape with T, T − W and the filters as parameters, bound here.)
    for row in db.hinted_cursor(session, union_all(*parts), indexes, values):
        add((row[0], row[1], row[2]), [int(x or 0) for x in row[3:]])
    if head:
        # The items completed from the start of the window's first day to T − W: counted in
        # that day's cells above, not in view, taken off (closed before T: their flags are the
        # cells'). A group left with nothing is no row, as in the base table's answer.
        base, values = queries.light_template(
            as_of=as_of, window_days=None, region_id=region_id, unit_id=unit_id,
            subsystem_ids=subsystem_ids)
        stmt = base.where(Item.completed_at.is_not(None), done >= day_start(d1 - 1),
                          done <= since, not_odd())
        for row in db.hinted_cursor(session, stmt, ["ix_items_completed"], values):
            add((row[0], row[1], row[2]), [-int(x or 0) for x in row[3:]])
    rows = [(*k, *out[k]) for k in sorted(out, key=lambda k: (k[0], k[1], -1 if k[2] is None
                                                             else k[2])) if any(out[k])]
    return ("rollups" if snap is None else "snapshot"), rows


# -- verification ------------------------------------------------------------------------------

def verify(session: Session, now: datetime | None = None) -> list[str]:
    """Every clean day cell recomputed from the base table and compared; every coarser cell
    compared with the sum of the finer ones; and the cockpit's counts through the rollups compared
    with the base table's at `now` for three windows. Returns the drift, in words (empty: none)."""
    from lib import queries, scoring
    from lib.access import SYSTEM
    from lib.clock import now_utc

    now = now or now_utc()
    st = state(session)
    if st is None or not st.built:
        return ["rollups not built (run: python -m lib rollups rebuild)",
                *disclosure_drift(session)]
    drift: list[str] = []
    dirty = {tuple(r) for r in session.execute(
        select(RollupDirty.kind, RollupDirty.unit_id, RollupDirty.day)).all()}
    c = RollupCell
    cols = (c.kind, c.bucket, c.unit_id, c.subsystem_id, c.region_id)

    def cells(rows):
        return {tuple(r[:5]): tuple(int(x) for x in r[5:]) for r in rows}

    expected = {}
    for kind, where in (("c", _closed_where()), ("o", _overdue_where(int(st.overdue_until)))):
        stmt = _cell_select(kind, *where)
        expected |= {(r[0], r[2], r[3], r[4], r[5]): tuple(int(x) for x in r[6:])
                     for r in session.execute(stmt).all()}
    stored = cells(session.execute(select(*cols, c.n, c.red, c.near, c.grey)
                                   .where(c.size == 1)).all())
    for key in sorted(set(expected) | set(stored), key=str):
        if (key[0], key[2], key[1]) in dirty:
            continue
        if expected.get(key) != stored.get(key):
            drift.append(f"cell {key} (kind, day, unit, subsystem, region): stored "
                         f"{stored.get(key)}, base table {expected.get(key)}")
    for lower, size in zip(SIZES, SIZES[1:], strict=False):
        summed: dict[tuple, list[int]] = {}
        for key, vals in cells(session.execute(select(*cols, c.n, c.red, c.near, c.grey)
                                               .where(c.size == lower)).all()).items():
            k = (key[0], key[1] // (size // lower), *key[2:])
            acc = summed.setdefault(k, [0, 0, 0, 0])
            for i, v in enumerate(vals):
                acc[i] += v
        summed = {k: tuple(v) for k, v in summed.items()}
        upper = cells(session.execute(select(*cols, c.n, c.red, c.near, c.grey)
                                      .where(c.size == size)).all())
        for key in sorted(set(summed) | set(upper), key=str):
            if summed.get(key) != upper.get(key):
                drift.append(f"{size}-day cell {key}: stored {upper.get(key)}, "
                             f"sum of {lower}-day cells {summed.get(key)}")
    drift += verify_pending(session, st, dirty)
    drift += verify_snapshots(session, st, dirty)
    drift += scoring.verify_months(session, st, dirty)
    if not drift and usable(session, now) is not None:
        checks = [(now, window) for window in (30, 365, None)]
        if st.snap_until is not None:
            checks.append((datetime.fromtimestamp(snapshot_time(int(st.snap_until)), UTC), 365))
        for at, window in checks:
            a = queries.light_counts(session, user=SYSTEM, as_of=at, window_days=window)
            b = queries.direct_light_counts(session, user=SYSTEM, as_of=at, window_days=window)
            if not frames_equal(a, b):
                drift.append(f"cockpit counts as of {at:%Y-%m-%d %H:%M:%S} UTC, window "
                             f"{window or 'all'}: rollups differ from the base table")
    return drift + disclosure_drift(session)


def verify_pending(session: Session, st: RollupState, dirty: set[tuple]) -> list[str]:
    """Every pending cell of a clean (unit, day of the deadline) against the base table."""
    w = int(st.overdue_until)

    def keyed(rows) -> dict[tuple, int]:
        return {tuple(int(x) for x in r[:7]): int(r[7]) for r in rows
                if ("o", int(r[0]), int(r[1])) not in dirty}

    p = RollupPending
    expected = keyed(session.execute(pending_select(w)).all())
    stored = keyed(session.execute(select(*[getattr(p, c) for c in PENDING_COLUMNS])).all())
    return [f"pending cell {key} (unit, day due, subsystem, region, day turning yellow, day "
            f"received late, class): stored {stored.get(key)}, base table {expected.get(key)}"
            for key in sorted(set(expected) | set(stored))
            if expected.get(key) != stored.get(key)]


def _disclosure_sums():
    v = VillageDisclosure
    return (select(v.month, func.sum(v.party_items + v.village_items + v.finance_items),
                   func.sum(v.views)).group_by(v.month))


def disclosure_drift(session: Session) -> list[str]:
    """The months' disclosure totals (`village_disclosure_months`, kept by triggers) against
    the sums of the villages' rows, in words (empty: none)."""
    def rows(stmt):
        return {m: (int(i), int(v)) for m, i, v in session.execute(stmt).all()}

    want = rows(_disclosure_sums())
    m = VillageDisclosureMonth
    kept = rows(select(m.month, m.items, m.views))
    return [f"disclosure totals of {month}: kept (items, views) {kept.get(month, (0, 0))}, "
            f"the villages' rows {want.get(month, (0, 0))}"
            for month in sorted(set(want) | set(kept))
            if kept.get(month, (0, 0)) != want.get(month, (0, 0))]


def rebuild_disclosure_months(session: Session) -> int:
    """The months' disclosure totals recomputed from the villages' rows; returns the months.
    In a transaction of its own (`python -m lib rollups rebuild` runs it after `rebuild`): on
    PostgreSQL it locks the villages' rows against writes, and a publication writes them before
    it marks items, so taking this lock after the items' markers' could deadlock with it."""
    if session.get_bind().dialect.name == "postgresql":  # no trigger may add meanwhile
        session.execute(text("LOCK TABLE village_disclosures IN SHARE ROW EXCLUSIVE MODE"))
    m = VillageDisclosureMonth
    session.execute(delete(m))
    session.execute(insert(m).from_select(["month", "items", "views"], _disclosure_sums()))
    return int(session.scalar(select(func.count()).select_from(m)) or 0)


def verify_snapshots(session: Session, st: RollupState, dirty: set[tuple]) -> list[str]:
    """Every month-end snapshot recomputed (in SQL, by the light rule at that moment) and compared
    with the stored one, leaving out the units a write has marked stale."""
    if st.snap_until is None:
        return []
    marked: dict[int, int] = {}
    for kind, unit, day in dirty:
        if kind == "s":
            marked[unit] = min(day, marked.get(unit, day))
    s = RollupSnapshot
    stored: dict[int, dict[tuple, tuple]] = defaultdict(dict)
    for day, unit, sub, region, n, grey, overdue, near in session.execute(
            select(s.day, s.unit_id, s.subsystem_id, s.region_id, s.n, s.grey, s.overdue,
                   s.near)).all():
        stored[day][(unit, sub, region)] = (int(n), int(grey), int(overdue), int(near))
    drift = []
    days = month_starts(int(st.snap_from), int(st.snap_until))
    for day in set(stored) - set(days):
        drift.append(f"snapshot of {date_of(day - 1)}: outside the range built")
    for day in days:
        expected = {k: tuple(v) for k, v in snapshot_rows(session, day).items()}
        have = stored.get(day, {})
        for key in sorted(set(expected) | set(have)):
            if key[0] in marked and first_stale(marked[key[0]]) <= day:
                continue
            if expected.get(key) != have.get(key):
                drift.append(f"snapshot of {date_of(day - 1)} {key} (unit, subsystem, region): "
                             f"stored {have.get(key)}, base table {expected.get(key)}")
    return drift


def frames_equal(a, b) -> bool:
    """Two light-count frames hold the same rows (in any order)."""
    key = ["unit_id", "subsystem_id", "region_id"]

    def norm(df):
        df = df.copy()
        df["region_id"] = df["region_id"].fillna(-1).astype(int)
        df = df[df["total"] != 0]  # (a negative row is a wrong one: kept, compared)
        return df.sort_values(key).reset_index(drop=True).astype(int)

    return norm(a).equals(norm(b))


def dirty_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(RollupDirty)) or 0)

