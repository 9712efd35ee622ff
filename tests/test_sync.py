"""Pulling from a front database (lib.sync): a second SQLite file and a PostgreSQL database act
as the approval system's 前置库. The watermark moves only with a written batch; a failure in
the middle of a batch loses nothing and doubles nothing when the sync runs again."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from lib import db, exchange, sync
from lib.access import SYSTEM
from lib.models import ImportRun, Item, ItemEvent, SyncSource
from tests.conftest import new_database_url

MAPPING = {"external_id": "case_no", "subsystem": "sub_code", "unit": "dept",
           "received_at": "recv_time", "time_limit": "limit_txt", "completed_at": "done_time"}


@pytest.fixture(params=["sqlite", "postgresql"])
def front(request, tmp_path_factory):
    url = new_database_url(request.param, tmp_path_factory)
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table("approval_feed", meta,
                     sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("case_no", sa.String(40)), sa.Column("sub_code", sa.String(16)),
                     sa.Column("dept", sa.String(40)), sa.Column("recv_time", sa.DateTime),
                     sa.Column("limit_txt", sa.String(8)), sa.Column("done_time", sa.DateTime),
                     sa.Column("updated_at", sa.DateTime))
    meta.create_all(engine)
    yield url, engine, table
    engine.dispose()
    sync._front_engines.pop(url, None)


def add(engine, table, rows):
    with engine.begin() as c:
        c.execute(table.insert(), rows)


def case(i, updated, dept="ZJ.FG", done=None, sub="APPROVAL"):
    return {"id": i, "case_no": f"QZ-{i:04d}", "sub_code": sub, "dept": dept,
            "recv_time": datetime(2026, 9, 1, 9, 0), "limit_txt": "10wd", "done_time": done,
            "updated_at": updated}


def define(engine, url, batch=3, mark="updated_at"):
    spec = sync.SourceSpec("approval", url, "approval_feed", "items", MAPPING, mark,
                           subsystem="APPROVAL", batch_size=batch)
    with db.session_scope(engine) as s:
        sync.save_source(s, SYSTEM, spec)


def items(engine):
    with db.read_scope(engine) as s:
        return dict(s.execute(select(Item.external_id, Item.state)
                              .where(Item.external_id.like("QZ-%"))).all())


def watermark(engine):
    with db.read_scope(engine) as s:
        return s.get(SyncSource, "approval").watermark


def test_pulls_past_the_watermark_in_batches_and_follows_updates(empty_engine, front):
    url, fe, table = front
    add(fe, table, [case(i, datetime(2026, 10, 1, 8, i)) for i in range(1, 8)])
    define(empty_engine, url, batch=3)
    first = sync.sync("approval", engine=empty_engine)
    assert (first.batches, first.rows, first.created) == (3, 7, 7)
    assert len(items(empty_engine)) == 7 and watermark(empty_engine).startswith("2026-10-01T08:07")
    assert sync.sync("approval", engine=empty_engine).rows == 0
    with fe.begin() as c:  # the approval system finishes a case: the row's updated_at moves on
        c.execute(table.update().where(table.c.id == 2).values(
            done_time=datetime(2026, 9, 5, 16, 0), updated_at=datetime(2026, 10, 2, 9, 0)))
    again = sync.sync("approval", engine=empty_engine)
    assert (again.rows, again.updated, again.created) == (1, 1, 0)
    assert items(empty_engine)["QZ-0002"] == "completed"
    with db.read_scope(empty_engine) as s:
        runs = s.scalars(select(ImportRun.source).where(ImportRun.source == "sync:approval"))
        assert len(list(runs)) == 4


def test_equal_watermarks_never_split_across_batches(empty_engine, front):
    url, fe, table = front
    same = datetime(2026, 10, 1, 8, 0)
    add(fe, table, [case(i, same) for i in range(1, 6)] + [case(6, datetime(2026, 10, 1, 9, 0))])
    define(empty_engine, url, batch=2)
    result = sync.sync("approval", engine=empty_engine)
    assert result.rows == 6 and len(items(empty_engine)) == 6


def test_a_crash_in_the_middle_of_a_batch_loses_nothing_and_doubles_nothing(
        empty_engine, front, monkeypatch):
    url, fe, table = front
    add(fe, table, [case(i, datetime(2026, 10, 1, 8, i)) for i in range(1, 10)])
    define(empty_engine, url, batch=4)
    kind = exchange.load_kinds()["items"]
    real_apply = kind.apply
    calls = {"n": 0}

    def crashing(session, rows, actor):
        calls["n"] += 1
        result = real_apply(session, rows[:2], actor)  # half the batch is written …
        if calls["n"] == 2:
            raise RuntimeError("前置库连接中断")  # … then the process dies
        return real_apply(session, rows[2:], actor) if len(rows) > 2 else result

    monkeypatch.setitem(exchange.KINDS, "items", exchange.Kind(
        kind.code, kind.label, kind.columns, kind.key, kind.resolve, crashing,
        export=kind.export, chunk=kind.chunk))
    with pytest.raises(RuntimeError):
        sync.sync("approval", engine=empty_engine)
    assert len(items(empty_engine)) == 4  # the first batch only; none of the second
    mark = watermark(empty_engine)
    assert mark.startswith("2026-10-01T08:04")
    monkeypatch.setitem(exchange.KINDS, "items", kind)
    result = sync.sync("approval", engine=empty_engine)
    assert result.rows == 5 and len(items(empty_engine)) == 9
    with db.read_scope(empty_engine) as s:
        created = s.scalar(select(func.count()).select_from(ItemEvent)
                           .where(ItemEvent.kind == "created"))
    assert created == 9


def test_a_bad_row_stops_the_batch_and_keeps_the_watermark(empty_engine, front):
    url, fe, table = front
    add(fe, table, [case(1, datetime(2026, 10, 1, 8, 1)),
                    case(2, datetime(2026, 10, 1, 8, 2), dept="NOPE")])
    define(empty_engine, url, batch=10)
    with pytest.raises(exchange.ImportFailed) as err:
        sync.sync("approval", engine=empty_engine)
    assert "updated_at=2026-10-01T08:02" in err.value.errors[0] and "未知单位" in err.value.errors[0]
    assert watermark(empty_engine) is None and items(empty_engine) == {}
    with db.read_scope(empty_engine) as s:
        src = s.get(SyncSource, "approval")
        assert src.last_status.startswith("失败（水位未动）")
    with fe.begin() as c:
        c.execute(table.update().where(table.c.id == 2).values(dept="ZJ.FG"))
    assert sync.sync("approval", engine=empty_engine).rows == 2


def test_a_rising_id_works_as_the_watermark(empty_engine, front):
    url, fe, table = front
    add(fe, table, [case(i, None) for i in range(1, 5)])
    define(empty_engine, url, batch=3, mark="id")
    assert sync.sync("approval", engine=empty_engine).rows == 4
    assert watermark(empty_engine) == "4"
    add(fe, table, [case(5, None)])
    assert sync.sync("approval", engine=empty_engine).rows == 1


def test_source_definitions_are_checked(empty_engine, front):
    url, _, _ = front
    bad = [
        (sync.SourceSpec("Bad Name", url, "approval_feed", "items", MAPPING, "id"), "名称"),
        (sync.SourceSpec("a1", url, "approval_feed", "nope", MAPPING, "id"), "未知的数据类别"),
        (sync.SourceSpec("a1", "not a url", "approval_feed", "items", MAPPING, "id"), "连接地址格式不对"),
        (sync.SourceSpec("a1", url, "approval_feed", "items",
                         {**MAPPING, "received_at": ""}, "id"), "缺少必填列"),
        (sync.SourceSpec("a1", url, "approval_feed", "items",
                         {**MAPPING, "unit": "no_such_col"}, "id"), "没有列"),
        (sync.SourceSpec("a1", url, "no_table", "items", MAPPING, "id"), "没有表"),
    ]
    for spec, expected in bad:
        with db.session_scope(empty_engine) as s, pytest.raises(sync.SyncError, match=expected):
            sync.save_source(s, SYSTEM, spec)
    with pytest.raises(sync.SyncError, match="没有名为"):
        sync.sync("missing", engine=empty_engine)
