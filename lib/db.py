"""Engine, sessions and migrations.

`DATABASE_URL` picks the database (see `lib.config`); SQLite runs in WAL mode with foreign keys
on. Schema changes go through the Alembic migrations in `lib/migrations`, applied by
`migrate()` at app start and by `python -m lib init`.

Writes never collide. SQLite allows one writer: a transaction that reads and then writes (the
audit chain head, a counter, the sweep's claim) must hold the write lock from its first
statement, or two writers both read the same state and the second one's write fails. So every
write transaction on SQLite begins with BEGIN IMMEDIATE (SQLAlchemy's pysqlite recipe: the driver's
own BEGIN is switched off and the engine's "begin" event emits ours), waiting up to the busy
timeout for the lock. Read transactions (`read_scope`) begin DEFERRED and are read-only
(SQLite's query_only, PostgreSQL's READ ONLY), so a page that only reads never takes the write
lock and cannot write by mistake. On PostgreSQL the audit chain takes an advisory lock. A write
that still fails on a transient lock, deadlock or serialization error is retried by
`transact` a bounded number of times.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lib import config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 30_000  # how long a SQLite writer waits for the lock before giving up
RETRIES = 5  # further attempts of a write that failed on a transient error
_engines: dict[str, Engine] = {}
_log = logging.getLogger(__name__)
T = TypeVar("T")

# The execution option that says how a transaction begins: "write" (the default) or "read".
MODE = "esup_mode"


def _sqlite_connect(dbapi_connection, connection_record):
    # The driver's own transaction control off: the "begin" event below emits BEGIN instead.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _sqlite_begin(conn) -> None:
    mode = conn.get_execution_options().get(MODE, "write")
    if mode == "read":
        conn.exec_driver_sql("PRAGMA query_only=1")
        conn.exec_driver_sql("BEGIN")
    elif mode == "write":
        conn.exec_driver_sql("PRAGMA query_only=0")
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _pg_begin(conn) -> None:
    if conn.get_execution_options().get(MODE) == "read":
        # One snapshot for the whole read (as SQLite's read transaction): the rollups' cells,
        # their dirty markers and the live items are read as of one moment (lib.rollups). A
        # read-only transaction never fails on serialization at this level.
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def make_engine(url: str | None = None) -> Engine:
    """A new engine for `url` (default: `DATABASE_URL`)."""
    url = url or config.database_url()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        # JIT off: the pages' statements are short index reads whose estimated cost (a partial
        # index's rows misjudged) can pass jit_above_cost, and compiling them took 67 ms of a
        # 106 ms read at ten million items.
        engine = create_engine(url, pool_pre_ping=True, connect_args={"options": "-c jit=off"})
        event.listen(engine, "begin", _pg_begin)
    return engine


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for `url`, created once."""
    url = url or config.database_url()
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


