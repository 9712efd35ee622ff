"""The sweep adds what a write changed to the kept month-end snapshots and monthly figures,
instead of judging the marked units' items again.

Triggers on items write each version of an item that a write removed (sign -1: the old row of an
update, a deleted row) or made (sign +1: the new row, an inserted row) into `rollup_changes`,
with the columns the snapshots and the assessment read (unit, subsystem, region, handler,
receipt, deadline, completion, cancellation, verdict), in the writing transaction. The sweep
(`lib.rollups.maintain`) judges the removed and the made versions as the rebuild judges items and
adds the difference to the kept rows: a write's cost no longer depends on how much history its
unit has. An edit of the deadline of an item open for five years made 60 month-ends of its unit
stale, and the sweep read every item of the unit again (13–14 s at ten million items for five
such edits). The markers ('s', unit, day) stay: they tell the reads which units to read live
until the sweep, and the sweep falls back to them when the log is very long (a large import).

The kept snapshots and monthly figures are forgotten here (the markers written before this
migration have no log rows): the next sweep, or `python -m lib rollups rebuild`, builds them
again from the items. Until then a past month's end and a ranking are read from the base table.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

LOGGED = ("unit_id", "subsystem_id", "region_id", "handler_id", "received_at", "deadline",
          "completed_at", "card_cancelled", "verdict")
_INSERT = (f"INSERT INTO rollup_changes (sign, item_id, {', '.join(LOGGED)}) VALUES "
           "({sign}, {row}.id, " + ", ".join(f"{{row}}.{c}" for c in LOGGED) + ");")


def _log(row: str, sign: int) -> str:
    return _INSERT.format(sign=sign, row=row)


CHANGED_SQLITE = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in LOGGED)
TRIGGERS_SQLITE = [
    f"CREATE TRIGGER trg_items_changes_ins AFTER INSERT ON items BEGIN {_log('NEW', 1)} END",
    f"CREATE TRIGGER trg_items_changes_del AFTER DELETE ON items BEGIN {_log('OLD', -1)} END",
    f"CREATE TRIGGER trg_items_changes_upd AFTER UPDATE ON items WHEN {CHANGED_SQLITE} "
    f"BEGIN {_log('OLD', -1)} {_log('NEW', 1)} END",
]
CHANGED_PG = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in LOGGED)
TRIGGERS_PG = [
    "CREATE FUNCTION rollup_log() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN IF TG_OP <> 'INSERT' THEN {_log('OLD', -1)} END IF; "
    f"IF TG_OP <> 'DELETE' THEN {_log('NEW', 1)} END IF; RETURN NULL; END $$",
    "CREATE TRIGGER trg_items_changes AFTER INSERT OR DELETE ON items "
    "FOR EACH ROW EXECUTE FUNCTION rollup_log()",
    f"CREATE TRIGGER trg_items_changes_upd AFTER UPDATE ON items FOR EACH ROW WHEN ({CHANGED_PG}) "
    "EXECUTE FUNCTION rollup_log()",
]


def upgrade() -> None:
    op.create_table(
        "rollup_changes",
        # 64-bit on PostgreSQL (a rebuild does not reset the sequence); SQLite's rowid.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("sign", sa.SmallInteger(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("subsystem_id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("handler_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=True),
        sa.Column("deadline", sa.BigInteger(), nullable=True),
        sa.Column("completed_at", sa.BigInteger(), nullable=True),
        sa.Column("card_cancelled", sa.Boolean(), nullable=False),
        sa.Column("verdict", sa.SmallInteger(), nullable=False),
    )
    for ddl in TRIGGERS_PG if op.get_bind().dialect.name == "postgresql" else TRIGGERS_SQLITE:
        op.execute(ddl)
    # Built again by the next sweep, from the items (see above).
    op.execute("DELETE FROM rollup_snapshots")
    op.execute("DELETE FROM rollup_score_months")
    op.execute("DELETE FROM rollup_score_handlers")
    op.execute("UPDATE rollup_state SET snap_from = NULL, snap_until = NULL, score_from = NULL, "
               "score_until = NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_items_changes ON items")
        op.execute("DROP TRIGGER trg_items_changes_upd ON items")
        op.execute("DROP FUNCTION rollup_log()")
    else:
        for name in ("trg_items_changes_ins", "trg_items_changes_del", "trg_items_changes_upd"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("rollup_changes")
