"""The province's layout measured: the items of several cities in one PostgreSQL table partitioned
by city, and within a city by months of receipt or not (docs/scale.md §3), read by the cockpit's own statement with the city
added, beside the same statement on one city's unpartitioned table.

It works inside the 10M database of the growth curve (`python -m bench.pg_curve --sizes
10000000` makes it), in a schema of its own (`province`, dropped and made again):

- `province.items`, partitioned `LIST (city_id)` for the 21 cities of Guangdong, each city's
  partition not split (the layout docs/scale.md §3 proposes), or (`--months N`) split
  `RANGE (received_at)` into ranges of N local months (12: by year, 1: by month) over the
  months the items span, with a default partition per city for the items without a receipt
  time or outside the span;
- cities 1..K (`--cities`, default 2) each filled with a copy of the city's ten million items
  (the city's ids, units and subsystems: the cities are alike, the point is their number),
  the other cities' partitions made and left empty;
- the items' indexes that the cockpit's live reads use, each with `city_id` first, made on the
  parent after the load (PostgreSQL makes them on every partition).

Then the statement `lib.rollups.light_counts` sends for a year's counts as of now (its live part:
the items not in a clean cell) is run as the app sends it on the city's own table
(`public.items`) and with `items.city_id = 1` added to each part's WHERE on the partitioned
table, and so are a unit's items of one month (a page's drill-down) and the open items not yet
overdue alone: medians of 5 on new connections and of 5 on a connection used before (the app's
pool keeps its connections), the planning time and the partitions each plan reads (from
`EXPLAIN (ANALYZE, FORMAT JSON)`).

Then the province's ranking of its 21 cities: `province.rollup_cells`, partitioned by city,
every city given a copy of the city's cells, read for a year's counts of every city in one
statement grouped by city (the cells `rollups.light_counts` reads for one city, for all); beside
it one city's live part, which a ranking needs for each city. Last, a write's extra cost on a
partition: the app's insert triggers (`rollup_mark`, `rollup_log`, their text with the city
added) on `province.items`, writing to stale-day and change-log tables partitioned by city.

    python -m bench.province [--cities 2] [--months 0|12|1] [--keep]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import event

from bench import pg_curve
from lib import db, queries, rollups
from lib.access import SYSTEM
from lib.clock import now_utc
from lib.config import TZ

CITIES = 21  # Guangdong's prefecture-level cities
COLUMNS = ("id", "unit_id", "subsystem_id", "region_id", "handler_id", "received_at", "deadline",
           "completed_at", "card_cancelled", "verdict")
# The indexes of `items` the cockpit's live part reads (migrations 0018-0021), city first.
INDEXES = {
    "ix_p_open_units": "(city_id, unit_id, subsystem_id, region_id, deadline, received_at, "
                       "card_cancelled, verdict, completed_at) WHERE completed_at IS NULL",
    "ix_p_open": "(city_id, deadline, unit_id, subsystem_id, region_id, received_at, "
                 "card_cancelled, verdict, completed_at) INCLUDE (id) WHERE completed_at IS NULL",
    "ix_p_completed": "(city_id, completed_at, unit_id, subsystem_id, region_id, received_at, "
                      "deadline, card_cancelled, verdict)",
    "ix_p_odd": "(city_id, unit_id, subsystem_id, region_id, completed_at, received_at, "
                "deadline, card_cancelled, verdict) WHERE deadline < received_at "
                "OR completed_at < received_at OR deadline < 0 OR completed_at < 0",
    "ix_p_unit_received": "(city_id, unit_id, received_at)",
}


def _ranges(first: int, last: int, step: int) -> list[tuple[int, int, str]]:
    """(start, end, yyyymm) of each range of `step` local months, from the month holding
    `first` to the one holding `last`, in epoch seconds."""
    d = datetime.fromtimestamp(first, TZ).date().replace(day=1)
    end = datetime.fromtimestamp(last, TZ).date()
    out = []
    while d <= end:
        k = d.year * 12 + d.month - 1 + step
        nxt = date(k // 12, k % 12 + 1, 1)
        out.append((int(datetime(d.year, d.month, 1, tzinfo=TZ).timestamp()),
                    int(datetime(nxt.year, nxt.month, 1, tzinfo=TZ).timestamp()), f"{d:%Y%m}"))
        d = nxt
    return out


def build(conn, cities: int, months: int) -> dict[str, float]:
    """The schema made and filled, each city's partition split into ranges of `months` months
    of receipt (0: not split); returns the time of each step."""
    figures: dict[str, float] = {}
    t = time.perf_counter()
    # City by city: one statement dropping the 1,500 tables and their indexes takes more locks
    # than PostgreSQL's default lock table holds.
    for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'province' "
                                "AND tablename ~ '^items_c[0-9]+$'").fetchall():
        conn.execute(f"DROP TABLE province.{name}")
    conn.execute("DROP SCHEMA IF EXISTS province CASCADE")
    conn.execute("CREATE SCHEMA province")
    first, last = conn.execute("SELECT min(received_at), max(received_at) FROM public.items "
                               "WHERE received_at >= 0").fetchone()
    ranges = _ranges(int(first), int(last), months) if months else []
    conn.execute("CREATE TABLE province.items (city_id smallint NOT NULL, id integer NOT NULL, "
                 "unit_id integer NOT NULL, subsystem_id integer NOT NULL, region_id integer, "
                 "handler_id integer, received_at bigint, deadline bigint, completed_at bigint, "
                 "card_cancelled boolean NOT NULL, verdict smallint NOT NULL) "
                 "PARTITION BY LIST (city_id)")
    for c in range(1, CITIES + 1):
        split = " PARTITION BY RANGE (received_at)" if ranges else ""
        conn.execute(f"CREATE TABLE province.items_c{c:02d} PARTITION OF province.items "
                     f"FOR VALUES IN ({c}){split}")
        for lo, hi, name in ranges:
            conn.execute(f"CREATE TABLE province.items_c{c:02d}_{name} PARTITION OF "
                         f"province.items_c{c:02d} FOR VALUES FROM ({lo}) TO ({hi})")
        if ranges:
            conn.execute(f"CREATE TABLE province.items_c{c:02d}_other PARTITION OF "
                         f"province.items_c{c:02d} DEFAULT")
    figures["partitions made"] = time.perf_counter() - t
    figures["partitions"] = CITIES * (len(ranges) + 1 if ranges else 1)
    t = time.perf_counter()
    cols = ", ".join(COLUMNS)
    for c in range(1, cities + 1):
        conn.execute(f"INSERT INTO province.items (city_id, {cols}) "
                     f"SELECT {c}, {cols} FROM public.items")
    figures["rows copied"] = time.perf_counter() - t
    t = time.perf_counter()
    for name, ddl in INDEXES.items():
        conn.execute(f"CREATE INDEX {name} ON province.items {ddl}")
    conn.execute("VACUUM ANALYZE province.items")  # (the visibility map: index-only scans)
    figures["indexes, VACUUM ANALYZE"] = time.perf_counter() - t
    t = time.perf_counter()
    build_cells(conn)
    figures["cells of 21 cities"] = time.perf_counter() - t
    build_triggers(conn)
    return figures


def build_cells(conn) -> None:
    """`province.rollup_cells`, partitioned `LIST (city_id)`, every one of the 21 cities given a
    copy of the city's cells (they are small: units x subsystems x regions x days), keyed as
    the app's with the city first."""
    conn.execute("DROP TABLE IF EXISTS province.rollup_cells")
    conn.execute("CREATE TABLE province.rollup_cells (city_id smallint NOT NULL, "
                 "kind varchar(1) NOT NULL, size smallint NOT NULL, bucket integer NOT NULL, "
                 "unit_id integer NOT NULL, subsystem_id integer NOT NULL, "
                 "region_id integer NOT NULL, n integer, red integer, near integer, "
                 "grey integer, PRIMARY KEY (city_id, kind, size, bucket, unit_id, "
                 "subsystem_id, region_id)) PARTITION BY LIST (city_id)")
    for c in range(1, CITIES + 1):
        conn.execute(f"CREATE TABLE province.rollup_cells_c{c:02d} PARTITION OF "
                     f"province.rollup_cells FOR VALUES IN ({c})")
        conn.execute(f"INSERT INTO province.rollup_cells SELECT {c}, kind, size, bucket, "
                     "unit_id, subsystem_id, region_id, n, red, near, grey FROM "
                     "public.rollup_cells")
    conn.execute("VACUUM ANALYZE province.rollup_cells")


