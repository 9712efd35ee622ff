"""Supervision notices: the sweep's exactly-once, escalation on a fixed clock, the lifecycle."""

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lib import db, notices
from lib.access import CurrentUser, PermissionDenied
from lib.config import TZ
from lib.importer import import_items
from lib.models import Item, Notice, NoticeEvent, Unit

ROOT = Path(__file__).resolve().parent.parent
HEADER = "external_id,subsystem,unit,received_at,time_limit,completed_at\n"
INSPECTOR = CurrentUser(None, "jiancha", "监察", frozenset({"inspector"}))
# Three items received Monday 2 November 2026 with 48 hours: due Wednesday 4 November 09:00.
T_DUE = datetime(2026, 11, 4, 9, 0, tzinfo=TZ)


@pytest.fixture
def engine(empty_engine):
    with db.session_scope(empty_engine) as s:
        import_items(s, HEADER
                     + "N-1,FEES,440823.ZRZY,2026-11-02T09:00,48h,\n"
                     + "N-2,FEES,440823.ZRZY,2026-11-02T09:00,48h,\n"
                     + "N-3,FEES,ZJ.CZ,2026-11-02T09:00,48h,2026-11-03T09:00\n", actor="t")
    return empty_engine


def count(engine, model=Notice):
    with db.session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model))


def sweep(engine, at):
    with db.session_scope(engine) as s:
        return notices.sweep(s, now=at)


def staff(engine, code="440823.ZRZY"):
    with db.read_scope(engine) as s:
        uid = s.scalar(select(Unit.id).where(Unit.code == code))
    return CurrentUser(None, "jingban", "经办", frozenset({"staff"}), unit_id=uid)


def test_nothing_before_the_deadline_one_notice_per_overdue_item_after(engine):
    assert sweep(engine, T_DUE).issued == 0  # exactly at the deadline: not yet overdue
    result = sweep(engine, T_DUE + timedelta(seconds=1))
    assert result.issued == 2  # N-3 was completed in time
    assert sweep(engine, T_DUE + timedelta(hours=1)).issued == 0
    assert sweep(engine, T_DUE + timedelta(days=2)).issued == 0
    assert count(engine) == 2
    with db.session_scope(engine) as s:
        n = s.scalar(select(Notice).order_by(Notice.id))
        assert n.status == "issued" and n.level == 1 and "N-1" in n.matter
        assert notices.number(n.id, n.issued_at) == "湛纪督〔2026〕00001号"
        assert n.reply_due == datetime(2026, 11, 7, tzinfo=TZ)  # 2 working days


def test_a_new_crossing_gets_a_new_notice(engine):
    sweep(engine, T_DUE + timedelta(seconds=1))
    with db.session_scope(engine) as s:  # the deadline is extended, then crossed again
        item = s.scalar(select(Item).where(Item.external_id == "N-1"))
        item.deadline = T_DUE + timedelta(days=5)
    assert sweep(engine, T_DUE + timedelta(days=2)).issued == 0
    assert sweep(engine, T_DUE + timedelta(days=5, seconds=1)).issued == 1
    assert count(engine) == 3


