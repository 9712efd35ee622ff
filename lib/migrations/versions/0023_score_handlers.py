"""The assessment's monthly figures per handler (`rollup_score_handlers`), so that a ranking of
posts or persons reads kept rows as a ranking of units does, not every item of the period.

One row per (month, unit, handler) for the items with a handler: the same figures as
`rollup_score_months` (each item judged at its month's end). A post's figures are its handlers'
summed at read time through the people's current posts, as the live judgement joins them.

A write that changes only an item's handler did not mark anything (the unit's figures do not
depend on it); a trigger now writes the item's receipt marker ('s', unit, local day of receipt)
for it, so that unit's kept months from then on are judged live until the sweep recomputes them.

The upgrade cannot judge items (that is `lib.scoring`'s code, which a migration must not
import): it forgets which months are kept (`rollup_state.score_from` / `score_until`), so rankings
are judged from the items until the next sweep (or `python -m lib rollups rebuild`) rebuilds the
monthly figures, per unit and per handler together. Nothing else is lost: the kept figures are
derived from the items.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# Local day (China Standard Time, UTC+8) of the receipt; a row without one: day 0.
RECEIPT_DAY = "(COALESCE(NEW.received_at, 0) + 28800) / 86400"

TRIGGER_SQLITE = (
    "CREATE TRIGGER trg_items_rollup_handler AFTER UPDATE OF handler_id ON items "
    "WHEN OLD.handler_id IS NOT NEW.handler_id BEGIN "
    f"INSERT OR IGNORE INTO rollup_dirty (kind, unit_id, day) VALUES ('s', NEW.unit_id, "
    f"{RECEIPT_DAY}); END")

TRIGGERS_PG = [
    "CREATE FUNCTION rollup_mark_handler() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"INSERT INTO rollup_dirty (kind, unit_id, day) VALUES ('s', NEW.unit_id, {RECEIPT_DAY}) "
    "ON CONFLICT DO NOTHING; RETURN NULL; END $$",
    "CREATE TRIGGER trg_items_rollup_handler AFTER UPDATE OF handler_id ON items FOR EACH ROW "
    "WHEN (OLD.handler_id IS DISTINCT FROM NEW.handler_id) "
    "EXECUTE FUNCTION rollup_mark_handler()",
]


def upgrade() -> None:
    op.create_table(
        "rollup_score_handlers",
        sa.Column("month", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), primary_key=True),
        sa.Column("handler_id", sa.Integer(), primary_key=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("red", sa.Integer(), nullable=False),
        sa.Column("yellow", sa.Integer(), nullable=False),
        sa.Column("eff_n", sa.Integer(), nullable=False),
        sa.Column("eff_sum", sa.Float(), nullable=False),
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        for ddl in TRIGGERS_PG:
            op.execute(ddl)
    else:
        op.execute(TRIGGER_SQLITE)
    # Both kinds of monthly figures are rebuilt together by the next sweep.
    op.execute("DELETE FROM rollup_score_months")
    op.execute("UPDATE rollup_state SET score_from = NULL, score_until = NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_items_rollup_handler ON items")
        op.execute("DROP FUNCTION rollup_mark_handler()")
    else:
        op.execute("DROP TRIGGER trg_items_rollup_handler")
    op.drop_table("rollup_score_handlers")
