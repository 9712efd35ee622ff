"""Cells of the open items not yet overdue (`rollup_pending`, lib.rollups): the cockpit no longer
reads every such item to count its light at T.

An open item before its deadline is green, then yellow from a moment fixed by its receipt, its
deadline and its subsystem's share, then red after the deadline. Counted per unit, local day of
the deadline, subsystem, region, local day it turns yellow, day of a late receipt and class
(grey, a cancelled card, a rule's verdict), the light at any moment of a day other than those
days follows from the cell alone. At ten million items 37,009 such items fall into 2,937 cells,
of which the items of 408 turned yellow on the day measured and are read live.

Filled here from the items (only the open ones with a deadline after the watermark's day are
read), when the rollups are built; else the next sweep builds them with the rest.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

OFFSET, DAY = 28800, 86400  # China Standard Time: local day = (epoch + OFFSET) / DAY


def fill_sql() -> str:
    """The cells from the items, as `lib.rollups.pending_select` counts them (:w the watermark,
    :first the first day with cells)."""
    known = "i.received_at IS NOT NULL"
    cls = ("CASE WHEN i.received_at IS NULL THEN 1 WHEN i.card_cancelled THEN 2 "
           "WHEN i.verdict = 2 THEN 3 WHEN i.verdict = 1 THEN 4 ELSE 0 END")
    near = (f"CASE WHEN {known} AND (i.card_cancelled OR i.verdict NOT IN (1, 2)) THEN "
            f"(i.deadline * 100 - s.yellow_pct * (i.deadline - i.received_at) + {OFFSET * 100})"
            f" / {DAY * 100} ELSE -1 END")
    recv = (f"CASE WHEN {known} AND i.received_at > :w THEN (i.received_at + {OFFSET}) / {DAY} "
            "ELSE -1 END")
    return (
        "INSERT INTO rollup_pending (unit_id, due_day, subsystem_id, region_id, near_day, "
        "recv_day, cls, n) "
        f"SELECT i.unit_id, (i.deadline + {OFFSET}) / {DAY}, i.subsystem_id, "
        f"COALESCE(i.region_id, -1), {near}, {recv}, {cls}, COUNT(*) "
        "FROM items i JOIN subsystems s ON s.id = i.subsystem_id "
        f"WHERE i.completed_at IS NULL AND i.deadline >= CAST(:first AS BIGINT) * {DAY} - {OFFSET} "
        "AND (i.received_at IS NULL OR i.deadline >= i.received_at) AND i.deadline >= 0 "
        f"GROUP BY i.unit_id, (i.deadline + {OFFSET}) / {DAY}, i.subsystem_id, "
        f"COALESCE(i.region_id, -1), {near}, {recv}, {cls}")


def upgrade() -> None:
    op.create_table(
        "rollup_pending",
        sa.Column("unit_id", sa.Integer(), primary_key=True),
        sa.Column("due_day", sa.Integer(), primary_key=True),
        sa.Column("subsystem_id", sa.Integer(), primary_key=True),
        sa.Column("region_id", sa.Integer(), primary_key=True),
        sa.Column("near_day", sa.Integer(), primary_key=True),
        sa.Column("recv_day", sa.Integer(), primary_key=True),
        sa.Column("cls", sa.SmallInteger(), primary_key=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sqlite_with_rowid=False,
    )
    bind = op.get_bind()
    row = bind.execute(sa.text("SELECT built, overdue_until FROM rollup_state WHERE id = 1")).first()
    if row is not None and row[0]:
        w = int(row[1])
        bind.execute(sa.text(fill_sql()), {"w": w, "first": (w + OFFSET) // DAY + 1})
        if bind.dialect.name == "sqlite":  # its size known to the planner (lib.rollups)
            bind.execute(sa.text("ANALYZE rollup_pending"))


def downgrade() -> None:
    op.drop_table("rollup_pending")
