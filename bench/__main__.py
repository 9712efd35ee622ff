"""Cockpit benchmark at 1,000,000 supervised items on SQLite.

Builds (once; reused while it is complete) a SQLite database of 1,000,000 items spread over five
years, then times, each in a fresh engine: the cockpit's queries, and a cold AppTest run of
Home.py in a new process (empty Streamlit caches). Prints the figures.

    python -m bench [--items 1000000] [--days 1825] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from lib import db, demo, queries
from lib.access import SYSTEM
from lib.auth import hash_password
from lib.clock import now_utc
from lib.models import Item, User

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# A new process: Streamlit's caches are empty. With PRELOAD the modules a running server has
# already imported (pandas, Altair, SQLAlchemy, lib) are imported before the clock starts.
APPTEST_SNIPPET = """
import json, os, sys, time
t0 = time.perf_counter()
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("Home.py", default_timeout=600)
if os.environ.get("PRELOAD"):
    import pandas, altair, sqlalchemy, alembic.command  # noqa: F401
    from lib import ui, charts, geo, queries  # noqa: F401
    # The server's start-up scan for Streamlit components (AppTest's first run does it).
    from streamlit.components.v2.component_manager import BidiComponentManager
    at._bidi_component_manager = BidiComponentManager()
    at._bidi_component_manager.discover_and_register_components(start_file_watching=False)
t1 = time.perf_counter()
# A signed-in leader (what streamlit-authenticator leaves in the session after a login).
at.session_state["authentication_status"] = True
at.session_state["username"] = "leader"
at.run()
assert not at.text_input, "the cockpit showed the login form"
t2 = time.perf_counter()
errors = [e.value for e in at.exception]
at.run()
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "cold_run": t2 - t1, "warm_run": t3 - t2,
                  "errors": errors}))
"""


def build(url: str, items: int, days: int) -> None:
    engine = db.get_engine(url)
    db.migrate(engine)
    fixed = demo.KEY_TASKS_COMPLETED + demo.KEY_TASKS_OPEN + demo.KEY_PROJECTS * len(demo.NODE_TYPES)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 100_000 == 0:
            print(f"  {done:,}/{total:,} items, {time.perf_counter() - started:.0f} s", flush=True)

    with db.session_scope(engine) as s:
        demo.load_demo(s, ordinary_items=items - fixed, days=days, progress=progress,
                       history=False)
    print(f"built {items:,} items in {time.perf_counter() - started:.1f} s")


def timed(fn, repeat: int = 3) -> tuple[float, float]:
    """(first run, median of the rest), each in a fresh engine and session."""
    runs = []
    for _ in range(repeat):
        for e in db._engines.values():
            e.dispose()
        db._engines.clear()
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return runs[0], statistics.median(runs[1:]) if len(runs) > 1 else runs[0]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=1825, help="span of receipt dates (default 5 years)")
    p.add_argument("--rebuild", action="store_true")
    args = p.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench_{args.items}.db"
    url = f"sqlite:///{path}"
    if args.rebuild and path.exists():
        for f in RESULTS.glob(path.name + "*"):
            f.unlink()
    ready = False
    if path.exists():
        engine = db.get_engine(url)
        with db.session_scope(engine) as s:
            ready = (s.scalar(select(func.count()).select_from(Item)) or 0) >= args.items
    if not ready:
        if path.exists():
            for f in RESULTS.glob(path.name + "*"):
                f.unlink()
        build(url, args.items, args.days)
    engine = db.get_engine(url)
    db.migrate(engine)
    with db.session_scope(engine) as s:
        n = s.scalar(select(func.count()).select_from(Item))
        if s.scalar(select(User.id).where(User.username == "leader")) is None:
            # A database built before accounts existed: add the demo leader.
            name, display, password, roles, _ = demo.DEMO_ACCOUNTS[1]
            s.add(User(username=name, display_name=display, roles=roles, active=True,
                       password_hash=hash_password(password, name), failed_logins=0))
    print(f"database: {path} ({path.stat().st_size / 1e6:.0f} MB, {n:,} items)")
    as_of = now_utc().replace(second=0)

    def session():
        return db.session_scope(db.get_engine(url))

    def q(fn):
        def run():
            with session() as s:
                return fn(s)
        return run

    checks = {
        "light_counts, window one year": q(lambda s: queries.light_counts(s, user=SYSTEM, as_of=as_of, window_days=365)),
        "light_counts, window 30 days": q(lambda s: queries.light_counts(s, user=SYSTEM, as_of=as_of, window_days=30)),
        "light_counts, all items": q(lambda s: queries.light_counts(s, user=SYSTEM, as_of=as_of, window_days=None)),
        "source_figures": q(lambda s: queries.source_figures(s, as_of=as_of)),
        "latest_red (10)": q(lambda s: queries.latest_red(s, user=SYSTEM, as_of=as_of)),
        "catalog_frames": q(lambda s: queries.catalog_frames(s)),
    }
    from lib import scoring

    quarter = next(p for p in scoring.recent_periods(as_of, "quarter") if p.end <= as_of)
    year = scoring.Period(as_of.year - 1, "year")
    checks |= {
        f"scoring units {quarter.code}": q(lambda s: scoring.compute(s, quarter, "unit")),
        f"scoring people {quarter.code}": q(lambda s: scoring.compute(s, quarter, "person")),
        f"scoring units {year.code}": q(lambda s: scoring.compute(s, year, "unit")),
    }
    print(f"\nqueries at as-of {as_of.isoformat()} (first run / median of next two, seconds)")
    for name, fn in checks.items():
        first, median = timed(fn)
        print(f"  {name:<32} {first:7.3f} / {median:7.3f}")

    print("\nAppTest of Home.py, each in a new process (empty Streamlit caches), seconds")
    for preload, label in (("1", "modules already imported, as in a running server"),
                           ("", "first run of a fresh process, imports included")):
        env = dict(os.environ, DATABASE_URL=url, PRELOAD=preload)
        runs = []
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", APPTEST_SNIPPET], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=1200)
            if out.returncode != 0:
                print(out.stderr[-3000:])
                return 1
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if r["errors"]:
                print(f"  ERRORS: {r['errors']}")
                return 1
            runs.append(r)
        cold = statistics.median(r["cold_run"] for r in runs)
        warm = statistics.median(r["warm_run"] for r in runs)
        print(f"  {label}: cold-cache run {cold:.3f} (median of 3), warm rerun {warm:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
