"""Count cells of 16,384 days (about 45 years) over the 64-day cells.

The cockpit counts the open items past the watermark from every day cell of kind 'o' up to the
watermark, whatever their age: at ten million items 3,800 cells, a third of the cells a year's
view reads. An item is in an 'o' cell only while its deadline is before the watermark, so no
such cell lies after the watermark's day, and the read now runs to the end of the top-level cell
holding that day: one or two cells per unit × subsystem × region group (286 groups there; the
current top-level cell runs from 2014-11-10 to 2059-09-18).

The new level is summed here from the kept 64-day cells (nothing is lost, nothing read from the
items); `lib.rollups` keeps it from now on as it keeps the others (`SIZES`).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

TOP, LOWER = 16384, 64  # (the cells' size is a SMALLINT: at most 32,767)


def upgrade() -> None:
    op.execute(
        "INSERT INTO rollup_cells (kind, size, bucket, unit_id, subsystem_id, region_id, n, red, "
        f"near, grey) SELECT kind, {TOP}, bucket / {TOP // LOWER}, unit_id, subsystem_id, "
        "region_id, SUM(n), SUM(red), SUM(near), SUM(grey) FROM rollup_cells "
        f"WHERE size = {LOWER} GROUP BY kind, bucket / {TOP // LOWER}, unit_id, subsystem_id, "
        "region_id")


def downgrade() -> None:
    op.execute(f"DELETE FROM rollup_cells WHERE size = {TOP}")
