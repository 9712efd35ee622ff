"""Rollups of the items whose light can no longer change (lib.rollups): count cells, the dirty
markers the triggers on items write in the writing transaction, the state row with the overdue
watermark; the partial indexes on open and on contradictory items.

The triggers are plain DDL here, one set per dialect. (SQLite: a statement on items with its
own OR clause, e.g. INSERT OR REPLACE, would override the triggers' OR IGNORE; none has one.) A later SQLite migration that copies the
items table (batch mode) must create them again (`TRIGGERS_SQLITE`).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None

ODD_SQL = "deadline < received_at OR completed_at < received_at OR deadline < 0 OR completed_at < 0"
COLUMNS = ("unit_id", "subsystem_id", "region_id", "received_at", "deadline", "completed_at",
           "card_cancelled", "verdict")
# Local day (China Standard Time, UTC+8, no summer time) of an epoch-second value.
DAY = "({0} + 28800) / 86400"


def _mark_sqlite(row: str) -> str:
    # One plain insert (the cheapest trigger body): an open item without a deadline gives a NULL
    # day, which the NOT NULL key refuses and OR IGNORE skips (it is always read live).
    return (f"INSERT OR IGNORE INTO rollup_dirty (kind, unit_id, day) VALUES ("
            f"CASE WHEN {row}.completed_at IS NULL THEN 'o' ELSE 'c' END, {row}.unit_id, "
            f"{DAY.format(f'COALESCE({row}.completed_at, {row}.deadline)')});")


CHANGED_SQLITE = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COLUMNS)
TRIGGERS_SQLITE = [
    f"CREATE TRIGGER trg_items_rollup_ins AFTER INSERT ON items BEGIN {_mark_sqlite('NEW')} END",
    f"CREATE TRIGGER trg_items_rollup_del AFTER DELETE ON items BEGIN {_mark_sqlite('OLD')} END",
    f"CREATE TRIGGER trg_items_rollup_upd AFTER UPDATE ON items WHEN {CHANGED_SQLITE} "
    f"BEGIN {_mark_sqlite('OLD')} {_mark_sqlite('NEW')} END",
]


def _mark_pg(row: str) -> str:
    return (f"IF {row}.completed_at IS NOT NULL THEN "
            f"INSERT INTO rollup_dirty (kind, unit_id, day) VALUES "
            f"('c', {row}.unit_id, {DAY.format(row + '.completed_at')}) ON CONFLICT DO NOTHING; "
            f"ELSIF {row}.deadline IS NOT NULL THEN "
            f"INSERT INTO rollup_dirty (kind, unit_id, day) VALUES "
            f"('o', {row}.unit_id, {DAY.format(row + '.deadline')}) ON CONFLICT DO NOTHING; "
            f"END IF;")


CHANGED_PG = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in COLUMNS)
TRIGGERS_PG = [
    "CREATE FUNCTION rollup_mark() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF TG_OP <> 'INSERT' THEN {_mark_pg('OLD')} END IF; "
    f"IF TG_OP <> 'DELETE' THEN {_mark_pg('NEW')} END IF; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER trg_items_rollup AFTER INSERT OR DELETE ON items "
    "FOR EACH ROW EXECUTE FUNCTION rollup_mark()",
    f"CREATE TRIGGER trg_items_rollup_upd AFTER UPDATE ON items FOR EACH ROW WHEN ({CHANGED_PG}) "
    "EXECUTE FUNCTION rollup_mark()",
]


def upgrade() -> None:
    op.create_table(
        "rollup_cells",
        sa.Column("kind", sa.String(1), primary_key=True),
        sa.Column("size", sa.SmallInteger(), primary_key=True),
        sa.Column("bucket", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), primary_key=True),
        sa.Column("subsystem_id", sa.Integer(), primary_key=True),
        sa.Column("region_id", sa.Integer(), primary_key=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("red", sa.Integer(), nullable=False),
        sa.Column("near", sa.Integer(), nullable=False),
        sa.Column("grey", sa.Integer(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_dirty",
        sa.Column("kind", sa.String(1), primary_key=True),
        sa.Column("unit_id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Integer(), primary_key=True),
    )
    op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("built", sa.Boolean(), nullable=False),
        sa.Column("overdue_until", sa.BigInteger(), nullable=False),
        sa.Column("maintained_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_items_open", "items",
                    ["deadline", "unit_id", "subsystem_id", "region_id", "received_at",
                     "card_cancelled", "verdict", "completed_at"],
                    sqlite_where=sa.text("completed_at IS NULL"),
                    postgresql_where=sa.text("completed_at IS NULL"))
    op.create_index("ix_items_verdict_red", "items", ["deadline"],
                    sqlite_where=sa.text("verdict = 2"), postgresql_where=sa.text("verdict = 2"))
    op.create_index("ix_items_odd", "items",
                    ["unit_id", "subsystem_id", "region_id", "completed_at", "received_at",
                     "deadline", "card_cancelled", "verdict"],
                    sqlite_where=sa.text(ODD_SQL), postgresql_where=sa.text(ODD_SQL))
    bind = op.get_bind()
    for ddl in TRIGGERS_PG if bind.dialect.name == "postgresql" else TRIGGERS_SQLITE:
        op.execute(ddl)
    # An empty items table: the (empty) rollups are built. Otherwise the next sweep builds them
    # (`python -m lib rollups rebuild` at once); until then every query reads the base table.
    empty = bind.execute(sa.text("SELECT 1 FROM items LIMIT 1")).first() is None
    state = sa.table("rollup_state", sa.column("id"), sa.column("built"),
                     sa.column("overdue_until"))
    op.bulk_insert(state, [{"id": 1, "built": empty, "overdue_until": 0}])


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_items_rollup_upd ON items")
        op.execute("DROP TRIGGER trg_items_rollup ON items")
        op.execute("DROP FUNCTION rollup_mark()")
    else:
        for name in ("trg_items_rollup_ins", "trg_items_rollup_del", "trg_items_rollup_upd"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_items_odd", table_name="items")
    op.drop_index("ix_items_verdict_red", table_name="items")
    op.drop_index("ix_items_open", table_name="items")
    op.drop_table("rollup_state")
    op.drop_table("rollup_dirty")
    op.drop_table("rollup_cells")
