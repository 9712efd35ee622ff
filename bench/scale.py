"""The scale benchmark: each target beside the direct query's figure and the ratio.

On a database built by `bench.build` (default: 10,000,000 items on SQLite), times, each in a
fresh engine (cold: no pooled connection, nothing cached in the process):

- the cockpit's query set (light counts for a year, the source's figures, the latest red cards,
  the catalog), through the rollups and through the base table (`ESUP_ROLLUPS=off`);
- each page's server run (AppTest in a new process, modules imported, Streamlit caches empty,
  the in-app sweep thread off as in production where cron runs it);
- a quarter's and a year's ranking of units, posts and persons (lib.scoring);
- the sweep's steady run (notices and rollup maintenance after a handful of writes);
- the city at the end of the last month;
- the extra cost of a write (the triggers' dirty markers), per item written.

    python -m bench.scale [--items 10000000] [--path FILE] [--pages]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from lib import db, notices, queries, rollups, scoring
from lib.access import SYSTEM
from lib.clock import now_utc
from lib.config import TZ
from lib.lights import epoch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PAGES = ["Home.py", "pages/power.py", "pages/market.py", "pages/funds.py", "pages/disclosure.py",
         "pages/complaints.py", "pages/efficiency.py", "pages/supervision.py",
         "pages/dispatch.py", "pages/items.py", "pages/key_work.py"]

PAGE_REPEAT = 3  # one process's figure varies by a third on this machine: the median of three

PAGE_SNIPPET = """
import json, os, sys, time
from streamlit.testing.v1 import AppTest
import pandas, altair, sqlalchemy, alembic.command  # noqa: F401
from lib import ui, charts, geo, queries, rollups, domains, flags  # noqa: F401
domains.packages()  # every domain package imported, as in a server that has run a page
# Every module of the library (a page imports its domain's on its first run) and the three that
# pandas and Streamlit import on their first frames of text and first icon: "modules imported".
# (Where PYTHONDONTWRITEBYTECODE is set no .pyc is kept: each import compiles its source.)
import importlib, pkgutil
import lib
for m in pkgutil.walk_packages(lib.__path__, "lib."):
    if m.name != "lib.__main__" and not m.name.startswith("lib.migrations"):
        importlib.import_module(m.name)
import pyarrow.pandas_compat, pyarrow.vendored.version, streamlit.material_icon_names  # noqa: E401, F401
# The database's driver too, as sqlite3 already is: psycopg, imported by the engine's creation
# in the page's first run, took 0.08-0.13 s of it on PostgreSQL.
import sqlalchemy.engine
sqlalchemy.engine.make_url(os.environ["DATABASE_URL"]).get_dialect().import_dbapi()
at = AppTest.from_file("Home.py", default_timeout=900)
# A server scans the installed packages for Streamlit components once, when it starts
# (streamlit.runtime.Runtime.__init__); AppTest does it in its first run. Done here, before the
# clock, as the server did before the page was asked for; its time is reported on its own.
from streamlit.components.v2.component_manager import BidiComponentManager
assert hasattr(at, "_bidi_component_manager"), "AppTest no longer keeps its component manager"
t = time.perf_counter()
at._bidi_component_manager = BidiComponentManager()
at._bidi_component_manager.discover_and_register_components(start_file_watching=False)
scan = time.perf_counter() - t
at.session_state["authentication_status"] = True
at.session_state["username"] = "leader"
if sys.argv[1] != "Home.py":
    at.switch_page(sys.argv[1])
t = time.perf_counter()
at.run()
first = time.perf_counter() - t
errors = [e.value for e in at.exception]
# Again in the same process, as a running server serves a view it has not cached: the data
# and view caches cleared (ui.clear_data_caches) and new database connections (the engine and
# its compiled statements, the chart templates, the holiday table and the imported modules
# kept).
from lib import db, ui
ui.clear_data_caches()
for e in db._engines.values():
    e.dispose()
