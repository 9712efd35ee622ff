"""Covering indexes for the cockpit's reads (lib.rollups, lib.queries.source_figures):

- `ix_items_completed` carries every column the light rule reads, so the live reads of the items
  done on a window's partial first and last days (thousands of rows) read no row of the table;
- `ix_items_open_units`, the open items (partial on `completed_at IS NULL`) by unit, subsystem
  and region: the live count of the open items not yet overdue groups them in this order, so
  SQLite reads them in it instead of sorting tens of thousands of rows on every page;
- `ix_village_disclosures_month`: the city's disclosure totals up to a month from the index.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

COLUMNS = ["unit_id", "subsystem_id", "region_id", "deadline", "received_at", "card_cancelled",
           "verdict", "completed_at"]
OPEN = "completed_at IS NULL"
COMPLETED = ["completed_at", "unit_id", "subsystem_id", "region_id", "received_at", "deadline",
             "card_cancelled", "verdict"]


def upgrade() -> None:
    # SQLite's DDL runs outside a transaction here: a rerun after a crash between the drop and
    # the creates must find its way (drop if there, create what is missing).
    op.execute("DROP INDEX IF EXISTS ix_items_completed")
    op.create_index("ix_items_completed", "items", COMPLETED, if_not_exists=True)
    op.create_index("ix_items_open_units", "items", COLUMNS, sqlite_where=sa.text(OPEN),
                    postgresql_where=sa.text(OPEN), if_not_exists=True)
    op.create_index("ix_village_disclosures_month", "village_disclosures",
                    ["month", "party_items", "village_items", "finance_items", "views"],
                    if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_village_disclosures_month", table_name="village_disclosures")
    op.drop_index("ix_items_open_units", table_name="items")
    op.drop_index("ix_items_completed", table_name="items")
    op.create_index("ix_items_completed", "items", ["completed_at"])
