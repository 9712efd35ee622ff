"""The transaction rules of `lib.db`: reads never take the write lock and cannot write; writes
hold it from their first statement; transient failures are retried, others are not."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from lib import audit, db
from lib.models import AuditLog, Unit


def test_a_read_scope_cannot_write(empty_engine):
    with pytest.raises(DBAPIError), db.read_scope(empty_engine) as s:
        audit.record(s, actor="t", action="test.read_only", entity="probe")
    with db.read_scope(empty_engine) as s:
        assert s.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_a_read_goes_on_while_a_writer_holds_the_lock(empty_engine):
    """A page that only reads is never kept waiting by a long write (the sweep, an import)."""
    with db.session_scope(empty_engine) as w:
        audit.record(w, actor="t", action="test.hold", entity="probe")
        done = threading.Event()

        def reader():
            with db.read_scope(empty_engine) as r:
                r.scalar(select(func.count()).select_from(Unit))
            done.set()

        t = threading.Thread(target=reader)
        t.start()
        assert done.wait(10), "a read waited for the writer"
        t.join()


def test_writers_queue_instead_of_failing(empty_engine):
    """While one write transaction is open, a second one waits for it and then sees its row."""
    order = []
    with db.session_scope(empty_engine) as first:
        audit.record(first, actor="t", action="test.first", entity="probe")

        def second():
            db.transact(lambda s: order.append(
                audit.record(s, actor="t", action="test.second", entity="probe").prev_hash),
                empty_engine)

        t = threading.Thread(target=second)
        t.start()
        t.join(0.5)
        assert t.is_alive(), "the second writer did not wait for the first"
    t.join(30)
    with db.read_scope(empty_engine) as s:
        rows = list(s.scalars(select(AuditLog).order_by(AuditLog.id)))
    assert [r.action for r in rows] == ["test.first", "test.second"]
    assert order == [rows[0].hash]
    with db.read_scope(empty_engine) as s:
        assert audit.verify(s).ok


def _locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))


def test_transact_retries_a_transient_failure(empty_engine):
    calls = []

    def flaky(s):
        calls.append(1)
        audit.record(s, actor="t", action="test.retry", entity="probe", entity_id=str(len(calls)))
        if len(calls) < 3:
            raise _locked()
        return "ok"

    assert db.transact(flaky, empty_engine) == "ok"
    with db.read_scope(empty_engine) as s:  # the failed attempts were rolled back
        assert list(s.scalars(select(AuditLog.entity_id))) == ["3"]


def test_transact_gives_up_after_its_retries_and_never_retries_a_refusal(empty_engine):
    calls = []

    def always_locked(s):
        calls.append(1)
        raise _locked()

    with pytest.raises(OperationalError):
        db.transact(always_locked, empty_engine, retries=2)
    assert len(calls) == 3

    calls.clear()

    def refused(s):
        calls.append(1)
        raise ValueError("输入有误")

    with pytest.raises(ValueError):
        db.transact(refused, empty_engine)
    assert len(calls) == 1


def test_index_hints_bind_new_values_to_a_kept_statement(demo_engine):
    """`db.indexed_by` keeps the hinted text per statement shape: the same shape with other
    values (and a different shape) reads exactly what the statement itself reads, as a text
    clause and run on the DBAPI cursor (`db.hinted_cursor`)."""
    from sqlalchemy import func, select, union_all

    from lib.models import Item

    def stmt(lo, hi, unit):
        a = select(Item.unit_id, func.count()).where(Item.deadline >= lo, Item.deadline < hi,
                                                     Item.unit_id != unit).group_by(Item.unit_id)
        b = select(Item.unit_id, func.count()).where(Item.completed_at.is_(None),
                                                     Item.unit_id == unit).group_by(Item.unit_id)
        return union_all(a, b)

    with db.session_scope(demo_engine, write=False) as s:
        first = s.scalar(select(func.min(Item.deadline)))
        last = s.scalar(select(func.max(Item.deadline)))
        units = list(s.scalars(select(Item.unit_id).distinct().limit(4)))
        span = (last - first) / 5
        for k, unit in enumerate(units * 2):  # each shape twice: compiled once, then reused
            lo, hi = first + k * span / 2, first + (k + 3) * span / 2
            want = sorted(s.execute(stmt(lo, hi, unit)).all())
            hints = ["ix_items_deadline", "ix_items_open"]
            hinted = db.indexed_by(s, stmt(lo, hi, unit), hints)
            assert sorted(s.execute(hinted).all()) == want
            # The kept text run on the DBAPI cursor (`hinted_cursor`): the same rows.
            assert sorted(db.hinted_cursor(s, stmt(lo, hi, unit), hints).fetchall()) == want
        # IN lists: a text per length, kept and bound again with other values (none, one,
        # several; epoch datetimes converted by their column's type), two lists in one part.
        import random

        rng = random.Random(7)
        all_units = list(s.scalars(select(Item.unit_id).distinct()))
        db._HINTED.clear()
        for _ in range(24):
            some = rng.sample(all_units, rng.choice([0, 1, 1, 3, 3, 5]))
            times = [(first + rng.random() * (last - first)).replace(microsecond=0)
                     for _ in range(rng.choice([1, 2]))]
            q = (select(Item.unit_id, func.count()).where(
                Item.unit_id.in_(some), Item.deadline.not_in(times),
                Item.deadline >= times[0]).group_by(Item.unit_id))
            got = sorted(s.execute(db.indexed_by(s, q, ["ix_items_unit_received"])).all())
            assert got == sorted(s.execute(q).all())
            assert sorted(db.hinted_cursor(s, q, ["ix_items_unit_received"]).fetchall()) == got
        if s.get_bind().dialect.name == "sqlite":  # PostgreSQL: the statement as it is
            assert 0 < len(db._HINTED) <= 12  # a text per (units, times) length, not per read
            assert all(e[1] is not db._UNKEPT for e in db._HINTED.values())
        # A shape whose parameters are named otherwise (a LIMIT's) is compiled each time, its
        # IN list's epoch times still converted by the column's type.
        due = list(s.scalars(select(Item.deadline).where(Item.deadline.is_not(None)).limit(3)))
        q = select(Item.id).where(Item.deadline.in_(due)).order_by(Item.id).limit(50)
        assert s.execute(q).all()
        assert s.execute(db.indexed_by(s, q, ["ix_items_deadline"])).all() == s.execute(q).all()
        assert db.hinted_cursor(s, q, ["ix_items_deadline"]).fetchall() == \
            [tuple(r) for r in s.execute(q).all()]


def test_a_light_template_reads_what_its_select_reads(demo_engine):
    """`queries.light_template`: one statement per shape (a window or none, which filters, how
    many subsystems), T, the window's start and the filters bound when it runs: the rows
    `raw_light_select` gives for those values, at two times; a value left unbound is an
    error, never NULL."""
    from datetime import timedelta

    import pytest
    from sqlalchemy import exc, select

    from lib import queries
    from lib.clock import now_utc
    from lib.models import Item, Subsystem

    def rows(result):
        return sorted((tuple(r) for r in result),
                      key=lambda r: (r[0], r[1], -1 if r[2] is None else r[2]))

    with db.session_scope(demo_engine, write=False) as s:
        region = s.scalar(select(Item.region_id).where(Item.region_id.is_not(None)).limit(1))
        unit = s.scalar(select(Item.unit_id).order_by(Item.id).limit(1))
        subs = sorted(s.scalars(select(Subsystem.id)))[:3]
        queries._LIGHT_TEMPLATES.clear()
        for as_of in (now_utc() - timedelta(days=3), now_utc() - timedelta(days=40)):
            for kw in ({}, {"region_id": region}, {"unit_id": unit, "subsystem_ids": subs},
                       {"window_days": None}, {"open_only": True}):
                args = {"as_of": as_of, "window_days": 90} | kw
                want = rows(s.execute(queries.raw_light_select(**args)).all())
                stmt, values = queries.light_template(**args)
                assert rows(db.hinted_cursor(s, stmt, [None], values).fetchall()) == want, kw
                assert len(want) > 3
        assert len(queries._LIGHT_TEMPLATES) == 5  # one per shape, not one per read
        stmt, values = queries.light_template(as_of=now_utc(), window_days=30)
        del values["lt_t"]
        with pytest.raises((ValueError, exc.StatementError, exc.InvalidRequestError)):
            db.hinted_cursor(s, stmt, [None], values).fetchall()


def test_a_raw_cursor_converts_its_parameters_by_their_types(demo_engine):
    """`db.raw_cursor` binds an epoch column's datetime as the column stores it (epoch seconds):
    it counts what the statement itself counts."""
    from sqlalchemy import func, select

    from lib.models import Item

    with db.session_scope(demo_engine, write=False) as s:
        middle = s.scalar(select(Item.deadline).order_by(Item.id).limit(1))
        q = select(func.count()).select_from(Item).where(Item.deadline <= middle)
        assert db.raw_cursor(s, q).fetchall()[0][0] == s.execute(q).scalar() > 0


def test_a_raw_cursor_keeps_a_statements_text_and_binds_new_values(demo_engine):
    """`db.raw_cursor` compiles a statement's shape once (its IN lists' lengths part of the
    shape) and binds each read's own values, epoch times converted: the same rows as the
    statement itself, read after read."""
    import random

    from sqlalchemy import func, select

    from lib.models import Item

    rng = random.Random(3)
    with db.session_scope(demo_engine, write=False) as s:
        units = sorted(s.scalars(select(Item.unit_id).distinct()))
        times = sorted(s.scalars(select(Item.deadline).where(Item.deadline.is_not(None))
                                 .order_by(Item.id).limit(300)))
        db._RAW.clear()
        for _ in range(12):
            some = rng.sample(units, rng.choice((2, 3)))
            lo = rng.choice(times)
            q = (select(Item.unit_id, func.count()).where(Item.unit_id.in_(some),
                                                         Item.deadline >= lo)
                 .group_by(Item.unit_id).order_by(Item.unit_id))
            assert db.raw_cursor(s, q).fetchall() == [tuple(r) for r in s.execute(q).all()]
        shapes = [k for k in db._RAW if k[0] == s.get_bind().dialect.name]
        assert 1 <= len(shapes) <= 2  # one text per IN list length, not one per read


def test_a_frame_of_query_rows(empty_engine):
    """`db.frame`: the same frame pandas makes from SQLAlchemy's rows (values, column names,
    types), from plain tuples; no rows give an empty frame with the columns."""
    import pandas as pd

    with db.read_scope(empty_engine) as s:
        rows = s.execute(select(Unit.id, Unit.code, Unit.name).order_by(Unit.id)).all()
        none = s.execute(select(Unit.id, Unit.code).where(Unit.id < 0)).all()
    assert len(rows) > 10
    got = db.frame(rows, ["unit_id", "code", "name"])
    want = pd.DataFrame(rows, columns=["unit_id", "code", "name"])
    pd.testing.assert_frame_equal(got, want)
    assert got["unit_id"].dtype.kind == "i"
    empty = db.frame(none, ["unit_id", "code"])
    assert empty.empty and list(empty.columns) == ["unit_id", "code"]


def test_sorting_a_whole_table_uses_a_small_cache_and_helpers_then_puts_them_back(
        empty_engine, tmp_path):
    """`sqlite_sorts`: the sorter's settings while the indexes of a large import or a rebuild are
    sorted, and the connection's own settings after, on a session, a SQLAlchemy connection and a
    sqlite3 connection; PostgreSQL is left as it is."""
    import os
    import sqlite3

    want_threads = min(os.cpu_count() or 1, 4)
    with db.session_scope(empty_engine) as s:
        conn = s.connection()
        if conn.dialect.name != "sqlite":
            with db.sqlite_sorts(s):
                assert s.scalar(select(func.count()).select_from(Unit)) > 0
            return
        conn.exec_driver_sql("PRAGMA cache_size=-65536")
        for target in (s, conn):
            with db.sqlite_sorts(target):
                assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -db.SORT_CACHE_KIB
                assert conn.exec_driver_sql("PRAGMA threads").scalar() == want_threads
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -65536
            assert conn.exec_driver_sql("PRAGMA threads").scalar() == 0
    raw = sqlite3.connect(tmp_path / "sorts.db", isolation_level=None)
    raw.execute("CREATE TABLE t (x INTEGER)")
    raw.executemany("INSERT INTO t VALUES (?)", [((i * 7919) % 1000,) for i in range(1000)])
    with pytest.raises(sqlite3.OperationalError), db.sqlite_sorts(raw):
        raw.execute("CREATE INDEX ix_t ON t (x)")
        raw.execute("CREATE INDEX ix_t ON t (x)")  # a failure inside: the settings still go back
    assert raw.execute("PRAGMA cache_size").fetchone()[0] == -2000
    assert raw.execute("PRAGMA threads").fetchone()[0] == 0
    assert [r[0] for r in raw.execute("SELECT x FROM t INDEXED BY ix_t LIMIT 3")] == [0, 1, 2]
    # The connection lost inside, then an error: that error is the one reported (the settings
    # cannot be put back on a closed connection, and saying so must not hide it).
    with pytest.raises(ZeroDivisionError), db.sqlite_sorts(raw):
        raw.close()
        _ = 1 / 0


def test_the_sort_settings_go_back_after_an_error_on_a_session(empty_engine):
    with db.session_scope(empty_engine) as s:
        conn = s.connection()
        if conn.dialect.name != "sqlite":  # nothing is set, and the error is the one reported
            with pytest.raises(ZeroDivisionError), db.sqlite_sorts(s):
                _ = 1 / 0
            assert s.scalar(select(func.count()).select_from(Unit)) > 0
            return
        before = (conn.exec_driver_sql("PRAGMA cache_size").scalar(),
                  conn.exec_driver_sql("PRAGMA threads").scalar())
        with pytest.raises(OperationalError), db.sqlite_sorts(s):
            conn.exec_driver_sql("SELECT no_such_column FROM units")
        assert (conn.exec_driver_sql("PRAGMA cache_size").scalar(),
                conn.exec_driver_sql("PRAGMA threads").scalar()) == before