def build_triggers(conn) -> None:
    """The app's triggers that an insert or a delete of an item fires (`rollup_mark`: the
    stale days; `rollup_log`: the change log), made for `province.items` from the app's own
    function text with the city added, writing to `province.rollup_dirty` and
    `province.rollup_changes`, both partitioned by city."""
    conn.execute("DROP TABLE IF EXISTS province.rollup_dirty, province.rollup_changes")
    conn.execute("CREATE TABLE province.rollup_dirty (city_id smallint NOT NULL, "
                 "kind varchar(1) NOT NULL, unit_id integer NOT NULL, day integer NOT NULL, "
                 "PRIMARY KEY (city_id, kind, unit_id, day)) PARTITION BY LIST (city_id)")
    conn.execute("CREATE TABLE province.rollup_changes (city_id smallint NOT NULL, "
                 "id bigint GENERATED ALWAYS AS IDENTITY, sign smallint, item_id integer, "
                 "unit_id integer, subsystem_id integer, region_id integer, handler_id integer, "
                 "received_at bigint, deadline bigint, completed_at bigint, "
                 "card_cancelled boolean, verdict smallint) PARTITION BY LIST (city_id)")
    for c in range(1, CITIES + 1):
        for table in ("rollup_dirty", "rollup_changes"):
            conn.execute(f"CREATE TABLE province.{table}_c{c:02d} PARTITION OF "
                         f"province.{table} FOR VALUES IN ({c})")
    src = dict(conn.execute("SELECT proname, prosrc FROM pg_proc WHERE proname IN "
                            "('rollup_mark', 'rollup_log') AND pronamespace = "
                            "'public'::regnamespace").fetchall())
    if set(src) != {"rollup_mark", "rollup_log"}:
        raise SystemExit("the app's trigger functions are not in this database")
    mark = src["rollup_mark"].replace(
        "INSERT INTO rollup_dirty (kind, unit_id, day) VALUES (",
        "INSERT INTO province.rollup_dirty (city_id, kind, unit_id, day) VALUES "
        "(COALESCE(NEW.city_id, OLD.city_id), ")
    log = (src["rollup_log"].replace("INSERT INTO rollup_changes (sign, ",
                                     "INSERT INTO province.rollup_changes (city_id, sign, ")
           .replace("VALUES (-1, ", "VALUES (OLD.city_id, -1, ")
           .replace("VALUES (1, ", "VALUES (NEW.city_id, 1, "))
    if mark.count("province.rollup_dirty") != src["rollup_mark"].count("rollup_dirty") or \
            log.count("OLD.city_id") != 1 or log.count("NEW.city_id") != 1:
        raise SystemExit("the app's trigger functions changed: bench.province cannot adapt them")
    for name, body in (("rollup_mark", mark), ("rollup_log", log)):
        conn.execute(f"CREATE FUNCTION province.{name}() RETURNS trigger LANGUAGE plpgsql AS "
                     f"$body${body}$body$")
        conn.execute(f"CREATE TRIGGER trg_p_{name} AFTER INSERT OR DELETE ON province.items "
                     f"FOR EACH ROW EXECUTE FUNCTION province.{name}()")