@contextmanager
def session_scope(engine: Engine | None = None, *, write: bool = True) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error.

    A write transaction (the default) holds SQLite's write lock from its start; `write=False`
    gives a read-only one that never takes it (see `read_scope`)."""
    engine = engine or get_engine()
    bind = engine if write else engine.execution_options(**{MODE: "read"})
    session = sessionmaker(bind=bind, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def read_scope(engine: Engine | None = None):
    """A read-only transaction: for page runs and reports that write nothing."""
    return session_scope(engine, write=False)


_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "database is busy")
_PG_TRANSIENT = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


def is_transient(exc: BaseException) -> bool:
    """A failure that another attempt of the same transaction can overcome."""
    if isinstance(exc, IntegrityError):
        # Two writers extending the audit chain from the same row: cannot happen under the
        # locks above, but if it ever did, the next attempt reads the new head.
        return "prev_hash" in str(exc.orig)
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _PG_TRANSIENT:
        return True
    return any(m in str(orig).lower() for m in _SQLITE_TRANSIENT)


def transact(fn: Callable[[Session], T], engine: Engine | None = None, *,
             retries: int = RETRIES) -> T:
    """Run `fn(session)` in one write transaction and commit; on a transient lock, deadlock or
    serialization failure, roll back and run it again (at most `retries` more times, with a
    short random back-off). Other errors (a refused input, a bug) propagate at once."""
    attempt = 0
    while True:
        try:
            with session_scope(engine) as session:
                return fn(session)
        except (DBAPIError, IntegrityError) as exc:
            if attempt >= retries or not is_transient(exc):
                raise
            attempt += 1
            _log.warning("transient database error, attempt %d of %d: %s", attempt, retries,
                         str(getattr(exc, "orig", exc)).splitlines()[0])
            time.sleep(random.uniform(0.02, 0.1) * attempt)


def frame(rows, columns: list[str]):
    """A pandas frame of query rows, each made a plain tuple first: given SQLAlchemy's Row
    objects, pandas probes every row for attributes a Row answers through its slow path
    (5,000 rows: 32 ms instead of 2.5)."""
    import pandas as pd

    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


SORT_CACHE_KIB = 2048  # SQLite's page cache while it sorts a whole table (`sqlite_sorts`)


@contextmanager
def sqlite_sorts(target) -> Iterator[None]:
    """SQLite's settings for sorting a whole table (CREATE INDEX, a GROUP BY over every item) on
    one connection, put back after: worker threads for the sorter (`PRAGMA threads`), and a page
    cache of 2 MiB, because the sorter sorts runs as large as the cache and merges them: runs
    that fit in the processor's caches sort several times faster than one run of the whole
    table in a large cache. At ten million items on this project's 2-core machine, an index of
    the deadline took 25-36 s with a 1 GB cache and 5-6 s so, the covering `ix_items_view`
    42-54 s and 17-18 s. Temporary files must be files (`temp_store` FILE, SQLite's default):
    in memory, the runs cost as much as one large sort. `target`: a Session, a SQLAlchemy
    Connection or a sqlite3 connection; nothing is done on PostgreSQL."""
    import os
    import sqlite3

    if isinstance(target, Session):
        target = target.connection()
    if isinstance(target, sqlite3.Connection):
        run = target.execute
    elif target.dialect.name == "sqlite":
        run = target.exec_driver_sql
    else:
        yield
        return
    cache = run("PRAGMA cache_size").fetchone()[0]
    threads = run("PRAGMA threads").fetchone()[0]

    def put_back() -> None:
        if not getattr(target, "invalidated", False):  # a lost connection: nothing to put back
            run(f"PRAGMA cache_size={cache}")
            run(f"PRAGMA threads={threads}")

    run(f"PRAGMA cache_size=-{SORT_CACHE_KIB}")
    run(f"PRAGMA threads={min(os.cpu_count() or 1, 4)}")
    try:
        yield
    except BaseException:
        try:  # the error under way is the one to report, not a failure to put the settings back
            put_back()
        except Exception:
            _log.warning("SQLite's sort settings not put back after an error", exc_info=True)
        raise
    put_back()


def raw_cursor(session: Session, stmt, stream: bool = False, values: dict | None = None):
    """A select executed on the DBAPI cursor of the session's connection (in its transaction):
    its rows are plain tuples, fetched in C, without SQLAlchemy's result processing (at ten
    million rows building Row objects costs more than the query). Only for selects whose values
    need no conversion (numbers); its parameters are converted by their columns' types (an
    epoch column's datetime). `stream`: on PostgreSQL a server-side cursor, so that
    `fetchmany` holds one part of a large result in memory, not all of it (SQLite's cursor
    steps through the result anyway). `values`: the values of named parameters, by name (a
    statement kept with its values unbound: `queries.light_template`)."""
    conn = session.connection()
    sql, params = _raw_sql(stmt, conn.dialect, values)
    raw = conn.connection.dbapi_connection
    stream = stream and conn.dialect.name == "postgresql"
    cursor = raw.cursor(name=f"esup_stream_{next(_stream_ids)}") if stream else raw.cursor()
    cursor.execute(sql, params)
    return cursor


_RAW: dict = {}  # statement shape -> (text, {name: bind processor}, positional order, names)
RAW_MAX = 1000


def _raw_sql(stmt, dialect, given: dict | None = None) -> tuple[str, dict | tuple]:
    """The select's text for the driver and its parameters, bind-processed. The text is kept
    per statement shape (as `indexed_by` keeps its hinted text: SQLAlchemy's cache key, and the
    length of each IN list), so a read of the same shape binds its values without compiling
    again (the cockpit's cells and pending sums were compiled on every read: 24 ms a read at
    ten million items on a slow machine)."""
    key = stmt._generate_cache_key()
    shape = entry = None
    if key is not None:
        lengths = tuple(len(b.effective_value) for b in key.bindparams if b.expanding)
        shape = (dialect.name, key.key, lengths)
        entry = _RAW.get(shape)
    if entry is None:
        compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        process = {}
        for name in compiled.params:
            bind = _bind_of(compiled, name)
            process[name] = bind.type.dialect_impl(dialect).bind_processor(dialect) \
                if bind is not None else None
        order = tuple(compiled.positiontup) if compiled.positional else None
        names = None
        if key is not None:
            names = [compiled.bind_names.get(b) for b in key.bindparams]
            if set(compiled.params) != _param_names(names, key.bindparams):
                names = None  # not the naming relied on: compiled each time
        entry = (str(compiled), process, order, names)
        if names is not None:
            if len(_RAW) >= RAW_MAX:
                _RAW.clear()
            _RAW[shape] = entry
        values = compiled.construct_params()  # (render_postcompile: the statement's own)
        for name, value in (given or {}).items():
            if name in values:  # a named parameter is rendered under its own name
                values[name] = value
        missing = [name for name, value in values.items() if value is UNBOUND]
        if missing:
            raise ValueError(f"no value given for the parameter {missing[0]!r}")
    else:
        values = {name: value for name, (_b, value)
                  in _expanded(entry[3], key.bindparams, given).items()}
    sql, process, order, _names = entry
    params = {name: (value if process.get(name) is None else process[name](value))
              for name, value in values.items()}
    return sql, (params if order is None else tuple(params[name] for name in order))


def _bind_of(compiled, name: str):
    """The bind of a compiled parameter: an IN list's value n_i is its list's bind n's (each
    value converted by the list's type: an epoch column's datetimes)."""
    b = compiled.binds.get(name)
    if b is None and "_" in name:
        b = compiled.binds.get(name.rsplit("_", 1)[0])
    return b


_stream_ids = itertools.count(1)


def numbers(rows) -> np.ndarray:
    """Rows of numbers or NULLs as one float64 array (NULL is NaN; epoch seconds are exact)."""
    return np.array(rows, dtype="float64").reshape(len(rows), -1)


NOT_INDEXED = "NOT INDEXED"  # an `indexed_by` hint: read the table in its own order
PRIMARY_KEY = "PRIMARY KEY"  # an `indexed_by` hint: no hint (the planner finds rows by id)


_HINTED: dict[tuple, tuple[str, list[str | None]] | None] = {}  # statement shape -> SQL, names
HINTED_MAX = 512
_MISSING = object()


def indexed_by(session: Session, stmt, indexes: list[str | None]):
    """On SQLite, the (compound) select as text with `INDEXED BY <index>` after each part's
    `FROM items`, in order (None: no hint): its planner, told nothing, starts from the small
    joined tables and reads every item of each (seconds at ten million items). Elsewhere, or
    when the parts cannot be told apart, the select as it is.

    The text is kept per statement shape (SQLAlchemy's cache key: the same structure, other
    values; and the length of each IN list, whose text has one parameter per value) with the
    names of its parameters in the key's order, so the next read binds the new values without
    compiling the statement again (a compound select takes several milliseconds to compile:
    the sweep's recomputation of a few dirty days compiled its union on every run)."""
    if session.get_bind().dialect.name != "sqlite":
        return stmt
    from sqlalchemy import bindparam, text

    key, entry = _hinted_entry(session, stmt, indexes)
    if key is None:
        return _hinted_text(stmt, indexes)
    if entry is None:  # the parts cannot be told apart
        return stmt
    sql, names, _process = entry
    if names is _UNKEPT:
        return _hinted_text(stmt, indexes)
    return text(sql).bindparams(*[bindparam(name, value, type_=b.type)
                                  for name, (b, value) in _expanded(names, key.bindparams).items()])


def hinted_cursor(session: Session, stmt, indexes: list[str | None], values: dict | None = None):
    """`raw_cursor(session, indexed_by(session, stmt, indexes))` without the text clause between
    them: on SQLite the kept text executed on the DBAPI cursor, its values bound by their
    columns' types (a clause of a hundred parameters made, its cache key computed and its
    result's rows built on every read: a tenth of the cockpit's counts). Elsewhere
    `raw_cursor(session, stmt)`. Rows are plain tuples (numbers: as `raw_cursor`). `values`:
    as `raw_cursor`'s."""
    if session.get_bind().dialect.name != "sqlite":
        return raw_cursor(session, stmt, values=values)
    key, entry = _hinted_entry(session, stmt, indexes)
    if key is None or entry is None or entry[1] is _UNKEPT:
        return raw_cursor(session, indexed_by(session, stmt.params(values) if values else stmt,
                                              indexes))
    sql, names, process = entry
    params = {}
    for name, (_b, value) in _expanded(names, key.bindparams, values).items():
        p = process.get(name)
        params[name] = value if p is None else p(value)
    cursor = session.connection().connection.dbapi_connection.cursor()
    cursor.execute(sql, params)
    return cursor


def _hinted_entry(session: Session, stmt, indexes: list[str | None]):
    """(the statement's cache key, its kept (text, parameter names, bind processors) or None
    when the parts cannot be told apart); (None, None) for a statement without a cache key."""
    key = stmt._generate_cache_key()
    if key is None:
        return None, None
    lengths = tuple(len(b.effective_value) for b in key.bindparams if b.expanding)
    shape = (key.key, tuple(indexes), lengths)
    entry = _HINTED.get(shape, _MISSING)  # one read: another thread may clear the dict
    if entry is _MISSING:
        sql, compiled = _hinted_sql(stmt, indexes)
        names = None if sql is None else [compiled.bind_names.get(b) for b in key.bindparams]
        if names is not None and set(compiled.params) != _param_names(
                names, key.bindparams):  # not the naming relied on: no text kept
            names = _UNKEPT
        process = {}
        if sql is not None:
            dialect = session.get_bind().dialect
            for name in compiled.params:
                b = _bind_of(compiled, name)
                process[name] = None if b is None else \
                    b.type.dialect_impl(dialect).bind_processor(dialect)
        entry = None if sql is None else (sql, names, process)
        if len(_HINTED) >= HINTED_MAX:
            _HINTED.clear()
        _HINTED[shape] = entry
    return key, entry


_UNKEPT = object()  # a shape whose parameters are not named as `_expanded` expects


class _Unbound(int):
    """The value of a parameter a statement is kept without (`queries.light_template`): a
    number, so that the statement compiles (an IN list's text is rendered with the values at
    hand), and an error if it reaches a read unreplaced (`_expanded`)."""


UNBOUND = _Unbound(-(2**62))


def _param_names(names: list[str | None], binds) -> set[str]:
    """The parameter names `_expanded` gives, without the values."""
    out: set[str] = set()
    for name, b in zip(names, binds, strict=True):
        if name is None:
            continue
        if b.expanding:
            out.update(f"{name}_{i}" for i in range(1, len(b.effective_value) + 1))
        else:
            out.add(name)
    return out


def _expanded(names: list[str | None], binds, given: dict | None = None) -> dict[str, tuple]:
    """{parameter name in the text: (its bind, its value)}, once per name: an IN list's bind
    `n` with k values is rendered as the parameters n_1 … n_k (SQLAlchemy's post-compile
    naming; `indexed_by` checks it against the compiled statement before keeping a text).
    `given`: values by bind name, for binds made without one (required: missing, an error)."""
    out: dict[str, tuple] = {}
    for name, b in zip(names, binds, strict=True):
        if name is None:
            continue
        if b.expanding:
            for i, value in enumerate(b.effective_value, start=1):
                out[f"{name}_{i}"] = (b, value)
        elif given is not None and b.key in given:
            out[name] = (b, given[b.key])
        elif b.value is UNBOUND or b.required:
            raise ValueError(f"no value given for the parameter {b.key!r}")
        else:
            out[name] = (b, b.effective_value)
    return out


def _hinted_text(stmt, indexes: list[str | None]):
    """The hinted select compiled now, its values bound with their columns' types."""
    from sqlalchemy import bindparam, text

    sql, compiled = _hinted_sql(stmt, indexes)
    if sql is None:
        return stmt
    binds = compiled.binds  # each value bound with its column's type (an epoch, a flag)

    def type_of(name: str):  # an IN list's value n_i: the type of its list's bind n
        b = binds.get(name)
        if b is None:
            b = binds.get(name.rsplit("_", 1)[0])
        return None if b is None else b.type

    return text(sql).bindparams(*[bindparam(name, value, type_=type_of(name))
                                  for name, value in compiled.params.items()])


def _hinted_sql(stmt, indexes: list[str | None]):
    """(the select's SQLite text with the hints, its compiled form), or (None, None)."""
    from sqlalchemy.dialects import sqlite

    compiled = stmt.compile(dialect=sqlite.dialect(paramstyle="named"),
                            compile_kwargs={"render_postcompile": True})
    parts = str(compiled).split("FROM items ")
    if len(parts) != len(indexes) + 1:
        return None, None
    sql = parts[0]
    for index, rest in zip(indexes, parts[1:], strict=True):
        hint = ("" if not index or index == PRIMARY_KEY else index if index == NOT_INDEXED
                else "INDEXED BY " + index)
        sql += ("FROM items " + hint + " " if hint else "FROM items ") + rest
    return sql, compiled


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest)."""
    engine = engine or get_engine()
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.execution_options(**{MODE: "read"}).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest migration, as Alembic reads it from the scripts (about 20 ms: it imports
    every script)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()


def head_from_scripts() -> str | None:
    """The newest migration read from the scripts' `revision` and `down_revision` lines
    without importing them (Alembic's reading, `head_revision`, costs an app process's first
    page about 20 ms): the one revision no script revises. None unless exactly one
    (tests/test_migrations.py holds this to Alembic's head)."""
    revised, revisions = set(), set()
    for p in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = p.read_text(encoding="utf-8")
        rev = _REVISION.search(text)
        down = _DOWN_REVISION.search(text)
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        revised.add(down.group(1))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


_REVISION = re.compile(r"""^revision\s*=\s*["']([^"']+)["']""", re.M)
_DOWN_REVISION = re.compile(r"""^down_revision\s*=\s*(?:["']([^"']+)["']|None)""", re.M)


def needs_migration(engine: Engine) -> bool:
    return current_revision(engine) != (head_from_scripts() or head_revision())
