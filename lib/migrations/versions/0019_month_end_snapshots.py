"""Month-end snapshots of the open set (lib.rollups) and the assessment's monthly figures per
unit (lib.scoring): their tables, the ranges built (`rollup_state.snap_from` / `snap_until`,
`score_from` / `score_until`), the partial index of rule cards and grey items
(`ix_items_standout`: with the open items, the head of an urgent-first list), and the triggers on items writing one more dirty
marker per row version: ('s', unit, local day of receipt), so a write to an item that was open at
a past month's end makes that unit's snapshots and monthly figures from its receipt on stale
(read live until the sweep recomputes them). An item's deadline falls in its receipt's month or
later, except for contradictory rows, whose deadline month the assessment reads live once they
were received after it.

The triggers are plain DDL, one set per dialect, complete here (0018's with the extra marker). A
later SQLite migration that copies the items table (batch mode) must create them again
(`TRIGGERS_SQLITE`).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

COLUMNS = ("unit_id", "subsystem_id", "region_id", "received_at", "deadline", "completed_at",
           "card_cancelled", "verdict")
# Rule cards and grey items: with the open ones, the head of every urgent-first list.
STANDOUT = "verdict <> 0 OR received_at IS NULL OR deadline IS NULL"
# Local day (China Standard Time, UTC+8, no summer time) of an epoch-second value.
DAY = "({0} + 28800) / 86400"


def _mark_sqlite(row: str, snapshots: bool = True) -> str:
    # Plain inserts (the cheapest trigger body): an open item without a deadline gives a NULL
    # day, which the NOT NULL key refuses and OR IGNORE skips (it is always read live). A row
    # without a receipt time exists at every month's end: day 0 (every snapshot).
    cells = (f"INSERT OR IGNORE INTO rollup_dirty (kind, unit_id, day) VALUES ("
             f"CASE WHEN {row}.completed_at IS NULL THEN 'o' ELSE 'c' END, {row}.unit_id, "
             f"{DAY.format(f'COALESCE({row}.completed_at, {row}.deadline)')});")
    if not snapshots:
        return cells
    return (cells + f" INSERT OR IGNORE INTO rollup_dirty (kind, unit_id, day) VALUES ('s', "
            f"{row}.unit_id, {DAY.format(f'COALESCE({row}.received_at, 0)')});")


def triggers_sqlite(snapshots: bool = True) -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COLUMNS)
    return [
        "CREATE TRIGGER trg_items_rollup_ins AFTER INSERT ON items BEGIN "
        f"{_mark_sqlite('NEW', snapshots)} END",
        "CREATE TRIGGER trg_items_rollup_del AFTER DELETE ON items BEGIN "
        f"{_mark_sqlite('OLD', snapshots)} END",
        f"CREATE TRIGGER trg_items_rollup_upd AFTER UPDATE ON items WHEN {changed} "
        f"BEGIN {_mark_sqlite('OLD', snapshots)} {_mark_sqlite('NEW', snapshots)} END",
    ]


TRIGGERS_SQLITE = triggers_sqlite()


def _mark_pg(row: str, snapshots: bool = True) -> str:
    out = (f"IF {row}.completed_at IS NOT NULL THEN "
           f"INSERT INTO rollup_dirty (kind, unit_id, day) VALUES "
           f"('c', {row}.unit_id, {DAY.format(row + '.completed_at')}) ON CONFLICT DO NOTHING; "
           f"ELSIF {row}.deadline IS NOT NULL THEN "
           f"INSERT INTO rollup_dirty (kind, unit_id, day) VALUES "
           f"('o', {row}.unit_id, {DAY.format(row + '.deadline')}) ON CONFLICT DO NOTHING; "
           f"END IF;")
    if snapshots:
        out += (f" INSERT INTO rollup_dirty (kind, unit_id, day) VALUES ('s', {row}.unit_id, "
                f"{DAY.format(f'COALESCE({row}.received_at, 0)')}) ON CONFLICT DO NOTHING;")
    return out


def function_pg(snapshots: bool = True) -> str:
    return ("CREATE OR REPLACE FUNCTION rollup_mark() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF TG_OP <> 'INSERT' THEN {_mark_pg('OLD', snapshots)} END IF; "
            f"IF TG_OP <> 'DELETE' THEN {_mark_pg('NEW', snapshots)} END IF; "
            "RETURN NULL; END $$")


def _triggers(snapshots: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(function_pg(snapshots))  # the triggers call it by name
        return
    for name in ("trg_items_rollup_ins", "trg_items_rollup_del", "trg_items_rollup_upd"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for ddl in triggers_sqlite(snapshots):
        op.execute(ddl)


def upgrade() -> None:
    op.create_table(
        "rollup_snapshots",
        sa.Column("day", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), primary_key=True),
        sa.Column("subsystem_id", sa.Integer(), primary_key=True),
        sa.Column("region_id", sa.Integer(), primary_key=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("grey", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
        sa.Column("near", sa.Integer(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_score_months",
        sa.Column("month", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), primary_key=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("red", sa.Integer(), nullable=False),
        sa.Column("yellow", sa.Integer(), nullable=False),
        sa.Column("eff_n", sa.Integer(), nullable=False),
        sa.Column("eff_sum", sa.Float(), nullable=False),
        sqlite_with_rowid=False,
    )
    for name in ("snap_from", "snap_until", "score_from", "score_until"):
        op.add_column("rollup_state", sa.Column(name, sa.Integer(), nullable=True))
    _triggers(snapshots=True)
    op.create_index("ix_items_standout", "items", ["deadline"], sqlite_where=sa.text(STANDOUT),
                    postgresql_where=sa.text(STANDOUT))
    # The snapshots are built by the next sweep (or `python -m lib rollups rebuild`); until then
    # a past month's end is read from the base table, as before.


def downgrade() -> None:
    op.drop_index("ix_items_standout", table_name="items")
    _triggers(snapshots=False)
    op.execute("DELETE FROM rollup_dirty WHERE kind = 's'")
    with op.batch_alter_table("rollup_state") as b:
        for name in ("score_until", "score_from", "snap_until", "snap_from"):
            b.drop_column(name)
    op.drop_table("rollup_score_months")
    op.drop_table("rollup_snapshots")