def test_two_processes_at_once_never_duplicate(engine):
    env = dict(os.environ, DATABASE_URL=engine.url.render_as_string(hide_password=False))
    procs = [subprocess.Popen([sys.executable, "-m", "lib", "sweep"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    issued = sum(int(o.split("新发督办通知 ")[1].split(" ")[0]) for o, _ in outs)
    assert issued == 2 and count(engine) == 2


def test_escalation_ladder_with_grace(engine):
    sweep(engine, T_DUE + timedelta(seconds=1))
    due = datetime(2026, 11, 7, tzinfo=TZ)
    assert sweep(engine, due - timedelta(seconds=1)).escalated == 0
    assert sweep(engine, due + timedelta(seconds=1)).escalated == 2
    assert sweep(engine, due + timedelta(hours=2)).escalated == 0  # grace period
    with db.session_scope(engine) as s:
        n = s.scalar(select(Notice).order_by(Notice.id))
        assert n.level == 2 and n.reply_due == datetime(2026, 11, 10, tzinfo=TZ)
    assert sweep(engine, datetime(2026, 11, 10, 0, 0, 1, tzinfo=TZ)).escalated == 2
    assert sweep(engine, datetime(2026, 12, 30, tzinfo=TZ)).escalated == 0  # level 3 is the top
    with db.session_scope(engine) as s:
        levels = s.execute(select(NoticeEvent.level).where(NoticeEvent.action == "escalated")
                           .order_by(NoticeEvent.id)).scalars().all()
    assert levels == [2, 2, 3, 3]


def test_an_acknowledged_notice_does_not_escalate(engine):
    sweep(engine, T_DUE + timedelta(seconds=1))
    with db.session_scope(engine) as s:
        first = s.scalar(select(Notice.id).order_by(Notice.id))
        notices.acknowledge(s, staff(engine), first, now=T_DUE + timedelta(hours=2))
    assert sweep(engine, datetime(2026, 11, 8, tzinfo=TZ)).escalated == 1


def test_the_lifecycle_and_its_bad_inputs(engine):
    sweep(engine, T_DUE + timedelta(seconds=1))
    with db.session_scope(engine) as s:
        nid = s.scalar(select(Notice.id).order_by(Notice.id))
    other = staff(engine, "ZJ.CZ")
    mine = staff(engine)
    with db.session_scope(engine) as s, pytest.raises(PermissionDenied):
        notices.acknowledge(s, other, nid)
    with db.session_scope(engine) as s, pytest.raises(notices.NoticeError, match="不能进行此操作"):
        notices.report(s, mine, nid, "已经全部整改完毕，今后加强管理。")
    with db.session_scope(engine) as s:
        notices.acknowledge(s, mine, nid)
    with db.session_scope(engine) as s, pytest.raises(notices.NoticeError, match="至少 10 个字"):
        notices.report(s, mine, nid, "已整改")
    with db.session_scope(engine) as s:
        notices.report(s, mine, nid, "逾期原因：窗口人员请假。措施：设 AB 岗。结果：已办结。")
    with db.session_scope(engine) as s, pytest.raises(notices.NoticeError, match="理由"):
        notices.verify(s, INSPECTOR, nid, False, "")
    with db.session_scope(engine) as s:
        notices.verify(s, INSPECTOR, nid, False, "未附办结材料")
        notices.report(s, mine, nid, "补充：已上传办结材料和 AB 岗制度文件。")
        notices.verify(s, INSPECTOR, nid, True, "整改到位")
    with db.session_scope(engine) as s:
        steps = [e.action for e in notices.events(s, INSPECTOR, nid)]
        assert s.get(Notice, nid).status == "closed"
    assert steps == ["issued", "acknowledged", "rectified", "returned", "rectified", "closed"]


def test_manual_bulk_issue(engine):
    with db.session_scope(engine) as s:
        ids = s.scalars(select(Item.id).order_by(Item.id)).all()
    at = T_DUE + timedelta(seconds=1)
    with db.session_scope(engine) as s:
        assert notices.issue_manual(s, INSPECTOR, ids, requirements="", now=at) == 2
    with db.session_scope(engine) as s, pytest.raises(notices.NoticeError, match="均已督办"):
        notices.issue_manual(s, INSPECTOR, ids, requirements="", now=at)
    assert sweep(engine, at).issued == 0
    with db.session_scope(engine) as s, pytest.raises(PermissionDenied):
        notices.issue_manual(s, staff(engine), ids, requirements="")


def test_the_app_sweeps_at_most_once_a_minute(engine):
    at = T_DUE + timedelta(seconds=1)
    with db.session_scope(engine) as s:
        assert notices.run_if_due(s, at).issued == 2
    with db.session_scope(engine) as s:
        assert notices.run_if_due(s, at + timedelta(seconds=30)) is None
    with db.session_scope(engine) as s:
        assert notices.run_if_due(s, at + timedelta(seconds=61)) is not None


def test_a_sweep_that_issues_many_notices_at_once_is_audited_whole(empty_engine):
    """Forty items overdue together: one audit row, its notice ids cut to fit the column
    (PostgreSQL refused the whole sweep when they were longer than 64 characters)."""
    from lib.models import AuditLog

    rows = "".join(f"MANY-{i},FEES,440823.ZRZY,2026-11-02T09:00,48h,\n" for i in range(40))
    with db.session_scope(empty_engine) as s:
        import_items(s, HEADER + rows, actor="t")
    assert sweep(empty_engine, T_DUE + timedelta(minutes=1)).issued == 40
    with db.session_scope(empty_engine) as s:
        row = s.scalar(select(AuditLog).where(AuditLog.action == "notice.issue"))
    assert len(row.entity_id) <= 64 and row.entity_id.endswith(",…")
    assert '"count": 40' in row.after


def test_a_first_sweep_over_thousands_of_overdue_items_issues_them_all(empty_engine):
    """22,000 items overdue at once (a first sweep over years of imported items): one statement
    for all of them had more bound values than SQLite (250,000 here) or PostgreSQL (65,535)
    take (seen at 10 million items)."""
    from lib.models import Notice

    rows = "".join(f"BULK-{i},FEES,440823.ZRZY,2026-11-02T09:00,48h,\n" for i in range(22000))
    with db.session_scope(empty_engine) as s:
        import_items(s, HEADER + rows, actor="t")
    assert sweep(empty_engine, T_DUE + timedelta(minutes=1)).issued == 22000
    with db.session_scope(empty_engine) as s:
        assert s.scalar(select(func.count()).select_from(Notice)) == 22000


def test_since_reads_only_crossings_from_then_on(engine):
    """The demo's history sweeps with `since` (its last sweep): crossings before it are left
    to that sweep, crossings at or after it are found as by a full sweep."""
    with db.session_scope(engine) as s:
        assert notices.sweep(s, T_DUE + timedelta(days=1), since=T_DUE + timedelta(seconds=1)).issued == 0
    assert count(engine) == 0
    with db.session_scope(engine) as s:
        assert notices.sweep(s, T_DUE + timedelta(days=1), since=T_DUE).issued == 2
    assert sweep(engine, T_DUE + timedelta(days=2)).issued == 0


def test_escalation_reads_only_the_levels_below_the_top(engine):
    """The notices due to escalate: issued, below the top level, reply date passed. On SQLite the
    read is a range of the index on (status, level, reply date) per level, never a walk over the
    notices already at the top (38,000 at ten million items, every sweep)."""
    sweep(engine, T_DUE + timedelta(seconds=1))
    later = datetime(2026, 11, 20, tzinfo=TZ)
    with db.session_scope(engine) as s:
        first, second = s.scalars(select(Notice).order_by(Notice.id)).all()
        first.level = notices.TOP_LEVEL
        due = set(s.execute(notices.escalation_due(later)).all())
        assert due == {(second.id, 1)}
        assert s.execute(notices.escalation_due(second.reply_due)).all() == []  # not yet passed
        second.status = "acknowledged"
        s.flush()
        assert s.execute(notices.escalation_due(later)).all() == []
        if s.bind.dialect.name == "sqlite":
            stmt = notices.escalation_due(later).compile(
                s.bind, compile_kwargs={"render_postcompile": True})
            plan = " ".join(str(r[-1]) for r in s.connection().exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(stmt),
                tuple(stmt.construct_params()[k] for k in stmt.positiontup)).all())
            assert "ix_notices_status_level (status=? AND level=? AND reply_due<?)" in plan, plan
