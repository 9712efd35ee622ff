"""A vectorized loader for the scale benchmark: millions of supervised items on SQLite in minutes.

The demo's reference data and the rest of its records (key work, projects, submissions,
accounts) come from `lib.demo.load_demo` with no ordinary items; once its catalogue and people
exist the items are generated with numpy (the demo's subsystem weights, each subsystem's
departments, counties weighted as in the demo, units with their own habits of lateness) and
written by two forked processes, each into a file of its own with sqlite3's executemany
(journal_mode=OFF, synchronous=OFF), while the demo's other records are written (`build`); then
they are copied in with the triggers and most indexes dropped, which are made again after
(`kept_during_load`); the rows are judged for the rollups' day cells, snapshots and months
while the indexes are built (`lib.rollups.judge_ahead`); finally the rollups are rebuilt from
that judgement (`lib.rollups.rebuild`).

    python -m bench.build --items 10000000 [--days 1825] [--path bench/results/scale_10000000.db]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import time
import traceback
from datetime import datetime
from itertools import chain
from pathlib import Path

import numpy as np
from sqlalchemy import select, text

from lib import catalog, db, demo, rollups
from lib.clock import now_utc
from lib.models import Item, Person, Region, Subsystem, Unit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHUNK = 500_000


def _plan(session):
    """Per subsystem: its id, weight, limit in seconds, and the units that handle it."""
    from lib import domains

    covered = domains.covered_subsystems()
    subs = {s.code: s for s in session.scalars(select(Subsystem))}
    units = [u for u in session.scalars(select(Unit).order_by(Unit.id))
             if u.code != catalog.INSPECTORS_UNIT]
    by_dept: dict[str, list[Unit]] = {}
    for u in units:
        by_dept.setdefault(catalog.dept_of(u.code), []).append(u)
    specs = {s.code: s for s in catalog.SUBSYSTEMS}
    plan = []
    for code, weight in demo.SUBSYSTEM_WEIGHTS.items():
        if code in covered or code not in subs:
            continue
        sub = subs[code]
        depts = specs[code].depts
        pool = [u for d in depts for u in by_dept.get(d, [])] if depts else units
        per_day = {"wd": 86400 * 7 / 5, "d": 86400, "h": 3600}[sub.limit_unit]
        plan.append((sub.id, weight, int(sub.limit_value * per_day), pool))
    counties = [r.id for r in session.scalars(
        select(Region).where(Region.level == "county").order_by(Region.code))]
    staff: dict[int, list[int]] = {}
    for pid, unit in session.execute(select(Person.id, Person.unit_id).order_by(Person.id)):
        staff.setdefault(unit, []).append(pid)
    for u in units:
        u.staff = staff.get(u.id, [])  # (a plain attribute: the handlers drawn for its items)
    return plan, counties, units


HANDLED = 0.7  # the share of items with a handler, one of their unit's people


def _handlers(unit_id: np.ndarray, units, seed: int) -> np.ndarray:
    """A handler per item (0: none), drawn from its own generator so the other columns are the
    same as before handlers were drawn."""
    rng = np.random.default_rng(seed + 1)
    out = np.zeros(len(unit_id), dtype=np.int64)
    handled = np.flatnonzero(rng.random(len(unit_id)) < HANDLED)
    # The handled items grouped by unit, each unit's in their order (a stable sort: the draws
    # below land on the same items as a mask per unit would give them, in a tenth of the time).
    keys = unit_id[handled]
    order = np.argsort(keys.astype(np.int16) if len(keys) and 0 <= keys.min()
                       and keys.max() < 2**15 else keys, kind="stable")
    handled, keys = handled[order], keys[order]
    for u in units:
        staff = getattr(u, "staff", [])
        if not staff:
            continue
        lo, hi = np.searchsorted(keys, [u.id, u.id + 1])
        out[handled[lo:hi]] = np.array(staff)[rng.integers(0, len(staff), size=int(hi - lo))]
    return out


def generate(n: int, days: int, anchor: datetime, plan, counties, units, seed: int = 16,
             by_receipt: bool = False):
    """Columns of n items (numpy arrays); `by_receipt`: in the order of their receipt."""
    rng = np.random.default_rng(seed)
    weights = np.array([p[1] for p in plan], dtype=float)
    sub_idx = rng.choice(len(plan), size=n, p=weights / weights.sum())
    sub_id = np.array([p[0] for p in plan])[sub_idx]
    limit = np.array([p[2] for p in plan])[sub_idx]
    unit_id = np.empty(n, dtype=np.int64)
    region_id = np.empty(n, dtype=np.int64)
    county_w = np.array([3, 3, 2, 3, 5, 4, 7, 7, 5][:len(counties)], dtype=float)
    lateness_of = {u.id: rng.choice([0.3, 0.5, 0.8, 1.0, 1.0, 1.3, 1.8, 2.6, 3.5]) for u in units}
    for k, (_, _, _, pool) in enumerate(plan):
        mask = sub_idx == k
        m = int(mask.sum())
        pick = rng.integers(0, len(pool), size=m)
        ids = np.array([u.id for u in pool])[pick]
        county = np.array([u.level == "county" for u in pool])[pick]
        own = np.array([u.region_id for u in pool])[pick]
        other = np.array(counties)[rng.choice(len(counties), size=m, p=county_w / county_w.sum())]
        unit_id[mask] = ids
        region_id[mask] = np.where(county, own, other)
    end = int(anchor.timestamp())
    received = end - rng.integers(300, days * 86400, size=n)
    # Office hours, local time: receipts move to 08:00–18:00 of their day.
    local = (received + 8 * 3600) % 86400
    received = received - local + 8 * 3600 + (local % (10 * 3600))
    received = np.minimum(received, end - 300)
    deadline = received + limit
    lateness = np.zeros(max(lateness_of, default=0) + 1)
    lateness[list(lateness_of)] = list(lateness_of.values())
    late_p = np.minimum(0.5, 0.03 * lateness[unit_id])
    r = rng.random(n)
    allowed = (deadline - received).astype(float)
    share = rng.beta(2.0, 2.0, size=n) * 0.8
    completed = received + (allowed * share).astype(np.int64)
    late = r < late_p
    completed = np.where(late, deadline + (allowed * rng.uniform(0.02, 0.6, size=n)).astype(np.int64),
                         completed)
    stuck = r < late_p * 0.08
    open_ = stuck | (completed > end)
    cols = {"unit_id": unit_id, "subsystem_id": sub_id, "region_id": region_id,
            "received_at": received, "deadline": deadline, "completed_at": completed,
            "open": open_, "handler_id": _handlers(unit_id, units, seed)}
    if by_receipt:  # rows in the order a real table grows: as the items arrive
        order = np.argsort(received, kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
    return cols


INSERT = ("INSERT INTO items (id, external_id, subsystem_id, unit_id, region_id, received_at, "
          "deadline, completed_at, state, updated_at, handler_id, card_cancelled, verdict) "
          "VALUES (?1, printf('S-%09d', ?1), ?2, ?3, ?4, ?5, ?6, ?7, "
          "CASE WHEN ?7 IS NULL THEN 'open' ELSE 'completed' END, COALESCE(?7, ?5), "
          "NULLIF(?8, 0), 0, 0)")


def insert(con: sqlite3.Connection, cols: dict, first_id: int) -> None:
    """The generated items written with ids from `first_id` (completed NULL: open; handler 0:
    none). The external id, state and update time are made by SQLite from the bound values:
    eight values bound per row instead of eleven (a sixth less time per row)."""
    items = len(cols["unit_id"])
    for lo in range(0, items, CHUNK):
        hi = min(items, lo + CHUNK)
        done = cols["completed_at"][lo:hi].tolist()
        rows = zip(range(first_id + lo, first_id + hi), cols["subsystem_id"][lo:hi].tolist(),
                   cols["unit_id"][lo:hi].tolist(), cols["region_id"][lo:hi].tolist(),
                   cols["received_at"][lo:hi].tolist(), cols["deadline"][lo:hi].tolist(),
                   (None if o else d for d, o in zip(done, cols["open"][lo:hi].tolist(),
                                                     strict=True)),
                   cols["handler_id"][lo:hi].tolist(), strict=True)
        con.executemany(INSERT, rows)


def fork_writer(part: Path, ddl: str, cols: dict, first_id: int) -> int:
    """A forked process writing `cols` into the table `ddl` makes in the file `part` (its own
    connection, never the parent's; it leaves by os._exit, 0 when all is written). The pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            side = sqlite3.connect(part, isolation_level=None)
            side.execute("PRAGMA journal_mode=OFF")
            side.execute("PRAGMA synchronous=OFF")
            side.execute(ddl)
            side.execute("BEGIN")
            insert(side, cols, first_id)
            side.execute("COMMIT")
            side.close()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def wait_writers(pids: list[int]) -> None:
    """Every writer waited for; RuntimeError if one failed (its reason printed above)."""
    failed = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    if failed:
        raise RuntimeError(f"{failed} process(es) writing the generated items failed (above)")


def halves(cols: dict, first_id: int) -> list[tuple[dict, int]]:
    """The columns cut in two halves, each with the id of its first row."""
    half = len(cols["unit_id"]) // 2
    return [({k: v[:half] for k, v in cols.items()}, first_id),
            ({k: v[half:] for k, v in cols.items()}, first_id + half)]


ITEMS_DDL = "SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = 'items'"


def items_ddl(con: sqlite3.Connection) -> str:
    return con.execute(ITEMS_DDL).fetchone()[0]


def insert_halves(con: sqlite3.Connection, part: Path, cols: dict, first_id: int) -> None:
    """`insert` on both cores: the second half of the rows written by a forked process into the
    file `part` (attached to `con` as `part` before its transaction began) while this one writes
    the first, then copied in by SQLite (binding each value in the sqlite3 module is most of an
    insert's time; copying rows between files is not: 5 million rows in a few seconds)."""
    (first, first_at), (second, second_at) = halves(cols, first_id)
    pid = fork_writer(part, items_ddl(con), second, second_at)
    try:
        insert(con, first, first_at)
    finally:
        try:
            wait_writers([pid])
        except RuntimeError:
            raise RuntimeError("the process writing the second half of the items failed "
                               "(above)") from None
    con.execute("INSERT INTO main.items SELECT * FROM part.items")


def raw_parts(cols: dict, first_id: int):
    """The rows `insert` writes as `rollups.raw_items` reads them back (RAW_ITEM_COLUMNS,
    floats, NULL as NaN), a part at a time: what the rebuild is given instead of its read."""
    items = len(cols["unit_id"])
    for lo in range(0, items, rollups.SNAPSHOT_CHUNK):
        hi = min(items, lo + rollups.SNAPSHOT_CHUNK)
        none, zero = np.full(hi - lo, np.nan), np.zeros(hi - lo)
        handler = cols["handler_id"][lo:hi].astype("float64")
        handler[handler == 0] = np.nan
        part = {"id": np.arange(first_id + lo, first_id + hi, dtype="float64"),
                "unit_id": cols["unit_id"][lo:hi], "handler_id": handler,
                "received": cols["received_at"][lo:hi], "deadline": cols["deadline"][lo:hi],
                "completed": np.where(cols["open"][lo:hi], np.nan, cols["completed_at"][lo:hi]),
                "cancelled": zero, "rating": none, "rated_at": none, "verdict": zero,
                "subsystem_id": cols["subsystem_id"][lo:hi], "region_id": cols["region_id"][lo:hi]}
        yield np.column_stack([part[c] for c in rollups.RAW_ITEM_COLUMNS]).astype("float64")


def kept_during_load(ddl: str) -> bool:
    """The partial indexes (`WHERE …`) are left in place while the items are inserted: each
    holds a few of the generated rows (open, odd, with a verdict), so keeping it costs the
    inserts little, while building it afterwards reads the whole table for those few rows
    (0.7–1 s each at ten million items). (`ix_items_rated`, whose key is NULL for every
    generated row, was tried too: its entries go in before the demo's rated items, not at the
    end, and the inserts took 7 s longer than its build afterwards.)"""
    return " WHERE " in ddl.upper()


GENERATED_FROM = 1_000_000  # the generated items' first id: the demo's own stay below it


def build(path: Path, items: int, days: int, anchor: datetime | None = None,
          base: Path | None = None) -> dict:
    """The demo's reference data and records, then `items` generated items, on two cores: the
    items are generated once the catalogue and the people exist and written by two forked
    processes into files of their own while this one writes the rest of the demo (three busy
    processes on two cores: the demo's 20-36 s no longer comes before the inserts), then copied
    in; the indexes are built after, while the rows are judged for the rollups on the other
    core (`rollups.judge_ahead`), and the rollups are rebuilt from that judgement."""
    anchor = (anchor or now_utc()).replace(microsecond=0)
    for f in path.parent.glob(path.name + "*"):
        f.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path}"
    figures: dict[str, float] = {}
    t0 = time.perf_counter()
    if base is not None:
        # The reference data and demo records of an earlier build (its items are kept too).
        shutil.copyfile(base, path)
    engine = db.get_engine(url)
    db.migrate(engine)
    parts = [path.with_name(f"{path.name}-part{k}") for k in (1, 2)]  # (removed above too)
    writing: dict = {"pids": []}

    def ready(s) -> None:
        """The catalogue and the people are there: the items generated and their writers
        started (before any other thread: a process that forks must)."""
        plan, counties, units = _plan(s)
        top = s.scalar(select(Item.id).order_by(Item.id.desc()).limit(1)) or 0
        writing["first_id"] = first_id = max(GENERATED_FROM, top + 1)
        t = time.perf_counter()
        writing["cols"] = cols = generate(items, days, anchor, plan, counties, units)
        figures["of it: generating the items (numpy)"] = time.perf_counter() - t
        ddl = s.execute(text(ITEMS_DDL)).scalar()
        for file, (half, at) in zip(parts, halves(cols, first_id), strict=True):
            writing["pids"].append(fork_writer(file, ddl, half, at))

    try:
        with db.session_scope(engine) as s:
            if base is None:
                demo.load_demo(s, ordinary_items=0, history=False, anchor=anchor, days=days,
                               ready=ready)
            else:
                ready(s)
            first_id, cols = writing["first_id"], writing["cols"]
            top = s.scalar(select(Item.id).order_by(Item.id.desc()).limit(1)) or 0
            if top >= first_id:
                raise RuntimeError(f"the demo's items reach id {top}, past the generated items' "
                                   f"first id {first_id}")
            # The snapshots, the assessment's months and the day cells from the rows in memory,
            # not read back from the table (the read of ten million rows cost half the
            # rebuild): the demo's own items read now, the generated ones given; judged while
            # SQLite builds the indexes.
            own = list(rollups.raw_items(s, Item.id < first_id))
            ahead = rollups.judge_ahead(s, anchor,
                                        lambda: chain(own, raw_parts(cols, first_id)))
    except BaseException:
        for pid in writing["pids"]:  # the writers stopped: nothing left running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        raise
    engine.dispose()
    db._engines.pop(url, None)
    figures["reference data and demo records"] = time.perf_counter() - t0

    t = time.perf_counter()
    wait_writers(writing["pids"])
    figures["the two writers, after the demo"] = time.perf_counter() - t
    ahead.start()  # (after the forks) beside the copies and the index builds, on the other core
    try:
        return _finish(path, url, parts, ahead, anchor, items, figures, t0)
    except BaseException:
        ahead.cancel()  # a failed copy or index build does not leave the process judging
        raise


