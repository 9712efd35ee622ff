"""Several app processes against one database (docs/scale.md §3): each of N reader processes
runs the cockpit's query set (`bench.scale.cockpit_set`, what `Home.py` reads) again and again
on its own engine, whose pool keeps its connections as an app process's does; with --writer, one
more process meanwhile records completions through the library (`items.record_completion` in
`db.transact`: the item, its event, the audit chain, the rollups' triggers), one transaction
each, as staff saving forms do, at --rate a second (default 5: a busy hour of a city whose ten
years hold ten million items averages well under one), or as fast as it can (--rate 0). No
sweep runs meanwhile: the completions' cells are read live until the next (the app sweeps every
minute); the rollups are brought up to date before each run. All start together after each has run the set once (its
statements compiled, as in a server that has served a page).

Prints, for each N, the query sets per second in all, each set's median and 95th-percentile
time, and the writer's writes per second with the median and 95th percentile of a write. On
SQLite the readers read beside the one writer (WAL); on PostgreSQL each process has its own
backend. The writer completes open items (the newest received first): the database changes.

    python -m bench.concurrency --url URL [--processes 1,2,4] [--seconds 15] [--writer]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import queue
import statistics
import sys
import threading
import time


def percentile(xs: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of the values."""
    xs = sorted(xs)
    if not xs:
        raise ValueError("no values")
    k = max(0, min(len(xs) - 1, math.ceil(p / 100 * len(xs)) - 1))
    return xs[k]


def _reader(start, url: str, seconds: float) -> list[float]:
    os.environ["DATABASE_URL"] = url
    os.environ["ESUP_SWEEPER"] = "0"
    from bench.scale import cockpit_set
    from lib import db
    from lib.clock import now_utc

    engine = db.get_engine(url)
    now = now_utc().replace(second=0, microsecond=0)
    with db.read_scope(engine) as s:  # as the app reads (`ui.read`): no write lock
        cockpit_set(s, now)  # compiled once, as in a server that has run the page
    start.wait()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        with db.read_scope(engine) as s:
            cockpit_set(s, now)
        times.append(time.perf_counter() - t)
    return times


def _writer(start, url: str, seconds: float, rate: float) -> list[float]:
    os.environ["DATABASE_URL"] = url
    os.environ["ESUP_SWEEPER"] = "0"
    from sqlalchemy import text

    from lib import db, items
    from lib.access import SYSTEM
    from lib.clock import now_utc
    from lib.lights import epoch

    engine = db.get_engine(url)
    with db.read_scope(engine) as s:
        ids = [r[0] for r in s.execute(text(
            "SELECT id FROM items WHERE completed_at IS NULL AND received_at < :t "
            "ORDER BY received_at DESC LIMIT 5000"), {"t": epoch(now_utc()) - 60})]
    start.wait()
    times = []
    end = time.perf_counter() + seconds
    begin = time.perf_counter()
    for k, item_id in enumerate(ids):
        if rate:  # the k-th write at its time in a steady stream of `rate` a second
            time.sleep(max(0.0, begin + k / rate - time.perf_counter()))
        if time.perf_counter() >= end:
            break
        t = time.perf_counter()
        try:
            db.transact(lambda s, i=item_id: items.record_completion(
                s, SYSTEM, items.Completion(i, now_utc(), "并发测试办结", None)), engine)
        except items.ItemError:  # completed meanwhile by someone else
            continue
        times.append(time.perf_counter() - t)
    return times


def _work(kind: str, out, start, *args) -> None:
    """A worker's run, its times or its failure put on the queue; a failure breaks the
    barrier, so the others and the parent stop waiting instead of timing out."""
    try:
        out.put((kind, (_reader if kind == "reader" else _writer)(start, *args)))
    except BaseException as exc:
        start.abort()
        out.put(("failed", f"{kind}: {exc!r}"))
        raise


def settle(url: str) -> None:
    """The rollups brought up to date (as the app's sweep does every minute): each run starts
    with no cell made stale by the run before."""
    from lib import db, rollups
    from lib.clock import now_utc

    engine = db.get_engine(url)
    with db.session_scope(engine) as s:
        rollups.maintain(s, now_utc())
    engine.dispose()


