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
import sqlite3
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
at = AppTest.from_file("Home.py", default_timeout=900)
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
print(json.dumps({"run": first, "again": again, "errors": errors}))
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


def both(fn, repeat: int = 3) -> tuple[float, float]:
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


def page_runs(url: str, page: str, direct: bool = False) -> tuple[float, float] | str:
    """(the first run in a new process, a run in the same process with Streamlit's data caches
    cleared and new connections), or what failed. The sweep runs from cron in production
    (docs/deploy.md), not in the page's process: its own figure is the steady sweep."""
    env = dict(os.environ, DATABASE_URL=url, ESUP_SWEEPER="0")
    if direct:
        env["ESUP_ROLLUPS"] = "off"
    out = subprocess.run([sys.executable, "-c", PAGE_SNIPPET, page], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        return "failed: " + out.stderr.strip().splitlines()[-1][:120]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return f"errors: {r['errors'][0][:100]}" if r["errors"] else (r["run"], r["again"])


def write_cost(path: Path, n: int = 5000) -> tuple[float, float]:
    """µs per item inserted, with and without the rollups' triggers (rolled back both times)."""
    con = sqlite3.connect(path, isolation_level=None)
    row = con.execute("SELECT subsystem_id, unit_id, region_id, received_at, deadline "
                      "FROM items ORDER BY id DESC LIMIT 1").fetchone()
    rows = [(f"W-{i}", row[0], row[1], row[2], row[3] + i, row[4] + i, "open", 0, 0)
            for i in range(n)]
    sql = ("INSERT INTO items (external_id, subsystem_id, unit_id, region_id, received_at, "
           "deadline, state, card_cancelled, verdict) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    out = []
    for drop in (False, True):
        con.execute("BEGIN IMMEDIATE")
        if drop:
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                       "AND tbl_name = 'items'").fetchall():
                con.execute(f"DROP TRIGGER {name}")
        t = time.perf_counter()
        for r in rows:  # one statement per write, as the app writes
            con.execute(sql, r)
        out.append((time.perf_counter() - t) / n * 1e6)
        con.execute("ROLLBACK")
    con.close()
    return out[0], out[1]


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

    def session():
        return db.session_scope(db.get_engine(url))

    with session() as s:
        print("rollups maintained:", rollups.maintain(s, now))
    results: list[tuple[str, float, float | None, float]] = []

    def row(name, target, mine, direct=None):
        results.append((name, target, mine, direct))
        ratio = f"{direct / mine:6.1f}x" if isinstance(direct, float) and mine else "     —"
        d = f"{direct:8.3f}" if isinstance(direct, float) else f"{str(direct or '—'):>8}"
        m = f"{mine:8.3f}" if isinstance(mine, float) else f"{mine!s:>8}"
        ok = "ok" if isinstance(mine, float) and mine <= target else "OVER"
        print(f"  {name:<44} target {target:6.3f}  rollups {m}  direct {d}  {ratio}  {ok}",
              flush=True)

    def cockpit():
        with session() as s:
            queries.light_counts(s, user=SYSTEM, as_of=now, window_days=365)
            queries.source_figures(s, as_of=now)
            queries.latest_red(s, user=SYSTEM, as_of=now)
            queries.catalog_frames(s)

    print("\nseconds (median of 3, each on new connections; first run of each not counted)")
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
    row(f"the city at {month_end.date()} (month end)", 0.050, *both(past, 1))

    quarter = next(q for q in scoring.recent_periods(now, "quarter") if q.end <= now)
    year = scoring.Period(now.year - 1, "year")
    for level in ("unit", "post", "person"):
        for name, period, target in ((f"{level} ranking {quarter.code}", quarter, 0.3),
                                     (f"{level} ranking {year.code}", year, 0.5)):
            def rank(period=period, level=level):
                with session() as s:
                    scoring.compute(s, period, level)
            row(name, target, timed(rank, 1))

    def steady_sweep():
        with session() as s:  # a few writes, as between two sweeps
            s.execute(text("UPDATE items SET deadline = deadline + 60 WHERE id IN "
                                   "(SELECT id FROM items WHERE completed_at IS NULL LIMIT 5)"))
        t = time.perf_counter()
        with session() as s:
            notices.sweep(s, now_utc())
            rollups.maintain(s, now_utc())
        return time.perf_counter() - t
    steady_sweep()  # the first run issues what piled up
    row("sweep, steady run", 0.100, statistics.median(steady_sweep() for _ in range(3)))

    with_t, without_t = write_cost(path)
    print(f"  {'extra cost of a write (µs per item)':<44} target 50 µs   "
          f"{with_t - without_t:8.1f} µs  (insert {with_t:.0f} µs with the triggers, "
          f"{without_t:.0f} µs without)")

    pages = {}
    print(f"\npage server runs, seconds (AppTest, modules imported, caches empty; median of "
          f"{PAGE_REPEAT} processes): the first run in a new process; `again`: the same process,"
          " Streamlit's data caches cleared, new connections")
    for page in PAGES:
        if not (ROOT / page).exists():
            continue
        runs = [page_runs(url, page) for _ in range(PAGE_REPEAT)]
        direct = page_run(url, page, True) if args.pages else None
        failed = [r for r in runs if not isinstance(r, tuple)]
        first, again = ((failed[0], failed[0]) if failed else
                        (statistics.median(r[0] for r in runs),
                         statistics.median(r[1] for r in runs)))
        pages[page] = (first, again, direct)
        row(page, 0.300, first, direct)
        row(f"{page} again", 0.300, again, None)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"scale_{args.items}.json").write_text(json.dumps({
        "at": datetime.now(TZ).isoformat(), "load": load, "items": args.items,
        "rows": [(n, t, m, d) for n, t, m, d in results]}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
