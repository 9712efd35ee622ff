"""Migrations: the schema they build matches the models, and upgrading keeps existing data."""

from datetime import datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

import lib.domains  # noqa: F401 - the domains' models join Base.metadata
from lib import catalog, db
from lib.config import TZ
from lib.models import Base
from tests.conftest import new_database_url


def test_migrated_schema_matches_the_models(empty_engine):
    with empty_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
    assert not db.needs_migration(empty_engine)


def test_the_head_read_from_the_scripts_lines_is_alembics(tmp_path, monkeypatch):
    """The start-up check reads the head from the scripts' revision lines
    (`db.head_from_scripts`), not through Alembic; both agree, and a branch (two heads) or a
    script it cannot read gives None (the check then asks Alembic)."""
    import shutil

    assert db.head_from_scripts() is not None
    assert db.head_from_scripts() == db.head_revision()
    versions = tmp_path / "versions"
    shutil.copytree(db.MIGRATIONS_DIR / "versions", versions)
    monkeypatch.setattr(db, "MIGRATIONS_DIR", tmp_path)
    head = db.head_from_scripts()
    (versions / "9999_next.py").write_text(f'revision = "9999"\ndown_revision = "{head}"\n')
    assert db.head_from_scripts() == "9999"
    (versions / "9998_branch.py").write_text(f'revision = "9998"\ndown_revision = "{head}"\n')
    assert db.head_from_scripts() is None  # two heads
    (versions / "9998_branch.py").write_text('"""no revision line"""\n')
    assert db.head_from_scripts() is None


def test_upgrade_keeps_data_written_under_the_first_revision(backend, tmp_path_factory):
    engine = db.make_engine(new_database_url(backend, tmp_path_factory))
    db.migrate(engine, "0001")
    assert db.current_revision(engine) == "0001"
    with engine.begin() as c:
        c.execute(text("insert into regions (id, code, name, level) values (1, '440800', '湛江市', 'city')"))
        c.execute(text("insert into domains (id, code, name, sort_order) values (1, 'POWER', '权力运行', 0)"))
        c.execute(text("insert into subsystems (id, code, name, domain_id, limit_value, limit_unit, "
                       "yellow_pct, sort_order) values (1, 'APPROVAL', '行政审批', 1, 20, 'wd', 20, 0)"))
        c.execute(text("insert into units (id, code, name, level, region_id) "
                       "values (1, 'ZJ.FG', '湛江市发展和改革局', 'municipal', 1)"))
        c.execute(text("insert into items (id, external_id, subsystem_id, unit_id, received_at, "
                       "deadline, state) values (1, 'X-1', 1, 1, 1780000000, 1781000000, 'open')"))
        c.execute(text("insert into item_events (item_id, at, kind, actor) values (1, 1780000000, 'created', 't')"))
        # Rows in tables that reference items: a table copy must not cascade into them.
        c.execute(text("insert into item_events (item_id, at, kind, actor) values (1, 1780000100, 'updated', 't')"))
    db.migrate(engine)
    assert db.current_revision(engine) == db.head_revision()
    with engine.begin() as c:
        assert c.execute(text("select external_id, received_at, deadline, state from items")).all() == [
            ("X-1", 1780000000, 1781000000, "open")]
        assert c.execute(text("select count(*) from item_events")).scalar() == 2
        assert c.execute(text("select card_cancelled from items")).scalar() in (False, 0)
        assert c.execute(text("select name from units")).scalar() == "湛江市发展和改革局"
        # The new tables work beside the old rows.
        c.execute(text("insert into accountability_records (kind, unit_id, item_id, decided_on, "
                       "measure, reason) values ('criticism', 1, 1, '2026-11-01', '通报批评', 'x')"))
        assert c.execute(text("select count(*) from accountability_records")).scalar() == 1
    engine.dispose()


def test_migrate_is_idempotent(empty_engine):
    db.migrate(empty_engine)
    db.migrate(empty_engine)
    assert db.current_revision(empty_engine) == db.head_revision()


def test_table_copies_lose_nothing(sqlite_demo_url, tmp_path):
    """0007 copies accountability_records (SQLite cannot add a foreign key in place): every
    row of the demo, and of the tables around it, survives the upgrade from 0006."""
    from tests.apptest_helpers import copy_sqlite

    url = copy_sqlite(sqlite_demo_url, tmp_path / "old.db")
    engine = db.make_engine(url)
    tables = ("items", "item_events", "accountability_records", "submissions", "audit_log",
              "users", "project_nodes")
    with engine.begin() as c:
        before = {t: c.execute(text(f"select count(*) from {t}")).scalar() for t in tables}
    from alembic import command

    command.downgrade(db.alembic_config(engine), "0006")  # a database still on 0006
    assert db.current_revision(engine) == "0006"
    db.migrate(engine)
    assert db.current_revision(engine) == db.head_revision()
    with engine.begin() as c:
        after = {t: c.execute(text(f"select count(*) from {t}")).scalar() for t in tables}
    assert after == before and before["accountability_records"] == 16
    engine.dispose()


