"""Rollups: the cockpit's counts read in time proportional to units × days, not to items.

A closed item's light never changes again, and an open item past its deadline is simply red until
it closes. So the items are split three ways:

- **closed** items are counted in cells (kind 'c') per unit, subsystem, region and local day of
  completion: how many, and of them red, yellow and grey, exactly as `lib.lights` counts them;
- **open items past the overdue watermark** (`rollup_state.overdue_until`, moved up to the minute
  by every sweep) are counted in cells (kind 'o') per local day of the deadline;
- everything else is read **live** from the base table through small indexes: open items not
  yet overdue (the partial index `ix_items_open`), items completed on the window's partial first
  and last days (`ix_items_completed`), items whose times contradict each other (`ix_items_odd`).

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

import os
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from lib.lights import epoch, light_flags_sql
from lib.models import ODD_SQL, Item, RollupCell, RollupDirty, RollupState, Subsystem

SIZES = (1, 8, 64)  # cell sizes in days, finest first
OFFSET = 8 * 3600  # China Standard Time (no summer time): local day = (epoch + OFFSET) // 86400
DAY = 86400
MAX_DIRTY = 2000  # more dirty days than this: the base table answers until the sweep has run
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


def not_odd():
    """Rows whose times do not contradict each other (`ODD_SQL` is not true)."""
    recv, due, done = _ts(Item.received_at), _ts(Item.deadline), _ts(Item.completed_at)
    return and_(or_(recv.is_(None), due.is_(None), due >= recv),
                or_(recv.is_(None), done.is_(None), done >= recv),
                or_(due.is_(None), due >= 0), or_(done.is_(None), done >= 0))


def odd():
    """The predicate of the partial index `ix_items_odd`, word for word (SQLite matches it)."""
    return text(f"({ODD_SQL})")


# -- state -----------------------------------------------------------------------------------

def state(session: Session) -> RollupState | None:
    return session.get(RollupState, 1)


def _lock(session: Session) -> RollupState:
    """The state row, and on PostgreSQL the dirty markers, held until the transaction ends: no
    write can add a marker while the cells are recomputed (SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE rollup_dirty IN EXCLUSIVE MODE"))
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


def rebuild(session: Session, now: datetime | None = None) -> dict:
    """Every cell recomputed from the base table; the dirty markers cleared; the watermark at
    `now`. Returns what was built."""
    from lib.clock import now_utc

    now = now or now_utc()
    st = _lock(session)
    watermark = _watermark(now)
    session.execute(delete(RollupCell))
    session.execute(delete(RollupDirty))
    _insert_cells(session, _cell_select("c", *_closed_where()))
    _insert_cells(session, _cell_select("o", *_overdue_where(watermark)))
    for lower, size in zip(SIZES, SIZES[1:], strict=False):
        _roll_up(session, size, lower)
    st.built, st.overdue_until, st.maintained_at = True, watermark, epoch(now)
    session.flush()
    cells = session.scalar(select(func.count()).select_from(RollupCell))
    return {"cells": int(cells or 0), "overdue_until": watermark}


def maintain(session: Session, now: datetime | None = None) -> dict:
    """The sweep's part: move the watermark up to `now` (the open items falling due since are
    recomputed into 'o' cells) and recompute the dirty days' cells. Cheap when little changed."""
    from lib.clock import now_utc

    now = now or now_utc()
    st = _lock(session)
    if not st.built:
        return rebuild(session, now) | {"rebuilt": True}
    old, new = int(st.overdue_until), _watermark(now)
    if new > old:
        # The open items that fall due between the two watermarks: their days are recomputed.
        due = _ts(Item.deadline)
        keys = session.execute(
            select(Item.unit_id, _day_sql(Item.deadline)).distinct()
            .where(Item.completed_at.is_(None), due >= old, due < new)).all()
        _mark(session, [("o", u, d) for u, d in keys])
        st.overdue_until = new
    dirty = [tuple(r) for r in session.execute(
        select(RollupDirty.kind, RollupDirty.unit_id, RollupDirty.day)).all()]
    if len(dirty) > MAX_DIRTY * 5:
        return rebuild(session, now) | {"rebuilt": True}
    if dirty:
        _recompute(session, dirty, max(new, old))
        session.execute(delete(RollupDirty))
    st.maintained_at = epoch(now)
    session.flush()
    return {"dirty": len(dirty), "overdue_until": int(st.overdue_until)}


def _mark(session: Session, keys) -> None:
    have = {tuple(r) for r in session.execute(
        select(RollupDirty.kind, RollupDirty.unit_id, RollupDirty.day)).all()}
    rows = [{"kind": k, "unit_id": u, "day": d} for k, u, d in set(keys) - have]
    if rows:
        session.execute(insert(RollupDirty), rows)


def _recompute(session: Session, dirty: list[tuple], watermark: int) -> None:
    c, d = RollupCell, RollupDirty
    # Day cells of the dirty (kind, unit, day): deleted, then recomputed from the base table.
    marked = select(d.kind).where(d.kind == c.kind, d.unit_id == c.unit_id, d.day == c.bucket)
    session.execute(delete(c).where(c.size == 1, marked.exists()))
    for kind, col, where in (("c", Item.completed_at, _closed_where()),
                             ("o", Item.deadline, _overdue_where(watermark))):
        t = _ts(col)
        stmt = _cell_select(kind, *where).join(
            d, and_(d.kind == kind, d.unit_id == Item.unit_id, t >= d.day * DAY - OFFSET,
                    t < d.day * DAY + (DAY - OFFSET)))
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
    """WHERE terms selecting the clean cells of `kind` covering days a..b: a flat list of
    (kind, size, bucket range[, unit]) conjunctions, each one range of the key."""
    c = RollupCell
    terms = []
    units = sorted(dirty)
    for s, lo, hi in cover(a, b):
        term = [c.kind == kind, c.size == s, c.bucket.between(lo, hi)]
        if units:
            term.append(c.unit_id.not_in(units))
        terms.append(and_(*term))
    for unit, days in dirty.items():
        terms += [and_(c.kind == kind, c.size == s, c.bucket.between(lo, hi), c.unit_id == unit)
                  for x, y in _without(a, b, days) for s, lo, hi in cover(x, y)]
    return terms


def usable(session: Session, as_of: datetime) -> RollupState | None:
    """The state when the rollups can answer for `as_of`, else None."""
    if os.environ.get("ESUP_ROLLUPS", "").strip().lower() == "off":
        return None  # switched off (the benchmark's direct figures; an operator's escape hatch)
    st = state(session)
    if st is None or not st.built or epoch(as_of) < int(st.overdue_until):
        return None
    return st


def as_of_source(session: Session, as_of: datetime) -> str:
    """Which source answers a view as of `as_of`: 'rollups' or 'direct' (the base table)."""
    return "rollups" if usable(session, as_of) is not None else "direct"


def light_counts(session: Session, *, as_of: datetime, window_days: int | None = 365,
                 region_id: int | None = None, unit_id: int | None = None) -> list[tuple] | None:
    """The rows `lib.queries.direct_light_counts` sums (RAW_COLUMNS, one per unit, subsystem and
    region), from the cells and the live part; None when the rollups cannot answer."""
    from lib import queries

    st = usable(session, as_of)
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
    dirty: dict[str, dict[int, list[int]]] = {"c": defaultdict(list), "o": defaultdict(list)}
    for kind, unit, day in dirty_rows:
        if unit_id is None or unit == unit_id:
            dirty[kind][unit].append(day)

    # Cells.
    c = RollupCell
    terms = _cell_terms("c", d1, d2, dirty["c"]) + _cell_terms("o", 0, day_of(w), dirty["o"])
    out: dict[tuple, list[int]] = {}

    def add(key, vals):
        acc = out.get(key)
        if acc is None:
            out[key] = list(vals)
        else:
            for i, v in enumerate(vals):
                acc[i] += v

    if terms:
        stmt = (select(c.unit_id, c.subsystem_id, c.region_id, c.kind, func.sum(c.n),
                       func.sum(c.red), func.sum(c.near), func.sum(c.grey))
                .where(or_(*terms)).group_by(c.unit_id, c.subsystem_id, c.region_id, c.kind))
        if region_id is not None:
            stmt = stmt.where(c.region_id == region_id)
        if unit_id is not None:
            stmt = stmt.where(c.unit_id == unit_id)
        for unit, sub, region, kind, n, red, near, grey in session.execute(stmt).all():
            n, red, near, grey = int(n), int(red), int(near), int(grey)
            key = (unit, sub, None if region == -1 else region)
            if kind == "c":  # total, open, grey, late, closed, overdue, near
                add(key, (n, 0, grey, red, n - grey, 0, near))
            else:
                add(key, (n, n, grey, 0, 0, red, 0))

    # The live part: every item not in a clean cell.
    done, due = _ts(Item.completed_at), _ts(Item.deadline)
    # (where, the index that reads it): SQLite is told the index (its statistics take
    # `completed_at IS NULL` for a rare value), PostgreSQL's planner picks it by itself.
    live = [
        ([Item.completed_at.is_not(None), done >= day_start(d2 + 1), not_odd()],
         "ix_items_completed"),
        ([Item.completed_at.is_(None), Item.deadline.is_(None)], "ix_items_open"),
        ([Item.completed_at.is_(None), due >= w, not_odd()], "ix_items_open"),
        ([odd()], "ix_items_odd"),
    ]
    if since is not None:
        live.append(([Item.completed_at.is_not(None), done > since, done < day_start(d1),
                      not_odd()], "ix_items_completed"))
    closed_days = [and_(Item.unit_id == u, done >= day_start(d), done < day_start(d + 1))
                   for u, days in dirty["c"].items() for d in days if d1 <= d <= d2]
    if closed_days:
        live.append(([Item.completed_at.is_not(None), or_(*closed_days), not_odd()], None))
    open_days = [and_(Item.unit_id == u, due >= day_start(d), due < min(day_start(d + 1), w))
                 for u, days in dirty["o"].items() for d in days if day_start(d) < w]
    if open_days:
        live.append(([Item.completed_at.is_(None), or_(*open_days), not_odd()],
                     "ix_items_open"))
    base = queries.raw_light_select(as_of=as_of, window_days=window_days, region_id=region_id,
                                    unit_id=unit_id)
    stmt = union_all(*[base.where(*where) for where, _ in live])
    if session.get_bind().dialect.name == "sqlite":
        stmt = _indexed_by(stmt, [index for _, index in live])
    for row in session.execute(stmt).all():
        add((row[0], row[1], row[2]), [int(x or 0) for x in row[3:]])
    return [(*k, *out[k]) for k in sorted(out, key=lambda k: (k[0], k[1], -1 if k[2] is None
                                                             else k[2]))]


def _indexed_by(stmt, indexes: list[str | None]):
    """The compound select as SQLite text with `INDEXED BY` after each part's `FROM items`."""
    from sqlalchemy.dialects import sqlite

    compiled = stmt.compile(dialect=sqlite.dialect(paramstyle="named"))
    parts = str(compiled).split("FROM items JOIN")
    if len(parts) != len(indexes) + 1:
        return stmt
    sql = parts[0]
    for index, rest in zip(indexes, parts[1:], strict=True):
        sql += ("FROM items INDEXED BY " + index + " JOIN" if index else "FROM items JOIN") + rest
    return text(sql).bindparams(**compiled.params)


# -- verification ------------------------------------------------------------------------------

def verify(session: Session, now: datetime | None = None) -> list[str]:
    """Every clean day cell recomputed from the base table and compared; every coarser cell
    compared with the sum of the finer ones; and the cockpit's counts through the rollups compared
    with the base table's at `now` for three windows. Returns the drift, in words (empty: none)."""
    from lib import queries
    from lib.access import SYSTEM
    from lib.clock import now_utc

    now = now or now_utc()
    st = state(session)
    if st is None or not st.built:
        return ["rollups not built (run: python -m lib rollups rebuild)"]
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
    if not drift and usable(session, now) is not None:
        for window in (30, 365, None):
            a = queries.light_counts(session, user=SYSTEM, as_of=now, window_days=window)
            b = queries.direct_light_counts(session, user=SYSTEM, as_of=now, window_days=window)
            if not frames_equal(a, b):
                drift.append(f"cockpit counts, window {window or 'all'}: rollups differ from "
                             "the base table")
    return drift


def frames_equal(a, b) -> bool:
    """Two light-count frames hold the same rows (in any order)."""
    key = ["unit_id", "subsystem_id", "region_id"]

    def norm(df):
        df = df.copy()
        df["region_id"] = df["region_id"].fillna(-1).astype(int)
        df = df[df["total"] > 0]
        return df.sort_values(key).reset_index(drop=True).astype(int)

    return norm(a).equals(norm(b))


def dirty_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(RollupDirty)) or 0)

