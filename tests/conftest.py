"""Shared fixtures: every library test runs against SQLite and PostgreSQL.

PostgreSQL is reached at TEST_PG_ADMIN_URL (default: the local server, trust auth); each test
session creates its own databases and drops them afterwards. Under CI=true an unreachable
PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import fcntl
import os
import sys
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from lib import catalog, db, demo
from lib.config import TZ

# pytest loads this file as the module `conftest`; the tests that import from it by its path
# (`from tests.conftest import …`) must get the same module, not a second copy with lists of
# its own (databases it made that nobody dropped, a demo it built again).
sys.modules.setdefault("tests.conftest", sys.modules[__name__])

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


def _worker() -> bool:
    """True in a pytest-xdist worker (`make test` runs the suite in parallel processes)."""
    return bool(os.environ.get("PYTEST_XDIST_WORKER"))


def _run_dir(tmp_path_factory) -> Path:
    """A directory every process of this test run shares: under pytest-xdist the workers' own
    base directories lie inside the controller's."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if _worker() else base


SHARED_PG = "shared-pg-databases.txt"  # databases several workers use: the controller drops them


def pytest_sessionfinish(session, exitstatus):
    names = list(_created_pg)
    if not _worker():
        factory = getattr(session.config, "_tmp_path_factory", None)
        shared = factory.getbasetemp() / SHARED_PG if factory is not None else None
        if shared is not None and shared.exists():
            names += shared.read_text().split()
    if not names:
        return
    for engine in list(db._engines.values()):
        engine.dispose()
    db._engines.clear()
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for name in names:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# Streamlit's script runner installs the page it runs as `sys.modules["__main__"]` and leaves it
# there. A later test in the same process that starts a "spawn" process (bench.concurrency) would
# then have the child run that page as its main module, outside Streamlit (seen in CI: the
# child failed in ui.require and the parent waited for it in vain). Every test gets the
# process's own main module back.
_MAIN = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def _own_main_module():
    yield
    if sys.modules.get("__main__") is not _MAIN:
        sys.modules["__main__"] = _MAIN


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
    """A database loaded with the demo data at ANCHOR, made once per backend per test run (the
    first worker to need it builds it, the others wait and share it). Tests must not write
    to it."""
    if backend in _demo_cache:
        return _demo_cache[backend]
    shared = _run_dir(tmp_path_factory)
    record = shared / f"demo-{backend}.url"
    with open(shared / f"demo-{backend}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.exists():
            url = record.read_text()
        else:
            url = new_database_url(backend, tmp_path_factory)
            engine = db.get_engine(url)
            db.migrate(engine)
            with db.session_scope(engine) as s:
                demo.load_demo(s, anchor=ANCHOR)
            if backend == "postgresql" and _worker():
                # Other workers may still read it when this one finishes.
                name = url.rsplit("/", 1)[1]
                _created_pg.remove(name)
                with open(shared / SHARED_PG, "a") as f:
                    f.write(name + "\n")
            record.write_text(url)
    _demo_cache[backend] = url
    return url


@pytest.fixture
def demo_engine(backend, tmp_path_factory):
    return db.get_engine(demo_url(backend, tmp_path_factory))


@pytest.fixture
def sqlite_demo_url(tmp_path_factory):
    return demo_url("sqlite", tmp_path_factory)