def test_0010_copies_submission_ratings_onto_their_items(sqlite_demo_url, tmp_path):
    from alembic import command

    from tests.apptest_helpers import copy_sqlite

    engine = db.make_engine(copy_sqlite(sqlite_demo_url, tmp_path / "old.db"))
    command.downgrade(db.alembic_config(engine), "0009")
    with engine.begin() as c:
        rated = c.execute(text("select item_id, rating, rated_at from submissions "
                               "where rating is not null order by item_id")).all()
    assert len(rated) > 20
    db.migrate(engine)
    with engine.begin() as c:
        for item_id, rating, rated_at in rated:
            assert c.execute(text("select rating, rated_at from items where id = :i"),
                             {"i": item_id}).one() == (rating, rated_at)
        assert c.execute(text("select count(*) from evaluations")).scalar() == 0
    engine.dispose()


def test_the_open_items_index_carries_the_ids_on_postgresql(empty_engine):
    """PostgreSQL reads a list's head (the open items and their ids) from the index alone
    (migration 0021); SQLite keeps the id in every index and its index is unchanged."""
    with empty_engine.connect() as conn:
        if empty_engine.dialect.name == "postgresql":
            ddl = conn.scalar(text("SELECT indexdef FROM pg_indexes "
                                   "WHERE indexname = 'ix_items_open'"))
            assert "INCLUDE (id)" in ddl and "WHERE (completed_at IS NULL)" in ddl
        else:
            ddl = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'ix_items_open'"))
            assert "WHERE completed_at IS NULL" in ddl and "INCLUDE" not in ddl
    if empty_engine.dialect.name == "postgresql":  # down to 0020 and up again
        from alembic import command

        def index_ddl() -> list[str]:
            with empty_engine.connect() as conn:
                return list(conn.scalars(text("SELECT indexdef FROM pg_indexes WHERE indexname "
                                              "LIKE 'ix_items_open%' ORDER BY indexname")))

        command.downgrade(db.alembic_config(empty_engine), "0020")
        before = index_ddl()
        assert len(before) == 2 and not any("INCLUDE" in d for d in before)
        db.migrate(empty_engine)
        after = index_ddl()
        assert "INCLUDE (id)" in after[0] and "ix_items_open " in after[0]
        assert "INCLUDE" not in after[1]  # ix_items_open_units, untouched


def test_0022_fills_the_months_totals_from_the_rows_there(empty_engine):
    """Upgrading a database that holds village disclosures fills their months' totals, and
    the triggers keep them from then on; the downgrade removes table and triggers."""
    from alembic import command
    from sqlalchemy import inspect

    from lib import rollups

    command.downgrade(db.alembic_config(empty_engine), "0021")
    assert "village_disclosure_months" not in inspect(empty_engine).get_table_names()
    with empty_engine.begin() as c:
        town = c.scalar(text("SELECT id FROM regions WHERE level = 'town' ORDER BY code"))
        for i in range(3):
            c.execute(text("INSERT INTO regions (code, name, level, parent_id) "
                           "VALUES (:code, :name, 'village', :town)"),
                      {"code": f"4408231002{i:02d}", "name": f"村{i}", "town": town})
        villages = list(c.scalars(text("SELECT id FROM regions WHERE level = 'village'")))
        for v in villages:
            for month, n in (("2026-08-01", 3), ("2026-09-01", 5)):
                c.execute(text("INSERT INTO village_disclosures (village_id, month, party_items, "
                               "village_items, finance_items, views) "
                               "VALUES (:v, :m, :n, 1, 2, :views)"),
                          {"v": v, "m": month, "n": n, "views": 10 * n})
    db.migrate(empty_engine)
    with db.session_scope(empty_engine) as s:
        kept = sorted((str(m), i, v) for m, i, v in s.execute(text(
            "SELECT month, items, views FROM village_disclosure_months")))
        assert kept == [("2026-08-01", 18, 90), ("2026-09-01", 24, 150)]
        s.execute(text("UPDATE village_disclosures SET views = views + 1"))
        assert rollups.disclosure_drift(s) == []


