"""Import of supervised items (`python -m lib import items FILE`), the `items` kind of
`lib.exchange`.

Columns: external_id, subsystem, unit, received_at, time_limit, completed_at (or their Chinese
headers). `time_limit` is like 10wd, 15d or 48h, or empty for the subsystem's default; times
are ISO 8601, Asia/Shanghai when they carry no offset; `unit` is a unit's code or full name.
All rows or none: every row is checked first, and any error stops the import with row-numbered
messages in Chinese. Re-importing an external_id updates that item and records the change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from lib import db
from lib.clock import now_utc
from lib.config import TZ
from lib.exchange import (
    SAMPLE,
    Column,
    ImportFailed,
    ImportResult,
    Kind,
    Row,
    import_bytes,
    parse_time,
    register,
    row_error,
)
from lib.items import upsert_item
from lib.models import Item, ItemEvent, Subsystem, Unit
from lib.workdays import TimeLimit, load_calendar

_log = logging.getLogger(__name__)

__all__ = ["ImportFailed", "ImportResult", "import_items", "import_items_file", "parse_time"]

COLUMNS = (
    Column("external_id", "事项编号", help="来源系统中该事项的唯一编号；再次导入同一编号即更新该事项",
           example="APPROVAL-2026-0000123", max_len=64),
    Column("subsystem", "子系统", help="子系统代码：见系统设置“灯色阈值与默认时限”的“代码（导入用）”列"
                                               "（命令行：python -m lib catalog）",
           example="APPROVAL"),
    Column("unit", "责任单位", help="单位代码或单位全称：见“用户与单位”的单位列表（命令行：python -m lib catalog）",
           example="ZJ.FG"),
    Column("received_at", "受理时间", "datetime", help="如 2026-03-02T09:30 或 2026-03-02 09:30（ISO 8601）；不带时区按北京时间",
           example="2026-03-02T09:30"),
    Column("time_limit", "办理时限", "limit", required=False,
           help="如 10wd（工作日）、15d（自然日）、48h（小时）；留空按子系统默认时限", example="5wd"),
    Column("completed_at", "办结时间", "datetime", required=False, help="未办结留空",
           example=""),
)


def _resolve(session: Session, rows: list[Row]) -> list[str]:
    from lib.workdays import FIRST_YEAR, LAST_YEAR

    subsystems = {s.code: s for s in session.scalars(select(Subsystem))}
    units_by_code = {u.code: u for u in session.scalars(select(Unit))}
    units_by_name = {u.name: u for u in units_by_code.values()}
    # Compared as epoch seconds (integers: a million rows' aware-datetime comparisons cost more
    # than the checks), kept in refs for `_apply`.
    now = int(now_utc().timestamp())
    first = int(datetime(FIRST_YEAR, 1, 1, tzinfo=TZ).timestamp())
    after = int(datetime(LAST_YEAR, 1, 1, tzinfo=TZ).timestamp())
    errors = []
    for row in rows:
        values = row.values
        sub = subsystems.get(values["subsystem"])
        if sub is None:
            errors.append(row_error(row, f"未知子系统代码“{values['subsystem']}”"))
        unit = units_by_code.get(values["unit"]) or units_by_name.get(values["unit"])
        if unit is None:
            errors.append(row_error(row, f"未知单位“{values['unit']}”（请填写单位代码或全称）"))
        received, completed = values["received_at"], values["completed_at"]
        received_ts = int(received.timestamp())
        completed_ts = None if completed is None else int(completed.timestamp())
        if received_ts > now:
            errors.append(row_error(row, "受理时间晚于当前时间"))
        elif not first <= received_ts < after:
            errors.append(row_error(row, f"受理时间超出工作日历范围（{FIRST_YEAR}–{LAST_YEAR - 1} 年）"))
        if completed_ts is not None:
            if completed_ts < received_ts:
                errors.append(row_error(row, "办结时间早于受理时间"))
            if completed_ts > now:
                errors.append(row_error(row, "办结时间晚于当前时间"))
        refs = row.refs
        refs["subsystem"] = sub
        refs["unit"] = unit
        refs["received_ts"] = received_ts
        refs["completed_ts"] = completed_ts
    return errors


def _apply(session: Session, rows: list[Row], actor: str) -> ImportResult:
    """New items go in by bulk insert (with their 'created' history rows); an item whose
    external_id exists is compared and, if anything differs, updated through `upsert_item`
    (history and audit row per change). The run itself is one audit row (`data.import`, with
    the file's hash), so a million-row load stays fast."""
    cal = load_calendar(session)
    result = ImportResult()
    existing = _existing(session, [r["external_id"] for r in rows])
    now_ts = _ts(now_utc())
    fresh = []
    defaults: dict[int, TimeLimit] = {}
    # Per unit (as resolved): its id and the region an item of it belongs to.
    placed = {id(u): (u.id, u.region_id if u.level == "county" else None)
              for u in {id(r.refs["unit"]): r.refs["unit"] for r in rows}.values()}
    unchanged = 0
    for row in rows:
        values, refs = row.values, row.refs
        unit, sub, limit = refs["unit"], refs["subsystem"], values["time_limit"]
        unit_id, region_id = placed[id(unit)]
        sub_id = sub.id
        ext = values["external_id"]
        received_ts = refs["received_ts"]
        effective = limit or defaults.get(sub_id)
        if effective is None:
            effective = defaults[sub_id] = TimeLimit(sub.limit_value, sub.limit_unit)
        due_ts = cal.deadline_ts(received_ts, effective)
        completed_ts = refs["completed_ts"]
        if ext in existing:
            wanted = (sub_id, unit_id, received_ts, limit.value if limit else None,
                      limit.unit if limit else None, due_ts, completed_ts)
            if wanted == existing[ext]:
                unchanged += 1
                continue
            upsert_item(session, cal, external_id=ext, subsystem=sub, unit_id=unit_id,
                        received_at=values["received_at"], limit=limit,
                        completed_at=values["completed_at"],
                        actor=actor, region_id=region_id, note="文件导入")
            result.count("updated", ext)
            continue
        # Times as stored (epoch seconds; UtcEpoch takes them as they are).
        fresh.append({
            "external_id": ext, "subsystem_id": sub_id, "unit_id": unit_id,
            "region_id": region_id, "received_at": received_ts,
            "limit_value": limit.value if limit else None,
            "limit_unit": limit.unit if limit else None, "deadline": due_ts,
            "completed_at": completed_ts, "state": "open" if completed_ts is None else "completed",
            "updated_at": now_ts,
        })
    result.count("unchanged", n=unchanged)
    for r in fresh[:SAMPLE]:  # the keys the preview names
        result.count("created", r["external_id"])
    result.count("created", n=max(len(fresh) - SAMPLE, 0))
    if fresh:
        # Core executemany (the driver's fast path), then the new ids by key for the history.
        session.flush()
        conn = session.connection()
        before = conn.execute(select(func.coalesce(func.max(Item.id), 0))).scalar_one()
        _make_room(session, conn, len(fresh))
        _insert_items(conn, fresh, before)
        if conn.dialect.name == "sqlite":
            # One writer: every item above the highest id before the insert is one of ours.
            conn.exec_driver_sql(
                "INSERT INTO item_events (item_id, at, kind, from_state, to_state, actor, note) "
                "SELECT id, ?, 'created', NULL, state, ?, '文件导入' FROM items WHERE id > ? "
                "ORDER BY id", (now_ts, actor, before))
        else:
            state = {r["external_id"]: r["state"] for r in fresh}
            events = []
            # The new rows' ids: above the highest id before the insert (and among them, ours:
            # another transaction may insert items at the same time).
            for iid, ext in conn.execute(select(Item.id, Item.external_id)
                                         .where(Item.id > before)):
                if ext in state:
                    events.append({"item_id": iid, "at": now_ts, "kind": "created",
                                   "from_state": None, "to_state": state[ext], "actor": actor,
                                   "note": "文件导入"})
            _insert_many(conn, ItemEvent.__table__, events)
    return result


def _existing(session: Session, keys: list[str]) -> dict[str, tuple]:
    """The items already there among these external ids, as comparable tuples (times in epoch
    seconds, as stored)."""
    out: dict[str, tuple] = {}
    conn = session.connection()
    raw = conn.dialect.name == "sqlite"
    for start in range(0, len(keys), 5000):
        chunk = keys[start:start + 5000]
        if raw:  # the driver directly: compiling 5,000 bound parameters costs more than the query
            found = conn.exec_driver_sql(
                "SELECT external_id, subsystem_id, unit_id, received_at, limit_value, limit_unit,"
                " deadline, completed_at FROM items WHERE external_id IN "
                f"({', '.join('?' for _ in chunk)})", tuple(chunk))
            for ext, sub_id, unit_id, recv, lv, lu, due, done in found:
                out[ext] = (sub_id, unit_id, recv, lv, lu, due, done)
            continue
        for ext, sub_id, unit_id, recv, lv, lu, due, done in session.execute(
                select(Item.external_id, Item.subsystem_id, Item.unit_id, Item.received_at,
                       Item.limit_value, Item.limit_unit, Item.deadline, Item.completed_at)
                .where(Item.external_id.in_(chunk))):
            out[ext] = (sub_id, unit_id, _ts(recv), lv, lu, _ts(due), _ts(done))
    return out


# -- large imports on SQLite ---------------------------------------------------------------------
#
# A million new items cost SQLite most in two places: each row goes into a dozen indexes in the
# file's order, which is random for all but one of them (each insert a page the cache may not
# hold), and the rollups' insert trigger runs once per row. For a batch of new items from a file
# at least as large as the table, the indexes are taken off and built again at the import's end
# (sorting once, on helper threads with a small cache: `db.sqlite_sorts`, beats a million random
# inserts), and the page cache is made large for the inserts; for every
# chunk of new rows the insert trigger is set aside and what it would have marked is marked by
# one statement. All of it is inside the import's transaction: a failed import rolls the
# indexes and the trigger back with the rows, and no other writer can come between (SQLite
# has one writer; readers keep seeing the database as it was until the commit).

BULK_MIN_ROWS = 50_000  # below this, the indexes stay (rebuilding them is not worth it)
BULK_CACHE_KIB = 512 * 1024  # the page cache for a large import (default is 2 MiB)
TRIGGER_MIN_ROWS = 1_000  # below this, the insert trigger marks the rollups row by row
INSERT_TRIGGER = "trg_items_rollup_ins"  # lib/migrations/versions/0019_month_end_snapshots.py
# What the insert trigger marks for each new row, for all rows above an id at once (the same
# expressions as its body: the closing day of a closed item, the deadline's day of an open one;
# and the receipt's day, for the month-end snapshots).
MARK_NEW_SQL = (
    "INSERT OR IGNORE INTO rollup_dirty (kind, unit_id, day) "
    "SELECT DISTINCT CASE WHEN completed_at IS NULL THEN 'o' ELSE 'c' END, unit_id, "
    "(COALESCE(completed_at, deadline) + 28800) / 86400 FROM items "
    "WHERE id > ? AND COALESCE(completed_at, deadline) IS NOT NULL",
    "INSERT OR IGNORE INTO rollup_dirty (kind, unit_id, day) "
    "SELECT DISTINCT 's', unit_id, (COALESCE(received_at, 0) + 28800) / 86400 FROM items "
    "WHERE id > ?",
)
# The change log's insert trigger (migration 0026) and what it writes for each new row, for all
# rows above an id at once.
LOG_TRIGGER = "trg_items_changes_ins"
LOG_NEW_SQL = (
    "INSERT INTO rollup_changes (sign, item_id, unit_id, subsystem_id, region_id, handler_id, "
    "received_at, deadline, completed_at, card_cancelled, verdict) "
    "SELECT 1, id, unit_id, subsystem_id, region_id, handler_id, received_at, deadline, "
    "completed_at, card_cancelled, verdict FROM items WHERE id > ? ORDER BY id")


_BULK = "items.bulk"  # session.info: the state of a large import under way


@contextmanager
def _bulk(session: Session, n_rows: int) -> Iterator[None]:
    """Prepare SQLite for a large import (see above); nothing on PostgreSQL or for a small one.
    The indexes are taken off by the first chunk that brings new items (a file of items that
    are all there already keeps them: see `_make_room`)."""
    conn = session.connection()
    if conn.dialect.name != "sqlite" or n_rows < BULK_MIN_ROWS:
        yield
        return
    cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    state = {"rows": n_rows, "there": conn.exec_driver_sql("SELECT count(*) FROM items").scalar(),
             "indexes": None}
    session.info[_BULK] = state
    try:
        yield
        if state["indexes"]:
            t0 = time.perf_counter()
            with db.sqlite_sorts(conn):  # the large cache off while the indexes are sorted
                for _, sql in state["indexes"]:
                    conn.exec_driver_sql(sql)
            _log.info("items: %d indexes built again in %.1f s", len(state["indexes"]),
                      time.perf_counter() - t0)
    finally:
        session.info.pop(_BULK, None)
        if not conn.invalidated:  # a lost connection: its error is the one to report
            conn.exec_driver_sql(f"PRAGMA cache_size={cache}")


def _make_room(session: Session, conn, new_rows: int) -> None:
    """In a large import whose file is at least as large as the table, the first chunk with
    new items takes the indexes off (`_bulk` builds them again at the end)."""
    state = session.info.get(_BULK)
    if (state is None or state["indexes"] is not None or new_rows < TRIGGER_MIN_ROWS
            or state["rows"] < state["there"]):
        return
    state["indexes"] = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items' "
        "AND sql IS NOT NULL ORDER BY name").all()
    for name, _ in state["indexes"]:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')


