"""A write that only completes (or reopens) an item makes stale only the month-ends after the
completion, not every month-end since the item's receipt.

The snapshot marker ('s', unit, day) names the first day from which a unit's month-end snapshots
and monthly figures may have changed (`lib.rollups.maintain_snapshots`,
`lib.scoring.maintain_months`). It was always the item's receipt day. For a write that changes
only `completed_at` (the unit, subsystem, region, receipt, deadline, cancellation and verdict as
they were), the item's part in a past month-end's figures changes only where the month-end lies
between the old and the new completion (an item done after a month-end was open at it, and
judged open): the marker is the day of the earlier of the two (no completion: never). Completing
an item received five years ago made 60 months of its unit stale, and the next sweep judged every
item of the unit again (14–16 s at ten million items); it now makes none.

Every other update, and every insert and delete, marks as before: the old and the new row's
receipt days. Only the update trigger changes; the markers written before stay valid (they were
earlier, which is never wrong).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

COLUMNS = ("unit_id", "subsystem_id", "region_id", "received_at", "deadline", "completed_at",
           "card_cancelled", "verdict")
# Local day (China Standard Time, UTC+8, no summer time) of an epoch-second value.
DAY = "({0} + 28800) / 86400"
FAR = 253402300799  # 9999-12-31 23:59:59 UTC: "not completed", after every month-end
# The row's snapshot columns but the completion as they were.
SAME_SQLITE = " AND ".join(f"OLD.{c} IS NEW.{c}" for c in COLUMNS if c != "completed_at")
SAME_PG = " AND ".join(f"OLD.{c} IS NOT DISTINCT FROM NEW.{c}" for c in COLUMNS
                       if c != "completed_at")
CHANGED_SQLITE = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COLUMNS)


def _cells_sqlite(row: str) -> str:
    # As migration 0019: an open item without a deadline gives a NULL day, which the NOT NULL
    # key refuses and OR IGNORE skips (it is always read live).
    return (f"INSERT OR IGNORE INTO rollup_dirty (kind, unit_id, day) VALUES ("
            f"CASE WHEN {row}.completed_at IS NULL THEN 'o' ELSE 'c' END, {row}.unit_id, "
            f"{DAY.format(f'COALESCE({row}.completed_at, {row}.deadline)')});")


def _snapshot_day_sqlite(row: str) -> str:
    first_done = f"min(COALESCE(OLD.completed_at, {FAR}), COALESCE(NEW.completed_at, {FAR}))"
    return (f"CASE WHEN {SAME_SQLITE} THEN {DAY.format(first_done)} "
            f"ELSE {DAY.format(f'COALESCE({row}.received_at, 0)')} END")


def update_trigger_sqlite(completion_markers: bool = True) -> str:
    def snap(row: str) -> str:
        day = (_snapshot_day_sqlite(row) if completion_markers
               else DAY.format(f"COALESCE({row}.received_at, 0)"))
        return (f"INSERT OR IGNORE INTO rollup_dirty (kind, unit_id, day) VALUES ('s', "
                f"{row}.unit_id, {day});")
    return (f"CREATE TRIGGER trg_items_rollup_upd AFTER UPDATE ON items WHEN {CHANGED_SQLITE} "
            f"BEGIN {_cells_sqlite('OLD')} {snap('OLD')} {_cells_sqlite('NEW')} {snap('NEW')} END")


def _cells_pg(row: str) -> str:
    return (f"IF {row}.completed_at IS NOT NULL THEN "
            f"INSERT INTO rollup_dirty (kind, unit_id, day) VALUES "
            f"('c', {row}.unit_id, {DAY.format(row + '.completed_at')}) ON CONFLICT DO NOTHING; "
            f"ELSIF {row}.deadline IS NOT NULL THEN "
            f"INSERT INTO rollup_dirty (kind, unit_id, day) VALUES "
            f"('o', {row}.unit_id, {DAY.format(row + '.deadline')}) ON CONFLICT DO NOTHING; "
            f"END IF;")


def _receipt_pg(row: str) -> str:
    return (f"INSERT INTO rollup_dirty (kind, unit_id, day) VALUES ('s', {row}.unit_id, "
            f"{DAY.format(f'COALESCE({row}.received_at, 0)')}) ON CONFLICT DO NOTHING;")


def function_pg(completion_markers: bool = True) -> str:
    first_done = (f"LEAST(COALESCE(OLD.completed_at, {FAR}), "
                  f"COALESCE(NEW.completed_at, {FAR}))")
    receipts = (f"IF TG_OP <> 'INSERT' THEN {_receipt_pg('OLD')} END IF; "
                f"IF TG_OP <> 'DELETE' THEN {_receipt_pg('NEW')} END IF;")
    snapshots = (f"IF TG_OP = 'UPDATE' AND {SAME_PG} THEN "
                 f"INSERT INTO rollup_dirty (kind, unit_id, day) VALUES ('s', NEW.unit_id, "
                 f"{DAY.format(first_done)}) ON CONFLICT DO NOTHING; "
                 f"ELSE {receipts} END IF;") if completion_markers else receipts
    return ("CREATE OR REPLACE FUNCTION rollup_mark() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF TG_OP <> 'INSERT' THEN {_cells_pg('OLD')} END IF; "
            f"IF TG_OP <> 'DELETE' THEN {_cells_pg('NEW')} END IF; "
            f"{snapshots} RETURN NULL; END $$")


def _apply(completion_markers: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(function_pg(completion_markers))  # the triggers call it by name
        return
    op.execute("DROP TRIGGER IF EXISTS trg_items_rollup_upd")
    op.execute(update_trigger_sqlite(completion_markers))


def upgrade() -> None:
    _apply(True)


def downgrade() -> None:
    _apply(False)