def test_0023_rebuilds_the_monthly_figures_per_handler(empty_engine, monkeypatch):
    """The upgrade forgets the kept months (rankings judged live meanwhile), the next sweep keeps
    them per unit and per handler, and a change of an item's handler alone is marked."""
    from alembic import command
    from sqlalchemy import inspect

    from lib import rollups, scoring
    from tests.test_rollups import NOW, _random_items

    _random_items(empty_engine, 23, 300)
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)
    command.downgrade(db.alembic_config(empty_engine), "0022")
    assert "rollup_score_handlers" not in inspect(empty_engine).get_table_names()
    db.migrate(empty_engine)
    period = scoring.Period.parse("2026-Q1")

    def ranking(s, level):
        return scoring.compute(s, period, level, as_of=NOW).table[["code", "cases", "score"]]

    def direct(s, level):
        monkeypatch.setenv("ESUP_ROLLUPS", "off")
        try:
            return ranking(s, level)
        finally:
            monkeypatch.delenv("ESUP_ROLLUPS")

    with db.session_scope(empty_engine, write=False) as s:
        assert scoring.kept_figures(s, period, NOW, "person") is None  # judged live meanwhile
        assert ranking(s, "person").equals(direct(s, "person"))
    with db.session_scope(empty_engine) as s:
        assert rollups.maintain(s, NOW)["score_months"] > 0
    with db.session_scope(empty_engine, write=False) as s:
        for level in ("unit", "post", "person"):
            assert scoring.kept_figures(s, period, NOW, level) is not None
            got = ranking(s, level)
            assert got["cases"].sum() > 0 and got.equals(direct(s, level)), level
        assert rollups.verify(s, NOW) == []
    with db.session_scope(empty_engine) as s:
        s.execute(text("DELETE FROM rollup_dirty"))
        iid = s.scalar(text("SELECT id FROM items WHERE handler_id IS NOT NULL LIMIT 1"))
        s.execute(text("UPDATE items SET handler_id = NULL WHERE id = :i"), {"i": iid})
        assert [k for k, in s.execute(text("SELECT kind FROM rollup_dirty"))] == ["s"]


def test_0027_sums_the_top_level_cells_from_the_64_day_ones(empty_engine, monkeypatch):
    """Rollups kept before the upgrade get their 16,384-day cells summed from the 64-day ones;
    the counts read through them (the open items past the watermark, from one top-level cell
    per group) equal the base table's, and `verify` finds no drift."""
    from alembic import command

    from lib import queries, rollups
    from lib.access import SYSTEM
    from tests.test_rollups import NOW, _random_items

    _random_items(empty_engine, 27, 400)
    with db.session_scope(empty_engine) as s:
        rollups.rebuild(s, NOW)
    command.downgrade(db.alembic_config(empty_engine), "0026")
    with empty_engine.begin() as c:
        assert c.scalar(text("SELECT count(*) FROM rollup_cells WHERE size = 16384")) == 0
        assert c.scalar(text("SELECT count(*) FROM rollup_cells WHERE kind = 'o' AND size = 64"))
    db.migrate(empty_engine)
    with empty_engine.begin() as c:
        top = c.scalar(text("SELECT count(*) FROM rollup_cells WHERE kind = 'o' "
                            "AND size = 16384"))
        groups = c.scalar(text("SELECT count(*) FROM (SELECT DISTINCT unit_id, subsystem_id, "
                               "region_id FROM rollup_cells WHERE kind = 'o') AS g"))
        assert top == groups > 0
    with db.session_scope(empty_engine, write=False) as s:
        assert rollups.verify(s, NOW) == []
        for window in (30, None):
            got = queries.light_counts(s, user=SYSTEM, as_of=NOW, window_days=window)
            assert got.attrs["source"] == "rollups"
            monkeypatch.setenv("ESUP_ROLLUPS", "off")
            want = queries.light_counts(s, user=SYSTEM, as_of=NOW, window_days=window)
            monkeypatch.delenv("ESUP_ROLLUPS")
            assert rollups.frames_equal(got, want), window


