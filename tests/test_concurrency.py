"""Many writers at once, on both databases: threads and separate processes sign in, save forms,
append to the audit trail, submit public reports, import items and run the sweep, all at the same
moment. Nothing may fail, every write must be there exactly once, and the audit chain must verify
(the failure these guard against: two writers extending the chain from the same head)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import func, select

from lib import audit, db
from lib.models import AuditLog, Item, ItemEvent, Notice, Submission
from tests.concurrency_worker import work

ROOT = Path(__file__).resolve().parent.parent
THREADS, PROCESSES, ROUNDS = 6, 3, 6


def test_writers_at_once_lose_nothing_and_duplicate_nothing(empty_engine):
    url = empty_engine.url.render_as_string(hide_password=False)
    env = dict(os.environ, BCRYPT_ROUNDS="4")
    procs = [subprocess.Popen([sys.executable, "-m", "tests.concurrency_worker", url, f"p{k}",
                               str(ROUNDS)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
             for k in range(PROCESSES)]
    errors: list[BaseException] = []

    def run(tag: str) -> None:
        try:
            work(url, tag, ROUNDS)
        except BaseException as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"t{k}",)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outputs = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert not errors, errors[0]
    assert all(code == 0 for code, _ in outputs), [err[-2000:] for _, err in outputs]

    tags = [f"t{k}" for k in range(THREADS)] + [f"p{k}" for k in range(PROCESSES)]
    writers = len(tags)
    with db.read_scope(empty_engine) as s:
        def count(stmt):
            return s.scalar(select(func.count()).select_from(stmt.subquery()))

        for tag in tags:
            appended = list(s.scalars(select(AuditLog.entity_id).where(
                AuditLog.action == "test.append", AuditLog.actor == tag)))
            assert sorted(appended) == sorted(f"{tag}-{i}" for i in range(ROUNDS))
            assert count(select(AuditLog.id).where(AuditLog.action == "auth.login",
                                                   AuditLog.actor == f"{tag}_user")) == ROUNDS
            assert count(select(Item.id).where(Item.external_id.like(f"{tag}-%"),
                                               Item.state == "completed")) == ROUNDS
        assert count(select(Submission.id)) == writers * ROUNDS
        assert count(select(Submission.code).distinct()) == writers * ROUNDS
        completions = count(select(ItemEvent.id).where(ItemEvent.kind == "completed"))
        assert completions == writers * ROUNDS
        # The sweep ran in every round of every writer: still one notice per item and crossing.
        pairs = count(select(Notice.item_id, Notice.crossing).distinct())
        assert count(select(Notice.id)) == pairs
        result = audit.verify(s)
        assert result.ok, result.message
        assert result.rows == s.scalar(select(func.count()).select_from(AuditLog))

    cli = subprocess.run([sys.executable, "-m", "lib", "audit", "verify"], cwd=ROOT,
                         env=dict(env, DATABASE_URL=url), capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert "审计链完整" in cli.stdout