def _finish(path: Path, url: str, parts: list[Path], ahead: rollups.Ahead, anchor: datetime,
            items: int, figures: dict, t0: float) -> dict:
    """The writers' rows copied in, the indexes and triggers made again, the rollups rebuilt
    from the rows judged ahead."""
    t = time.perf_counter()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")  # for the copies; the index builds sort with a
    # small one and their temporary files as files (`db.sqlite_sorts`)
    for k, file in enumerate(parts, start=1):
        con.execute(f"ATTACH DATABASE ? AS part{k}", (str(file),))  # (not in a transaction)
    indexes = [(name, sql) for name, sql in con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items' "
        "AND sql IS NOT NULL").fetchall() if not kept_during_load(sql)]
    triggers = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                           "AND tbl_name = 'items'").fetchall()
    con.execute("BEGIN")
    for name, _ in indexes:
        con.execute(f"DROP INDEX {name}")
    for name, _ in triggers:
        con.execute(f"DROP TRIGGER {name}")
    for k in (1, 2):
        con.execute(f"INSERT INTO main.items SELECT * FROM part{k}.items")
    figures["copying their items in"] = time.perf_counter() - t
    t = time.perf_counter()
    with db.sqlite_sorts(con):
        for _, ddl in indexes:
            con.execute(ddl)
    for _, ddl in triggers:
        con.execute(ddl)
    con.execute("COMMIT")
    for k, file in enumerate(parts, start=1):
        con.execute(f"DETACH DATABASE part{k}")
        file.unlink()
    con.execute("PRAGMA analysis_limit=2000")
    con.execute("ANALYZE")
    con.close()
    figures["indexes, triggers, ANALYZE"] = time.perf_counter() - t
    t = time.perf_counter()
    engine = db.get_engine(url)
    with db.session_scope(engine) as s:
        built = rollups.rebuild(s, anchor, ahead=ahead)
    figures["rollups rebuild"] = time.perf_counter() - t
    figures["(judging the rows ahead, beside the copies and indexes)"] = ahead.seconds or 0.0
    figures["total"] = time.perf_counter() - t0
    return {"path": str(path), "items": items, "cells": built["cells"], "anchor": anchor,
            "figures": figures}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=10_000_000)
    p.add_argument("--days", type=int, default=1825)
    p.add_argument("--path", type=Path)
    p.add_argument("--base", type=Path, help="start from a copy of an earlier build's database")
    args = p.parse_args()
    path = args.path or RESULTS / f"scale_{args.items}.db"
    out = build(path, args.items, args.days, base=args.base)
    for name, secs in out["figures"].items():
        print(f"  {name:<56} {secs:7.1f} s")
    print(f"built {args.items:,} items ({out['cells']:,} rollup cells) in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


