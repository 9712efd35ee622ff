"""Shared fixtures: every library test runs against SQLite and PostgreSQL.

PostgreSQL is reached at TEST_PG_ADMIN_URL (default: the local server, trust auth); each test
session creates its own databases and drops them afterwards. Under CI=true an unreachable
PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa

from lib import catalog, db, demo
from lib.config import TZ

# Cheap password hashing in tests; production keeps bcrypt's default cost.
os.environ.setdefault("BCRYPT_ROUNDS", "4")
# No background supervision sweep in the app under test (the sweep has its own tests).
os.environ.setdefault("ESUP_SWEEPER", "0")

CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# A fixed anchor keeps the demo data, and so every figure, the same on every run.
ANCHOR = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)
BACKENDS = ["sqlite", "postgresql"]

_created_pg: list[str] = []


def _pg_admin():
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(sa.text("select 1"))
    except Exception as exc:  # noqa: BLE001
        engine.dispose()
        msg = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}"
        if CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return engine


def new_database_url(backend: str, tmp_path_factory) -> str:
    """A fresh, empty database of the given backend."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "test.db"
        return f"sqlite:///{path}"
    admin = _pg_admin()
    name = f"esup_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    _created_pg.append(name)
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def pytest_sessionfinish(session, exitstatus):
    if not _created_pg:
        return
    for engine in list(db._engines.values()):
        engine.dispose()
    db._engines.clear()
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for name in _created_pg:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def empty_engine(backend, tmp_path_factory):
    """A migrated database holding only the reference catalog."""
    url = new_database_url(backend, tmp_path_factory)
    engine = db.get_engine(url)
    db.migrate(engine)
    with db.session_scope(engine) as s:
        catalog.seed_catalog(s)
    yield engine
    # Give the connections back: PostgreSQL allows only so many clients at once.
    engine.dispose()
    db._engines.pop(url, None)


_demo_cache: dict[str, str] = {}


def demo_url(backend: str, tmp_path_factory) -> str:
    """A database loaded with the demo data at ANCHOR, made once per backend per session.
    Tests must not write to it."""
    if backend not in _demo_cache:
        url = new_database_url(backend, tmp_path_factory)
        engine = db.get_engine(url)
        db.migrate(engine)
        with db.session_scope(engine) as s:
            demo.load_demo(s, anchor=ANCHOR)
        _demo_cache[backend] = url
    return _demo_cache[backend]


@pytest.fixture
def demo_engine(backend, tmp_path_factory):
    return db.get_engine(demo_url(backend, tmp_path_factory))


@pytest.fixture
def sqlite_demo_url(tmp_path_factory):
    return demo_url("sqlite", tmp_path_factory)
