"""The growth curve on PostgreSQL: the same answers at 1, 3, 10 (and 30) million items, through the
rollups and through the base table, to show that the rollups' cost stays flat while the table
grows.

For each size a database is made (`esup_curve_<n>`, kept for later runs unless --drop): the
demo's reference data and records (`lib.demo.load_demo` with no ordinary items), then the items
generated with numpy as `bench.build` generates them, in the order of their receipt (as a real
table grows), and written with COPY, the items' indexes
and triggers set aside during the load and made again after it, then `rollups.rebuild`. Then every
target of `bench.scale` (the cockpit's query set, light counts, the city at the last month's end,
rankings, the sweep's steady run, a write's extra cost), each against twice SQLite's aim and beside
the base table's answer (`ESUP_ROLLUPS=off`), and the cockpit's server run (AppTest: the first run
in a new process, and again with the caches cleared; with --pages every page's).

    python -m bench.pg_curve [--sizes 1000000,3000000,10000000] [--reuse] [--pages] [--drop]
"""

from __future__ import annotations

import argparse
import os
import time

import sqlalchemy as sa

from bench import build, scale
from lib import db, demo, rollups
from lib.clock import now_utc
from lib.models import Item

ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL",
                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
COLUMNS = ("id", "external_id", "subsystem_id", "unit_id", "region_id", "received_at",
           "deadline", "completed_at", "state", "updated_at", "card_cancelled", "verdict",
           "handler_id")


def _admin(sql: str) -> None:
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(sa.text(sql))
    engine.dispose()


def url_for(n: int) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/esup_curve_{n}"


def load(n: int, days: int = 1825) -> dict[str, float]:
    """A fresh database of n items; returns the time of each step."""
    url = url_for(n)
    _admin(f'DROP DATABASE IF EXISTS "esup_curve_{n}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "esup_curve_{n}"')
    anchor = now_utc().replace(microsecond=0)
    figures: dict[str, float] = {}
    t = time.perf_counter()
    engine = db.get_engine(url)
    db.migrate(engine)
    with db.session_scope(engine) as s:
        demo.load_demo(s, ordinary_items=0, history=False, anchor=anchor, days=days)
        plan, counties, units = build._plan(s)
        first_id = (s.scalar(sa.select(sa.func.max(Item.id))) or 0) + 1
    figures["reference data and demo records"] = time.perf_counter() - t
    t = time.perf_counter()
    cols = build.generate(n, days, anchor, plan, counties, units, by_receipt=True)
    figures["generate (numpy)"] = time.perf_counter() - t
    t = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'items' "
                    "AND indexdef NOT LIKE 'CREATE UNIQUE%'")
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute("ALTER TABLE items DISABLE TRIGGER USER")
        with cur.copy(f"COPY items ({', '.join(COLUMNS)}) FROM STDIN") as cp:
            for lo in range(0, n, build.CHUNK):  # a part at a time: 30M rows as Python lists
                part = {k: v[lo:lo + build.CHUNK].tolist() for k, v in cols.items()}  # need GBs
                for i, (sub, unit, region, r, due, d, o, h) in enumerate(zip(
                        part["subsystem_id"], part["unit_id"], part["region_id"],
                        part["received_at"], part["deadline"], part["completed_at"],
                        part["open"], part["handler_id"], strict=True), start=first_id + lo):
                    cp.write_row((i, f"S-{i:09d}", sub, unit, region, r, due,
                                  None if o else d, "open" if o else "completed",
                                  r if o else d, False, 0, h or None))
        figures["COPY"] = time.perf_counter() - t
        t = time.perf_counter()
        for _, ddl in indexes:
            cur.execute(ddl)
        cur.execute("ALTER TABLE items ENABLE TRIGGER USER")
        cur.execute("SELECT setval(pg_get_serial_sequence('items', 'id'), "
                    "(SELECT max(id) FROM items))")
        raw.commit()
        raw.driver_connection.autocommit = True
        raw.driver_connection.execute("VACUUM ANALYZE items")
        raw.driver_connection.autocommit = False  # the pool hands this connection out again
    finally:
        raw.close()
    figures["indexes, triggers, VACUUM ANALYZE"] = time.perf_counter() - t
    t = time.perf_counter()
    with db.session_scope(engine) as s:
        rollups.rebuild(s, anchor)
    figures["rollups rebuild"] = time.perf_counter() - t
    return figures


def measure(n: int, pages: bool = False) -> list[tuple]:
    """Every target of `bench.scale` against twice SQLite's aim (issue 16), printed as measured;
    the pages: every page's with `pages`, else the cockpit's."""
    url = url_for(n)
    os.environ["DATABASE_URL"] = url
    now = now_utc().replace(second=0)
    with db.session_scope(db.get_engine(url)) as s:
        rollups.maintain(s, now)
    results = scale.measure(url, now, factor=2.0)
    scale.measure_pages(url, results, scale.PAGES if pages else ["Home.py"], factor=2.0)
    return results


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1000000,3000000,10000000")
    p.add_argument("--reuse", action="store_true", help="measure databases built before")
    p.add_argument("--drop", action="store_true", help="drop each database after measuring")
    p.add_argument("--pages", action="store_true",
                   help="every page's server run (first in a new process, and again), not only Home's")
    args = p.parse_args()
    for n in (int(x) for x in args.sizes.split(",")):
        print(f"== {n:,} items on PostgreSQL (load average {os.getloadavg()[0]:.1f}) ==",
              flush=True)
        if not args.reuse:
            for step, secs in load(n).items():
                print(f"  {step:<36} {secs:7.1f} s", flush=True)
        measure(n, args.pages)
        for e in list(db._engines.values()):
            e.dispose()
        db._engines.clear()
        if args.drop:
            _admin(f'DROP DATABASE IF EXISTS "esup_curve_{n}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