def write_cost(connect, n: int = 5000, rounds: int = 5) -> tuple[float, float]:
    """µs per item inserted into city 1's partition, one statement each, with the triggers
    made for the province and without them (each time rolled back), as `bench.scale`
    measures the city's own table: medians of `rounds` rounds, the two alternating (one
    round's figure varies by half on this machine)."""
    import psycopg

    out: list[float] = []
    with connect() as c:
        row = c.execute("SELECT unit_id, subsystem_id, region_id, received_at, deadline FROM "
                        "province.items WHERE city_id = 1 ORDER BY received_at DESC "
                        "LIMIT 1").fetchone()
        rows = [(1, 2_000_000_000 + i, row[0], row[1], row[2], None, row[3] + i, row[4] + i,
                 None, False, 0) for i in range(n)]
        sql = (f"INSERT INTO province.items (city_id, {', '.join(COLUMNS)}) VALUES "
               f"({', '.join(['%s'] * (len(COLUMNS) + 1))})")
        for off in (False, True) * rounds:
            try:
                with c.transaction():
                    if off:
                        c.execute("ALTER TABLE province.items DISABLE TRIGGER USER")
                    t = time.perf_counter()
                    for r in rows:
                        c.execute(sql, r)
                    out.append((time.perf_counter() - t) / n * 1e6)
                    raise psycopg.Rollback()
            except psycopg.Rollback:
                pass
    return statistics.median(out[0::2]), statistics.median(out[1::2])


