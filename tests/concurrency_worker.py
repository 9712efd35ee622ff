"""Writers for the concurrency tests: each call does `n` rounds of what the app's users, the
sweep and the importer write, each round in its own transactions through `lib.db.transact`.

Run in threads by the tests, and as separate processes:
`python -m tests.concurrency_worker URL TAG N` (prints nothing; exits non-zero on any error)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("BCRYPT_ROUNDS", "4")

from lib import audit, auth, db, items, notices, submissions  # noqa: E402
from lib.access import CurrentUser  # noqa: E402
from lib.clock import now_utc  # noqa: E402
from lib.importer import import_items  # noqa: E402

HEADER = "external_id,subsystem,unit,received_at,time_limit,completed_at\n"
PASSWORD = "Bingfa#2026x"


def round_trip(engine, tag: str, i: int, staff: CurrentUser) -> None:
    def login(s):
        result = auth.authenticate(s, f"{tag}_user", PASSWORD)
        assert result.user is not None, result.message

    db.transact(login, engine)
    db.transact(lambda s: audit.record(s, actor=tag, action="test.append", entity="probe",
                                       entity_id=f"{tag}-{i}"), engine)
    db.transact(lambda s: submissions.submit(s, submissions.NewSubmission(
        kind="complaint", region_id=None, unit_id=None, subject=f"并发测试 {tag} 第{i}件",
        body="并发写入测试：多个会话同时提交。")), engine)
    ext = f"{tag}-{i}"
    db.transact(lambda s: import_items(
        s, HEADER + f"{ext},APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,\n", actor=tag), engine)

    def complete(s):  # a staff member's form: record the completion of that item
        item = items.find_item(s, staff, ext)
        items.record_completion(s, staff, items.Completion(item.id, now_utc(), "办结", None))

    db.transact(complete, engine)
    db.transact(notices.sweep, engine)


def setup_user(engine, tag: str) -> CurrentUser:
    """The worker's own account (created once) and a staff identity for ZJ.FG's forms."""
    from sqlalchemy import select

    from lib.access import SYSTEM
    from lib.models import Unit

    def make(s):
        unit_id = s.scalar(select(Unit.id).where(Unit.code == "ZJ.FG"))
        if auth.load_user(s, f"{tag}_user") is None:
            auth.create_user(s, SYSTEM, username=f"{tag}_user", display_name=tag[:16],
                             roles={"leader"}, unit_id=None, password=PASSWORD)
        return unit_id

    unit_id = db.transact(make, engine)
    return CurrentUser(None, f"{tag}_staff", "经办", frozenset({"staff"}), unit_id=unit_id)


def work(url: str, tag: str, n: int) -> None:
    engine = db.get_engine(url)
    staff = setup_user(engine, tag)
    for i in range(n):
        round_trip(engine, tag, i, staff)


if __name__ == "__main__":
    work(sys.argv[1], sys.argv[2], int(sys.argv[3]))