t = time.perf_counter()
at.run()
again = time.perf_counter() - t
errors += [e.value for e in at.exception]
print(json.dumps({"run": first, "again": again, "scan": scan, "errors": errors}))
"""


def _fresh():
    """Cold connections (a new SQLite page cache, a new PostgreSQL backend); the engine itself,
    with its compiled-statement cache, is kept, as in a running server."""
    for e in db._engines.values():
        e.dispose()


def timed(fn, repeat: int = 3, warm: bool = True) -> float:
    """Median of `repeat` runs, each on fresh connections."""
    if warm:
        fn()  # statements compiled once, as in a server that has run a page before
    runs = []
    for _ in range(repeat):
        _fresh()
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


FAST_REPEAT = 9  # the figures of tens of milliseconds: one run moves by a fifth on this machine


def both(fn, repeat: int = FAST_REPEAT) -> tuple[float, float]:
    """(through the rollups, through the base table: one run, its compile cost is noise)."""
    a = timed(fn, repeat)
    os.environ["ESUP_ROLLUPS"] = "off"
    try:
        b = timed(fn, 1, warm=False)
    finally:
        os.environ.pop("ESUP_ROLLUPS", None)
    return a, b


def page_run(url: str, page: str, direct: bool) -> float | str:
    """The first run of the page in a new process (`page_runs`)."""
    got = page_runs(url, page, direct)
    return got[0] if isinstance(got, tuple) else got


def page_runs(url: str, page: str, direct: bool = False) -> tuple[float, float, float] | str:
    """(the first run in a new process, a run in the same process with Streamlit's data caches
    cleared and new connections, the server start's component scan before them), or what
    failed. The sweep runs from cron in production
    (docs/deploy.md), not in the page's process: its own figure is the steady sweep."""
    env = dict(os.environ, DATABASE_URL=url, ESUP_SWEEPER="0")
    if direct:
        env["ESUP_ROLLUPS"] = "off"
    out = subprocess.run([sys.executable, "-c", PAGE_SNIPPET, page], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        return "failed: " + out.stderr.strip().splitlines()[-1][:120]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return f"errors: {r['errors'][0][:100]}" if r["errors"] else (r["run"], r["again"], r["scan"])


def write_cost(url: str, n: int = 2000, rounds: int = 5) -> tuple[float, float]:
    """µs per item inserted, with and without the rollups' triggers (rolled back each time),
    one statement per write as the app writes: the medians of `rounds` alternated runs of `n`
    inserts each (the extra cost is the difference of two figures each of which varies by a
    fifth between runs on this machine: one run of each gave 16 to 162 µs on PostgreSQL)."""
    engine = db.get_engine(url)
    raw = engine.raw_connection()
    pg = engine.dialect.name == "postgresql"
    try:
        cur = raw.cursor()
        if not pg:
            raw.driver_connection.isolation_level = None  # BEGIN and ROLLBACK by hand
        cur.execute("SELECT subsystem_id, unit_id, region_id, received_at, deadline "
                    "FROM items ORDER BY id DESC LIMIT 1")
        row = cur.fetchone()
        rows = [(f"W-{i}", row[0], row[1], row[2], row[3] + i, row[4] + i, "open", False, 0)
                for i in range(n)]
        mark = "%s" if pg else "?"
        sql = ("INSERT INTO items (external_id, subsystem_id, unit_id, region_id, received_at, "
               f"deadline, state, card_cancelled, verdict) VALUES ({', '.join([mark] * 9)})")
        out: dict[bool, list[float]] = {False: [], True: []}
        for drop in [False, True] * rounds:
            if pg:
                raw.rollback()
                if drop:  # undone by the rollback below
                    cur.execute("ALTER TABLE items DISABLE TRIGGER USER")
            else:
                cur.execute("BEGIN IMMEDIATE")
                if drop:
                    cur.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                "AND tbl_name = 'items'")
                    for (name,) in cur.fetchall():
                        cur.execute(f"DROP TRIGGER {name}")
            t = time.perf_counter()
            for r in rows:
                cur.execute(sql, r)
            out[drop].append((time.perf_counter() - t) / n * 1e6)
            if pg:
                raw.rollback()
            else:
                cur.execute("ROLLBACK")
    finally:
        if not pg:
            raw.driver_connection.isolation_level = ""
        raw.invalidate()  # not handed out again by the pool
    return statistics.median(out[False]), statistics.median(out[True])


def trigger_time(url: str, n: int = 3000) -> float | None:
    """PostgreSQL: µs per item the server spends in the items' triggers (EXPLAIN ANALYZE's
    trigger times of one insert of n items, rolled back): the part of a write's extra cost
    that is the triggers' own work, without the two timings' noise. None elsewhere."""
    import re

    engine = db.get_engine(url)
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as c:
        tx = c.begin()
        try:
            sub, unit, region, recv, due = c.exec_driver_sql(
                "SELECT subsystem_id, unit_id, region_id, received_at, deadline FROM items "
                "ORDER BY id DESC LIMIT 1").one()
            plan = "\n".join(r[0] for r in c.exec_driver_sql(
                "EXPLAIN (ANALYZE) INSERT INTO items (external_id, subsystem_id, unit_id, "
                "region_id, received_at, deadline, state, card_cancelled, verdict) "
                f"SELECT 'W-' || g, {int(sub)}, {int(unit)}, "
                f"{'NULL' if region is None else int(region)}, {int(recv)} + g, {int(due)} + g, "
                f"'open', false, 0 FROM generate_series(1, {int(n)}) AS g"))
        finally:
            tx.rollback()
    return sum(float(m) for m in re.findall(r"Trigger \S+: time=([\d.]+)", plan)) * 1000 / n


def report(results: list, name: str, target: float | None, mine, direct=None) -> None:
    """Print a figure beside its aim (None: a figure without one) and the direct query's, and
    keep it in `results`."""
    results.append((name, target, mine, direct))
    ratio = f"{direct / mine:6.1f}x" if isinstance(direct, float) and mine else "     —"
    d = f"{direct:8.3f}" if isinstance(direct, float) else f"{str(direct or '—'):>8}"
    m = f"{mine:8.3f}" if isinstance(mine, float) else f"{mine!s:>8}"
    if target is None:
        aim, ok = "     —", "(no aim)"
    else:
        aim = f"{target:6.3f}"
        ok = "ok" if isinstance(mine, float) and mine <= target else "OVER"
    print(f"  {name:<44} target {aim}  rollups {m}  direct {d}  {ratio}  {ok}", flush=True)


def cockpit_set(s, now: datetime) -> None:
    """The cockpit's query set: a year's counts, the sources' figures, the latest red cards and
    the catalogue (what `Home.py` reads)."""
    queries.light_counts(s, user=SYSTEM, as_of=now, window_days=365)
    queries.source_figures(s, as_of=now)
    queries.latest_red(s, user=SYSTEM, as_of=now)
    queries.catalog_frames(s)


def measure(url: str, now: datetime, factor: float = 1.0) -> list[tuple]:
    """Every target but the pages, each beside the direct query's figure where there is one,
    printed as it is measured; `factor` scales the aims (PostgreSQL's are twice SQLite's).
    Returns (name, aim, rollups, direct) rows."""
    results: list[tuple[str, float, float | str, float | None]] = []

    def session():
        return db.session_scope(db.get_engine(url))

    def row(name, target, mine, direct=None):
        report(results, name, None if target is None else target * factor, mine, direct)

    def cockpit():
        with session() as s:
            cockpit_set(s, now)

    print(f"\nseconds (median of {FAST_REPEAT} for the cockpit and the light counts, of 3 for the "
          "city at the month's end and 1 for each ranking, each on new connections; the first "
          "run of each not counted; direct: one run)")
    row("cockpit query set, cold", 0.050, *both(cockpit))
    for w in (30, 365, None):
        def counts(w=w):
            with session() as s:
                queries.light_counts(s, user=SYSTEM, as_of=now, window_days=w)
        row(f"light_counts, window {w or 'all'}", 0.050, *both(counts))

    month_end = datetime.combine(now.astimezone(TZ).date().replace(day=1) - timedelta(days=1),
                                 datetime.max.time().replace(microsecond=0), tzinfo=TZ)

    def past():
        with session() as s:
            queries.light_counts(s, user=SYSTEM, as_of=month_end, window_days=365)
    row(f"the city at {month_end.date()} (month end)", 0.050, *both(past, 3))

    quarter = next(q for q in scoring.recent_periods(now, "quarter") if q.end <= now)
    year = scoring.Period(now.year - 1, "year")
    for level in ("unit", "post", "person"):
        for name, period, target in ((f"{level} ranking {quarter.code}", quarter, 0.3),
                                     (f"{level} ranking {year.code}", year, 0.5)):
            def rank(period=period, level=level):
                with session() as s:
                    scoring.compute(s, period, level)
            row(name, target, timed(rank, 1))

    # The writes between two sweeps: staff complete open items (the oldest first, open for
    # years: the costliest to complete). The same items on both databases.
    oldest_open = ("SELECT id FROM items WHERE completed_at IS NULL AND received_at IS NOT NULL "
                   "ORDER BY received_at, id LIMIT 5")

    def sweep_after(write: str) -> float:
        with session() as s:
            ids = [r[0] for r in s.execute(text(oldest_open))]
            s.execute(text(write.format(ids=", ".join(map(str, ids)))), {"now": epoch(now_utc())})
        t = time.perf_counter()
        with session() as s:
            notices.sweep(s, now_utc())
            rollups.maintain(s, now_utc())
        return time.perf_counter() - t
    complete = ("UPDATE items SET completed_at = :now, state = 'completed', updated_at = :now "
                "WHERE id IN ({ids})")
    sweep_after(complete)  # the first run issues what piled up
    row("sweep, steady run (after 5 completions)", 0.100,
        statistics.median(sweep_after(complete) for _ in range(3)))
    # Worse: the deadline of items open for years moved. Their unit's month-end snapshots and
    # monthly figures since their receipt are judged again (a figure, not an aim).
    edit = "UPDATE items SET deadline = deadline + 60 WHERE id IN ({ids})"
    row("sweep after 5 deadline edits of old open items", None, sweep_after(edit))

    with_t, without_t = write_cost(url)
    extra = with_t - without_t
    results.append(("extra cost of a write (µs per item)", 50 * factor, extra, None))
    print(f"  {'extra cost of a write (µs per item)':<44} target {50 * factor:.0f} µs   "
          f"{extra:8.1f} µs  (insert {with_t:.0f} µs with the triggers, "
          f"{without_t:.0f} µs without)  {'ok' if extra <= 50 * factor else 'OVER'}", flush=True)
    own = trigger_time(url)
    if own is not None:
        print(f"  {'  of which in the triggers (server, EXPLAIN)':<44} {own:8.1f} µs per item",
              flush=True)
    return results


def measure_pages(url: str, results: list, pages: list[str], factor: float = 1.0,
                  direct: bool = False) -> None:
    """Each page's server run: the first in a new process and again (medians of PAGE_REPEAT
    processes), with the base table's first run beside it when `direct`."""
    print(f"\npage server runs, seconds (AppTest, modules imported, caches empty; median of "
          f"{PAGE_REPEAT} processes): the first run in a new process; `again`: the same process,"
          " Streamlit's data caches cleared, new connections")
    scans: list[float] = []
    for page in pages:
        if not (ROOT / page).exists():
            continue
        runs = [page_runs(url, page) for _ in range(PAGE_REPEAT)]
        failed = [r for r in runs if not isinstance(r, tuple)]
        first, again = ((failed[0], failed[0]) if failed else
                        (statistics.median(r[0] for r in runs),
                         statistics.median(r[1] for r in runs)))
        scans += [r[2] for r in runs if not isinstance(r, str)]
        report(results, page, 0.300 * factor, first, page_run(url, page, True) if direct else None)
        report(results, f"{page} again", 0.300 * factor, again, None)
    if scans:
        print(f"  (before each process's first run, not in it: the server start's scan for"
              f" Streamlit components, {statistics.median(scans):.3f} s median)")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=10_000_000)
    p.add_argument("--path", type=Path)
    p.add_argument("--pages", action="store_true", help="also time every page (slow when direct)")
    args = p.parse_args()
    path = args.path or RESULTS / f"scale_{args.items}.db"
    url = f"sqlite:///{path}"
    os.environ["DATABASE_URL"] = url
    load = os.getloadavg()
    now = now_utc().replace(second=0)
    print(f"database {path} ({path.stat().st_size / 1e9:.1f} GB), as of {now.isoformat()}, "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores")

    with db.session_scope(db.get_engine(url)) as s:
        print("rollups maintained:", rollups.maintain(s, now))
    results = measure(url, now)

    measure_pages(url, results, PAGES, direct=args.pages)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"scale_{args.items}.json").write_text(json.dumps({
        "at": datetime.now(TZ).isoformat(), "load": load, "items": args.items,
        "rows": [(n, t, m, d) for n, t, m, d in results]}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
