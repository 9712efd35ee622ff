"""The scale benchmark's loader (`bench.build`): the rows it gives the rollups' rebuild in
place of reading the table back are the rows it wrote (half of them by a forked process), as
the rebuild would read them."""

import os
import sqlite3
import sys
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import func, select, text

from bench import build
from lib import catalog, db, rollups
from lib.models import Item, Person, Unit

ANCHOR = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_the_loaders_rows_are_the_rows_the_table_gives_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    engine = db.get_engine(url)
    db.migrate(engine)
    with db.session_scope(engine) as s:
        catalog.seed_catalog(s)
        s.add_all([Person(name=f"经办人{u.id}", unit_id=u.id, rank="科员")
                   for u in s.scalars(select(Unit).order_by(Unit.id))])  # handlers to draw
        s.flush()
        plan, counties, units = build._plan(s)
    cols = build.generate(5000, 400, ANCHOR, plan, counties, units)
    assert cols["open"].any() and not cols["open"].all() and (cols["handler_id"] == 0).any()
    con = sqlite3.connect(tmp_path / "b.db", isolation_level=None)
    con.execute("ATTACH DATABASE ? AS part", (str(tmp_path / "b.db-part"),))
    con.execute("BEGIN")
    build.insert_halves(con, tmp_path / "b.db-part", cols, first_id=41)  # two processes
    con.execute("COMMIT")
    con.close()
    given = np.concatenate(list(build.raw_parts(cols, first_id=41)))
    with db.read_scope(engine) as s:
        assert s.scalar(select(func.min(Item.id))) == 41
        read = np.concatenate(list(rollups.raw_items(s)))
        # The columns SQLite makes from the bound values (not read by the rebuild).
        made = s.execute(select(Item.id, Item.external_id, Item.state, Item.updated_at,
                                Item.received_at, Item.completed_at).order_by(Item.id)).all()
    np.testing.assert_array_equal(given, read)
    assert [(r.external_id, r.state, r.updated_at) for r in made] == [
        (f"S-{r.id:09d}", "open" if r.completed_at is None else "completed",
         r.received_at if r.completed_at is None else r.completed_at) for r in made]
    engine.dispose()
    db._engines.pop(url, None)


def test_the_loader_stops_when_its_second_writer_fails(tmp_path, capfd):
    """The forked writer of the second half fails (its file cannot be made): the load stops with
    the reason, and its transaction holds nothing once rolled back."""
    con = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, external_id, subsystem_id, unit_id, "
                "region_id, received_at, deadline, completed_at, state, updated_at, handler_id, "
                "card_cancelled, verdict)")
    cols = {k: np.arange(10) for k in ("unit_id", "subsystem_id", "region_id", "received_at",
                                       "deadline", "completed_at", "handler_id")}
    cols["open"] = np.zeros(10, dtype=bool)
    con.execute("BEGIN")
    with pytest.raises(RuntimeError, match="second half"):
        build.insert_halves(con, tmp_path / "no such folder" / "part", cols, first_id=1)
    con.execute("ROLLBACK")
    assert con.execute("SELECT count(*) FROM items").fetchone() == (0,)
    assert "unable to open database file" in capfd.readouterr().err


def test_the_province_layouts_ranges_and_city_filter():
    """`bench.province`: ranges of N local months cover the span without gaps, and the city is
    added to each part's own WHERE (not to the counts' FILTER (WHERE …))."""
    from bench import province
    from lib.config import TZ

    first = int(datetime(2021, 12, 3, tzinfo=TZ).timestamp())
    last = int(datetime(2026, 11, 30, 23, tzinfo=TZ).timestamp())
    for step, n in ((1, 60), (12, 5)):
        ranges = province._ranges(first, last, step)
        assert len(ranges) == n and ranges[0][2] == "202112"
        assert ranges[0][0] == int(datetime(2021, 12, 1, tzinfo=TZ).timestamp())
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        assert ranges[-1][0] <= last < ranges[-1][1]
    sql = ("SELECT count(*) FILTER (WHERE a > 1) FROM items JOIN subsystems ON subsystems.id = "
           "items.subsystem_id \nWHERE b GROUP BY 1 UNION ALL SELECT count(*) FROM items WHERE c")
    assert province.in_city(sql, 3) == sql.replace("\nWHERE b", "\nWHERE items.city_id = 3 AND b") \
        .replace("items WHERE c", "items WHERE items.city_id = 3 AND c")