def cities_cells_sql(now: datetime, window_days: int, watermark: int) -> str:
    """The cells' part of a year's counts for every city at once, summed per city (a
    province-wide ranking of the cities): the cells `rollups.light_counts` reads for one city
    (the closed items' cells covering the window, the open items' cells past the watermark),
    each range of the key one part, grouped by city instead of unit."""
    t = int(now.timestamp())
    d1, d2 = rollups.day_of(t - window_days * rollups.DAY) + 1, rollups.day_of(t + 1) - 1
    top, last = rollups.SIZES[-1], rollups.day_of(watermark)
    ranges = [("c", s, lo, hi) for s, lo, hi in rollups.cover(d1, d2)] + \
             [("o", s, lo, hi) for s, lo, hi in rollups.cover(0, (last // top + 1) * top - 1)]
    # The cities named: the key starts with the city, and without it each part read every
    # partition whole (no skip scan in PostgreSQL 15: 2.0 s instead of a few hundred ms).
    cities = "'{" + ",".join(str(c) for c in range(1, CITIES + 1)) + "}'::smallint[]"
    parts = " UNION ALL ".join(
        f"SELECT city_id, kind, n, red, near, grey FROM province.rollup_cells WHERE "
        f"city_id = ANY({cities}) AND kind = '{k}' AND size = {s} AND bucket BETWEEN {lo} AND "
        f"{hi}" for k, s, lo, hi in ranges)
    return (f"SELECT city_id, kind, sum(n), sum(red), sum(near), sum(grey) FROM ({parts}) AS "
            "cells GROUP BY city_id, kind")


def cockpit_sql(url: str, now: datetime) -> tuple[str, dict]:
    """The statement (with its parameters) that a year's counts send for the live part."""
    engine = db.get_engine(url)
    seen: list[tuple[str, dict]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "GROUP BY items.unit_id" in statement:
            seen.append((statement, dict(parameters)))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with db.read_scope(engine) as s:
            queries.light_counts(s, user=SYSTEM, as_of=now, window_days=365)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return seen[-1]


def in_city(sql: str, city: int = 1) -> str:
    """Each part's WHERE given `items.city_id = <city>` first (the city every query of a city's
    page carries): the WHERE after each `FROM items` (the counts' own `FILTER (WHERE …)` come
    before it, inside parentheses)."""
    out, n = re.subn(r"(\bFROM items\b[^()]*?)\bWHERE\b", rf"\1WHERE items.city_id = {city} AND",
                     sql)
    assert n == sql.count(" UNION ALL ") + 1, "one WHERE per part expected"
    return out


def timed(conn_factory, sql: str, params: dict, schema: str) -> dict:
    """Medians of 5 runs on new connections and of 5 on one connection already used (as the
    app's pool hands them out); the plan's planning time and the partitions it reads."""
    cold, warm = [], []
    for _ in range(6):
        with conn_factory() as c:
            c.execute(f"SET search_path = {schema}, public")
            t = time.perf_counter()
            c.execute(sql, params).fetchall()
            cold.append(time.perf_counter() - t)
    with conn_factory() as c:
        c.execute(f"SET search_path = {schema}, public")
        for _ in range(6):
            t = time.perf_counter()
            c.execute(sql, params).fetchall()
            warm.append(time.perf_counter() - t)
        plan = c.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()[0]
    scanned = set(re.findall(r'"Relation Name": "((?:items|rollup_cells)[a-z0-9_]*)"',
                             json.dumps(plan)))
    return {"cold": statistics.median(cold[1:]), "warm": statistics.median(warm[1:]),
            "planning_ms": plan[0]["Planning Time"], "relations": len(scanned)}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--cities", type=int, default=2, help="cities filled (of 21)")
    p.add_argument("--months", type=int, default=0,
                   help="months of receipt per partition of a city (0: a city is one partition)")
    p.add_argument("--keep", action="store_true", help="measure the schema made before")
    args = p.parse_args()
    url = pg_curve.url_for(10_000_000)
    import psycopg

    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)

    def connect():  # as the app's connections are set (`lib.db`): no JIT
        return psycopg.connect(dsn, autocommit=True, options="-c jit=off")

    with connect() as conn:
        if not args.keep:
            figures = build(conn, args.cities, args.months)
            for name, v in figures.items():
                print(f"  {name:<24} {v:10.1f}" if isinstance(v, float) else
                      f"  {name:<24} {v:10,}")
        rows = conn.execute("SELECT count(*) FROM province.items").fetchone()[0]
    now = now_utc().replace(second=0)
    sql, params = cockpit_sql(url, now)
    with connect() as c:
        unit, lo, hi = c.execute(
            "SELECT unit_id, min(received_at), min(received_at) + 2592000 FROM public.items "
            "GROUP BY unit_id ORDER BY count(*) DESC LIMIT 1").fetchone()
    month = ("SELECT count(*), count(*) FILTER (WHERE completed_at IS NULL) FROM items "
             "WHERE unit_id = %(u)s AND received_at >= %(lo)s AND received_at < %(hi)s")
    pending = ("SELECT unit_id, subsystem_id, region_id, count(*) FROM items "
               "WHERE completed_at IS NULL AND deadline >= %(t)s "
               "GROUP BY unit_id, subsystem_id, region_id")
    # (SQLAlchemy renders psycopg's own %(name)s placeholders: the app's text runs as it is.)
    shapes = [
        ("a year's counts, live part (the app's statement)", sql, params),
        ("the open items not yet overdue, grouped", pending, {"t": int(now.timestamp())}),
        ("one unit's items of one month", month, {"u": unit, "lo": lo, "hi": hi}),
    ]
    split = f"each split by {args.months} months of receipt" if args.months else "not split"
    print(f"\nprovince.items: {rows:,} rows in {CITIES} cities' partitions ({args.cities} "
          f"filled; {split}); as of {now.isoformat()}")
    print(f"  {'statement':<50} {'one city, flat: new / used connection':>40}"
          f"   {'city 1 of the province: new / used connection':>52}")
    parts = {}
    for name, text, prm in shapes:
        flat = timed(connect, text, prm, "public")
        part = parts[name] = timed(connect, in_city(text), prm, "province")
        print(f"  {name:<50} {flat['cold']:7.3f} / {flat['warm']:6.3f} s "
              f"(plan {flat['planning_ms']:5.1f} ms)   {part['cold']:7.3f} / {part['warm']:6.3f} s "
              f"(plan {part['planning_ms']:5.1f} ms, {part['relations']} partitions read)")

    # The province's ranking of its cities: every city's cells at once, and the live part of
    # each city (city 1's, as a city's page reads it, 21 times in sequence here; on a
    # distributed engine each city's on its own node).
    with connect() as c:
        if args.keep and not c.execute("SELECT to_regclass('province.rollup_cells')").fetchone()[0]:
            build_cells(c)
        w = int(c.execute("SELECT overdue_until FROM public.rollup_state").fetchone()[0])
        cells_n = c.execute("SELECT count(*) FROM province.rollup_cells").fetchone()[0]
    cities_sql = cities_cells_sql(now, 365, w)
    cities = timed(connect, cities_sql, {}, "province")
    live = parts[shapes[0][0]]  # city 1's live part, measured above
    print(f"\nthe {CITIES} cities ranked (a year's counts; province.rollup_cells: {cells_n:,} cells, "
          f"every city filled):")
    print(f"  every city's cells, one statement: {cities['cold']:.3f} / {cities['warm']:.3f} s "
          f"(plan {cities['planning_ms']:.1f} ms, {cities['relations']} partitions read)")
    print(f"  one city's live part: {live['cold']:.3f} / {live['warm']:.3f} s; {CITIES} in "
          f"sequence {CITIES * live['cold']:.2f} / {CITIES * live['warm']:.2f} s")

    with connect() as c:
        if args.keep and not c.execute("SELECT to_regclass('province.rollup_dirty')").fetchone()[0]:
            build_triggers(c)
    with_t, without_t = write_cost(connect)
    print(f"\na write into city 1's partition, the app's insert triggers made for the province "
          f"(partitioned stale days and change log): {with_t:.0f} µs with them, {without_t:.0f} "
          f"µs without: {with_t - without_t:.1f} µs extra")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