def _ended_unheard(procs, got) -> list[str]:
    """The workers that ended in failure with nothing on the queue for them (a worker that
    fails in `_work` puts its reason first; one that dies before, e.g. while its interpreter
    starts, says nothing)."""
    failed = [p for p in procs if p.exitcode not in (None, 0)]
    told = sum(1 for kind, _ in got if kind == "failed")
    return [f"{p.name} ended with exit code {p.exitcode} before reporting"
            for p in failed[told:]]


def _gather(procs, out, start, seconds: float, poll: float = 0.5) -> list:
    """The parent's part: start the workers together, then collect each one's result. It
    watches the workers while it waits, so one that dies without a word ends the run at once
    with its exit code, rather than after the barrier's and the queue's timeouts."""
    deadline = time.monotonic() + 600
    while start.n_waiting < len(procs) and not start.broken:
        if any(p.exitcode is not None for p in procs) or time.monotonic() > deadline:
            start.abort()  # one ended before the start: nobody waits for it
            break
        time.sleep(0.02)
    try:
        start.wait(timeout=600)
    except threading.BrokenBarrierError:
        pass  # a worker failed before the start: its message is on the queue
    got: list = []
    deadline = time.monotonic() + seconds + 600
    quiet = 0  # polls in a row with nothing new while some worker had died unheard
    while len(got) < len(procs):
        try:
            got.append(out.get(timeout=poll))
            quiet = 0
            continue
        except queue.Empty:
            pass
        unheard = _ended_unheard(procs, got)
        quiet = quiet + 1 if unheard else 0
        if quiet >= 2 or time.monotonic() > deadline:  # a dead worker's last words had time
            raise SystemExit("a worker failed: " + "; ".join(
                [m for k, m in got if k == "failed"]
                + (unheard or [f"no result within {seconds + 600:g} s"])))
    return got


def run(url: str, readers: int, seconds: float, writer: bool, rate: float = 0) -> dict:
    ctx = mp.get_context("spawn")  # no engine or connection inherited from this process
    start = ctx.Barrier(readers + (1 if writer else 0) + 1)
    out = ctx.Queue()
    procs = [ctx.Process(target=_work, args=("reader", out, start, url, seconds))
             for _ in range(readers)]
    if writer:
        procs.append(ctx.Process(target=_work, args=("writer", out, start, url, seconds, rate)))
    for p in procs:
        p.start()
    try:
        got = _gather(procs, out, start, seconds)
    finally:
        for p in procs:
            p.join(5)
            if p.exitcode is None:
                p.terminate()
                p.join()
    failed = [msg for kind, msg in got if kind == "failed"]
    if failed:
        raise SystemExit("a worker failed: " + "; ".join(failed))
    sets = [t for kind, ts in got if kind == "reader" for t in ts]
    writes = [t for kind, ts in got if kind == "writer" for t in ts]
    return {"readers": readers, "sets": len(sets), "per_s": len(sets) / seconds,
            "median": statistics.median(sets), "p95": percentile(sets, 95),
            "writes": len(writes), "writes_per_s": len(writes) / seconds,
            "write_median": statistics.median(writes) if writes else None,
            "write_p95": percentile(writes, 95) if writes else None}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", default=os.environ.get("DATABASE_URL"), required=False)
    p.add_argument("--processes", default="1,2,4")
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--writer", action="store_true")
    p.add_argument("--rate", type=float, default=5.0,
                   help="the writer's writes a second (0: as many as it can)")
    args = p.parse_args()
    if not args.url:
        p.error("--url or DATABASE_URL is needed")
    load = os.getloadavg()
    print(f"{args.url} on {os.cpu_count()} cores, load average {load[0]:.1f}; each run "
          f"{args.seconds:g} s" + ((", one writer beside the readers, "
                                    + (f"{args.rate:g} writes a second" if args.rate else
                                       "writing as fast as it can")) if args.writer else ""))
    print(f"{'readers':>7}  {'sets/s':>7}  {'median':>7}  {'p95':>7}" +
          (f"  {'writes/s':>8}  {'median':>7}  {'p95':>7}" if args.writer else ""))
    for n in (int(x) for x in args.processes.split(",")):
        settle(args.url)
        r = run(args.url, n, args.seconds, args.writer, args.rate)
        line = f"{n:>7}  {r['per_s']:7.1f}  {r['median']:7.3f}  {r['p95']:7.3f}"
        if args.writer:
            line += (f"  {r['writes_per_s']:8.1f}  {r['write_median']:7.4f}  {r['write_p95']:7.4f}"
                     if r["writes"] else "  no write finished")
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