def _insert_items(conn, rows: list[dict], before: int) -> None:
    """New items (ids above `before`), with the rollups marked for them and logged (migration
    0026). A large one on SQLite without the row triggers: one statement each for all rows."""
    trigger = None
    if conn.dialect.name == "sqlite" and len(rows) >= TRIGGER_MIN_ROWS:
        trigger = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
            (INSERT_TRIGGER,)).scalar()
    if trigger is None:
        _insert_many(conn, Item.__table__, rows)
        return
    log_trigger = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
        (LOG_TRIGGER,)).scalar()
    conn.exec_driver_sql(f"DROP TRIGGER {INSERT_TRIGGER}")
    if log_trigger is not None:
        conn.exec_driver_sql(f"DROP TRIGGER {LOG_TRIGGER}")
    _insert_many(conn, Item.__table__, rows)
    for sql in MARK_NEW_SQL:
        conn.exec_driver_sql(sql, (before,))
    conn.exec_driver_sql(trigger)
    if log_trigger is not None:
        conn.exec_driver_sql(LOG_NEW_SQL, (before,))
        conn.exec_driver_sql(log_trigger)


def _insert_many(conn, table, rows: list[dict]) -> None:
    """Insert many rows at once (all with the same keys, times already in epoch seconds). On
    SQLite straight through the driver's executemany: SQLAlchemy's per-row parameter
    processing cost more than the insert itself. Elsewhere Core's executemany (its
    insertmanyvalues batching is the fast path on PostgreSQL)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), rows)
        return
    names = list(rows[0])
    sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "
           f"VALUES ({', '.join('?' for _ in names)})")
    conn.exec_driver_sql(sql, [tuple(r.values()) for r in rows])


def _ts(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _export(session: Session):
    units = dict(session.execute(select(Unit.id, Unit.code)).all())
    subs = dict(session.execute(select(Subsystem.id, Subsystem.code)).all())
    stmt = select(Item.external_id, Item.subsystem_id, Item.unit_id, Item.received_at,
                  Item.limit_value, Item.limit_unit, Item.completed_at).where(
        Item.verdict == 0, Item.received_at.is_not(None)).order_by(Item.id)
    for ext, sub, unit, recv, lv, lu, done in session.execute(stmt).yield_per(10_000):
        yield {"external_id": ext, "subsystem": subs[sub], "unit": units[unit],
               "received_at": recv, "time_limit": f"{lv}{lu}" if lv else None,
               "completed_at": done}


ITEMS = register(Kind("items", "监察事项", COLUMNS, "external_id", _resolve, _apply,
                      description="任一子系统的监察事项：受理时间、时限与办结时间",
                      export=_export, chunk=20_000, bulk=_bulk))


def import_items(session: Session, text: str, *, actor: str = "导入") -> ImportResult:
    """Validate all rows of a CSV text, then write them; the caller's transaction makes it all
    or nothing."""
    return import_bytes(session, "items", text.encode("utf-8"), filename="items.csv",
                        actor=actor)


def import_items_file(session: Session, path: Path, *, actor: str = "导入") -> ImportResult:
    from lib.exchange import import_file

    return import_file(session, "items", path, actor=actor)
