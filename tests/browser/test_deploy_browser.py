"""The deployment of docs/deploy.md, as far as one machine allows: two app processes on one
PostgreSQL database, their sweep threads on and `python -m lib sweep` running beside them as
cron would, browsers on both processes at once (public submissions, a unit's answer, a progress
report, leaders' and inspectors' pages). Nothing may be duplicated or lost."""

import pytest

from bench.load import report, run_load
from tests.browser.conftest import CHROMIUM, CI

pytestmark = pytest.mark.browser


def test_two_app_processes_on_one_postgresql_with_the_sweep_beside_them(tmp_path):
    from pathlib import Path

    from tests.conftest import _pg_admin

    if not Path(CHROMIUM).exists():
        (pytest.fail if CI else pytest.skip)(f"Chromium not found at {CHROMIUM}")
    _pg_admin().dispose()  # skips (or fails under CI) when PostgreSQL is unreachable
    # The load runs its own asyncio loop: on a thread of its own, beside the sync Playwright
    # that the other browser tests of this session keep running on this one.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        r = pool.submit(run_load, "postgresql", sessions=6, items=300, rounds=1, processes=2,
                        sweep_every=5, workdir=tmp_path).result()
    text = report(r)
    assert r["app_processes"] == 2 and r["sessions"] == 6
    assert r["errors"] == 0, text
    assert r["sessions_completed"] == r["sessions"], text
    assert r["submissions_sent"] > 0 and r["submissions_written"] == r["submissions_sent"], text
    assert r["replies_sent"] > 0 and r["replies_written"] == r["replies_sent"], text
    assert r["progress_written"] == r["progress_sent"], text
    assert r["cron_sweeps"] >= 2 and r["notices"] > 0, text
    assert r["duplicate_notices"] == 0 and r["missing_notices"] == 0, text
    assert r["audit_ok"], text