def test_the_concurrency_bench_reads_and_writes_beside_each_other(sqlite_demo_url, tmp_path):
    """`bench.concurrency`: readers run the cockpit's query set while the writer records
    completions through the library (their events and the audit chain with them), on a copy of
    the demo database."""
    from bench import concurrency
    from lib import audit
    from lib.models import ItemEvent
    from tests.apptest_helpers import copy_sqlite

    # Through SQLite's backup API: a plain copy of the file would open and close it outside
    # SQLite, and closing any descriptor of a file drops every POSIX lock this process holds on
    # it, the shared demo database's connections' included (a later process then took them
    # for gone and removed its WAL under them: "disk I/O error" in the tests after).
    url = copy_sqlite(sqlite_demo_url, tmp_path / "c.db")
    engine = db.get_engine(url)
    with db.read_scope(engine) as s:
        before = s.scalar(select(func.count()).select_from(Item).where(Item.completed_at.is_(None)))
    r = concurrency.run(url, readers=1, seconds=1.5, writer=True, rate=10)
    assert r["sets"] >= 1 and r["median"] > 0 and r["p95"] >= r["median"]
    assert 1 <= r["writes"] <= 16  # about ten a second, not as fast as it can
    with db.read_scope(engine) as s:
        after = s.scalar(select(func.count()).select_from(Item).where(Item.completed_at.is_(None)))
        events = s.scalar(select(func.count()).select_from(ItemEvent)
                          .where(ItemEvent.note == "并发测试办结"))
        assert before - after == r["writes"] == events
        assert audit.verify(s).ok
    engine.dispose()
    db._engines.pop(url, None)


def test_percentile_is_the_nearest_rank():
    from bench.concurrency import percentile

    xs = [float(i) for i in range(1, 21)]
    assert percentile(xs, 95) == 19.0 and percentile(xs, 50) == 10.0
    assert percentile(xs, 100) == 20.0 and percentile([3.0], 95) == 3.0


