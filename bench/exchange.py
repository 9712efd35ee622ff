"""Import and sync speed: 1,000,000 items from a CSV file, and 100,000 changed rows pulled from a
front database (a second SQLite file), each into a fresh SQLite database. Prints the figures.

    python -m bench.exchange [--items 1000000] [--sync-rows 100000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from lib import catalog, db, exchange, sync
from lib.access import SYSTEM

SUBSYSTEMS = ["FEES", "ENFORCE", "PROCURE", "FISCAL", "GOVINFO", "KEYWORK"]


def _rows(n: int, seed: int = 7):
    rng = random.Random(seed)
    units = [c for c, _ in catalog.MUNICIPAL_DEPTS]
    start = datetime(2022, 1, 3, 9, 0)
    for i in range(n):
        recv = start + timedelta(minutes=rng.randrange(4 * 365 * 24 * 60))
        done = "" if rng.random() < 0.1 else (recv + timedelta(hours=rng.randrange(1, 400))) \
            .strftime("%Y-%m-%dT%H:%M")
        if done and done > "2026-11-01":
            done = ""
        yield (f"B-{i:08d}", rng.choice(SUBSYSTEMS), f"ZJ.{rng.choice(units)}",
               recv.strftime("%Y-%m-%dT%H:%M"), rng.choice(["", "5wd", "10wd", "48h"]), done)


def fresh(path: Path) -> sa.Engine:
    url = f"sqlite:///{path}"
    engine = db.get_engine(url)
    db.migrate(engine)
    with db.session_scope(engine) as s:
        catalog.seed_catalog(s)
    return engine


def bench_import(n: int, workdir: Path) -> None:
    csv_path = workdir / "items.csv"
    with open(csv_path, "w", encoding="utf-8") as f:
        f.write("external_id,subsystem,unit,received_at,time_limit,completed_at\n")
        for row in _rows(n):
            f.write(",".join(row) + "\n")
    engine = fresh(workdir / "import.db")
    raw = csv_path.read_bytes()
    t0 = time.perf_counter()
    result = exchange.run_import("items", raw, filename=csv_path.name, actor="bench",
                                 engine=engine)
    took = time.perf_counter() - t0
    print(f"import of {n:,} items from CSV ({len(raw) / 1e6:.0f} MB): {took:.1f} s "
          f"({result.created:,} created)")
    t0 = time.perf_counter()
    again = exchange.run_import("items", raw, filename=csv_path.name, actor="bench",
                                engine=engine)
    print(f"the same file again (all unchanged): {time.perf_counter() - t0:.1f} s "
          f"({again.unchanged:,} unchanged)")


def bench_sync(n: int, workdir: Path) -> None:
    front = sa.create_engine(f"sqlite:///{workdir / 'front.db'}")
    meta = sa.MetaData()
    t = sa.Table("feed", meta, sa.Column("id", sa.Integer, primary_key=True),
                 *[sa.Column(c, sa.String(40)) for c in
                   ("case_no", "sub", "dept", "recv", "lim", "done")],
                 sa.Column("updated_at", sa.DateTime))
    meta.create_all(front)
    stamp = datetime(2026, 11, 1)
    with front.begin() as c:
        c.execute(t.insert(), [{"id": i + 1, "case_no": r[0], "sub": r[1], "dept": r[2],
                                "recv": r[3], "lim": r[4], "done": r[5],
                                "updated_at": stamp + timedelta(seconds=i)}
                               for i, r in enumerate(_rows(n, seed=9))])
    engine = fresh(workdir / "sync.db")
    mapping = {"external_id": "case_no", "subsystem": "sub", "unit": "dept",
               "received_at": "recv", "time_limit": "lim", "completed_at": "done"}
    with db.session_scope(engine) as s:
        sync.save_source(s, SYSTEM, sync.SourceSpec(
            "bench", str(front.url), "feed", "items", mapping, "updated_at", batch_size=20_000))
    t0 = time.perf_counter()
    result = sync.sync("bench", engine=engine)
    print(f"sync of {n:,} changed rows from a front database: {time.perf_counter() - t0:.1f} s "
          f"({result.batches} batches, {result.created:,} created)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--sync-rows", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        bench_import(args.items, Path(d))
        bench_sync(args.sync_rows, Path(d))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