def test_0029_writes_the_same_markers_in_one_statement(empty_engine):
    """PostgreSQL's `rollup_mark()` writes each write's dirty markers in one statement from 0029
    on: every kind of write (an insert with and without a deadline, a completion alone, a
    reopening, another update, a delete) leaves the same markers as 0028's function did."""
    from alembic import command

    with db.session_scope(empty_engine) as s:
        catalog.seed_catalog(s)
        sub, unit = s.execute(text("SELECT id, (SELECT min(id) FROM units) FROM subsystems "
                                   "ORDER BY id LIMIT 1")).one()
    t0 = 1_790_000_000  # 2026-09-21
    writes = [
        ("INSERT INTO items (id, external_id, subsystem_id, unit_id, received_at, deadline, "
         f"state, updated_at, card_cancelled, verdict) VALUES (1, 'M-1', {sub}, {unit}, {t0}, "
         f"{t0 + 9 * 86400}, 'open', {t0}, false, 0)"),
        ("INSERT INTO items (id, external_id, subsystem_id, unit_id, received_at, state, "
         f"updated_at, card_cancelled, verdict) VALUES (2, 'M-2', {sub}, {unit}, {t0 + 86400}, "
         f"'open', {t0}, false, 0)"),  # no deadline: no cell marker
        f"UPDATE items SET completed_at = {t0 + 40 * 86400}, state = 'completed' WHERE id = 1",
        f"UPDATE items SET completed_at = {t0 + 20 * 86400} WHERE id = 1",  # the completion moved
        "UPDATE items SET completed_at = NULL, state = 'open' WHERE id = 1",  # reopened
        f"UPDATE items SET deadline = {t0 + 70 * 86400}, unit_id = {unit} + 1 WHERE id = 1",
        f"UPDATE items SET deadline = {t0 + 3 * 86400} WHERE id = 2",
        "DELETE FROM items WHERE id = 1",
    ]

    def markers() -> list:
        out = []
        with empty_engine.connect() as c:
            tx = c.begin()
            for sql in writes:
                c.execute(text("DELETE FROM rollup_dirty"))
                c.execute(text(sql))
                out.append(sorted(c.execute(text("SELECT kind, unit_id, day FROM rollup_dirty"))
                                  .all()))
            tx.rollback()
        return out

    with empty_engine.begin() as c:
        c.execute(text("DELETE FROM rollup_changes"))
    now = markers()
    assert all(now) and ("c", unit, (t0 + 40 * 86400 + 28800) // 86400) in now[2]
    assert [k for k, _, _ in now[1]] == ["s"]
    command.downgrade(db.alembic_config(empty_engine), "0028")
    assert markers() == now
    db.migrate(empty_engine)
    assert markers() == now


def test_0030_keeps_only_the_rated_items_in_the_ratings_index(empty_engine):
    """From 0030 on `ix_items_rated` holds the rated items only; the month's ratings are read
    through it (SQLite: by the hint `scoring` gives it, which fails if the index cannot serve
    the query) and are the same rows as under 0029's index of every item."""
    from alembic import command

    from lib import scoring

    with db.session_scope(empty_engine) as s:
        catalog.seed_catalog(s)
        sub, unit = s.execute(text("SELECT id, (SELECT min(id) FROM units) FROM subsystems "
                                   "ORDER BY id LIMIT 1")).one()
        t0 = 1_790_000_000  # 2026-09-21
        for k in range(40):
            rated = k % 4 == 0
            s.execute(text(
                "INSERT INTO items (id, external_id, subsystem_id, unit_id, received_at, "
                "deadline, completed_at, state, updated_at, card_cancelled, verdict, rating, "
                "rated_at) VALUES (:id, :ext, :sub, :unit, :r, :d, :c, 'completed', :r, false, "
                "0, :rating, :rated)"),
                {"id": k + 1, "ext": f"R-{k}", "sub": sub, "unit": unit, "r": t0 + k * 3600,
                 "d": t0 + 86400 * 5, "c": t0 + 86400 * 2, "rating": (k % 5) + 1 if rated else None,
                 "rated": t0 + 86400 * (3 + k % 20) if rated else None})
    start = datetime(2026, 9, 1, tzinfo=TZ)
    end = datetime(2026, 11, 1, tzinfo=TZ)

    def ratings():
        with db.session_scope(empty_engine, write=False) as s:
            df = scoring._load_ratings(s, start, end, end)
        return sorted(zip(df["id"].tolist(), df["rating"].tolist(), strict=True))

    def partial() -> bool:
        if empty_engine.dialect.name == "sqlite":
            sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_items_rated'"
        else:
            sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_items_rated'"
        with empty_engine.connect() as c:
            return "rated_at IS NOT NULL" in c.execute(text(sql)).scalar().replace("(", "") \
                .replace(")", "")

    now = ratings()
    assert len(now) == 10 and partial()
    command.downgrade(db.alembic_config(empty_engine), "0029")
    assert not partial() and ratings() == now
    db.migrate(empty_engine)
    assert partial() and ratings() == now