def test_the_cities_cells_statement_reads_the_cells_one_city_reads():
    """`bench.province.cities_cells_sql`: the same ranges of the cells' key as
    `rollups.light_counts` reads for one city (its cover of the window, the open items' cells
    to the top-level cell holding the watermark's day), grouped by city."""
    import re

    from bench import province

    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    w = int(now.timestamp()) - 3600
    sql = province.cities_cells_sql(now, 365, w)
    t = int(now.timestamp())
    d1, d2 = rollups.day_of(t - 365 * rollups.DAY) + 1, rollups.day_of(t + 1) - 1
    top = rollups.SIZES[-1]
    want = [("c", *r) for r in rollups.cover(d1, d2)] + [
        ("o", *r) for r in rollups.cover(0, (rollups.day_of(w) // top + 1) * top - 1)]
    got = [(k, int(s), int(lo), int(hi)) for k, s, lo, hi in re.findall(
        r"kind = '(\w)' AND size = (\d+) AND bucket BETWEEN (\d+) AND (\d+)", sql)]
    assert got == want and sql.endswith("GROUP BY city_id, kind")


def test_a_pages_timed_runs_leave_the_server_start_out(sqlite_demo_url, tmp_path):
    """`bench.scale.page_runs`: a page's first run and its run again, timed in a new process
    after every library module is imported and the server start's component scan is done
    (AppTest's own first run would do it inside the timed run). On a private copy: the other
    process's app may write (the shared demo database is read by the tests only)."""
    from bench import scale
    from tests.apptest_helpers import copy_sqlite

    got = scale.page_runs(copy_sqlite(sqlite_demo_url, tmp_path / "p.db"), "pages/supervision.py")
    assert isinstance(got, tuple), got
    first, again, scan = got
    assert first > 0 and again > 0 and scan > 0


def test_a_failing_worker_stops_the_concurrency_bench_with_its_reason(tmp_path):
    """`bench.concurrency.run`: a reader that fails before the start (here: a database with no
    tables) breaks the barrier and the run ends at once with the worker's error, instead of
    every process waiting out its timeout."""
    import time

    import pytest

    from bench import concurrency

    t = time.perf_counter()
    with pytest.raises(SystemExit, match="reader: .*no such table"):
        concurrency.run(f"sqlite:///{tmp_path / 'empty.db'}", readers=2, seconds=1.0,
                        writer=False)
    assert time.perf_counter() - t < 120


def test_a_worker_that_dies_without_a_word_stops_the_concurrency_bench_at_once(
        tmp_path, monkeypatch):
    """`bench.concurrency.run`: a worker that dies before it can report (here its interpreter
    ends while it starts, as in CI on 2026-12-02, when a page left by an earlier test was the
    main module a "spawn" child re-runs) ends the run at once with its exit code, instead of
    the parent waiting out the barrier's and the queue's ten minutes each."""
    import time
    import types

    import pytest

    from bench import concurrency

    script = tmp_path / "dies.py"
    script.write_text("raise SystemExit(3)\n", encoding="utf-8")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    t = time.perf_counter()
    with pytest.raises(SystemExit, match="exit code 3 before reporting"):
        concurrency.run(f"sqlite:///{tmp_path / 'empty.db'}", readers=2, seconds=1.0,
                        writer=True)
    assert time.perf_counter() - t < 60


def test_the_build_writes_the_demo_and_the_generated_items_beside_each_other(tmp_path):
    """`bench.build.build`: the generated items are written by two forked processes while the
    demo's records are written, then copied in: every generated row is in the table with its
    id from GENERATED_FROM on, the demo's own items below it, the writers' files gone, the
    indexes and triggers back, and the rollups rebuilt from the rows judged ahead agree with
    the base table (`verify`)."""
    path = tmp_path / "s.db"
    out = build.build(path, 4000, 200, anchor=ANCHOR)
    assert out["cells"] > 100
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "s.db" in files and not [f for f in files if "part" in f], files
    engine = db.get_engine(f"sqlite:///{path}")
    try:
        with db.read_scope(engine) as s:
            generated = s.execute(select(func.count(), func.min(Item.id), func.max(Item.id))
                                  .where(Item.id >= build.GENERATED_FROM)).one()
            assert tuple(generated) == (4000, build.GENERATED_FROM, build.GENERATED_FROM + 3999)
            assert 0 < s.scalar(select(func.count()).where(Item.id < build.GENERATED_FROM))
            names = set(s.scalars(select(text("name")).select_from(text("sqlite_master"))
                                  .where(text("tbl_name = 'items'"))))
            assert {"ix_items_view", "ix_items_completed", "ix_items_rated",
                    "trg_items_rollup_ins", "trg_items_changes_upd"} <= names, names
        with db.session_scope(engine) as s:
            assert rollups.verify(s, ANCHOR) == []
    finally:
        engine.dispose()
        db._engines.pop(f"sqlite:///{path}", None)


def test_a_failing_demo_leaves_no_writer_running(tmp_path, monkeypatch):
    """The demo fails after the writers of the generated items were started: the build stops
    with the demo's error and its writers are stopped and reaped (none left running)."""
    import os

    from lib import demo_submissions

    pids = []
    real = build.fork_writer

    def forked(*args):
        pids.append(real(*args))
        return pids[-1]

    def boom(*_a, **_k):
        raise RuntimeError("the demo's submissions failed")

    monkeypatch.setattr(build, "fork_writer", forked)
    monkeypatch.setattr(demo_submissions, "load", boom)
    with pytest.raises(RuntimeError, match="submissions failed"):
        build.build(tmp_path / "f.db", 3_000_000, 200, anchor=ANCHOR)
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped: no such child any more


def test_the_pages_timed_runs_have_the_databases_driver_imported():
    """"Modules imported" includes the database's driver (sqlite3 always is; psycopg was
    imported inside PostgreSQL's first timed run, 0.08-0.13 s of it)."""
    import subprocess
    import sys

    from bench import scale

    header = scale.PAGE_SNIPPET.split("at = AppTest")[0]
    assert header != scale.PAGE_SNIPPET
    env = dict(os.environ, DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    out = subprocess.run([sys.executable, "-c", header + "\nprint('psycopg' in sys.modules)"],
                         cwd=scale.ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_a_figure_without_an_aim_is_printed_as_such(capsys):
    from bench import scale

    results: list = []
    scale.report(results, "sweep after edits", None, 0.25)
    scale.report(results, "steady sweep", 0.1, 0.25)
    out = capsys.readouterr().out.splitlines()
    assert "(no aim)" in out[0] and "OVER" not in out[0]
    assert out[1].rstrip().endswith("OVER")
    assert results[0][1] is None and results[1][1] == 0.1
