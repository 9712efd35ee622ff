"""Two covering indexes for the cockpit's reads. The open items by unit, subsystem and region
(`ix_items_open_units`, partial on `completed_at IS NULL`): the live count of the open items not
yet overdue groups them in this order, so SQLite reads them in it instead of sorting tens of
thousands of rows on every page (lib.rollups); every column the light rule reads. The villages'
monthly disclosure figures by month with their counts (`ix_village_disclosures_month`): the
city's totals up to a month read from the index alone (lib.queries.source_figures).

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


def upgrade() -> None:
    op.create_index("ix_items_open_units", "items", COLUMNS, sqlite_where=sa.text(OPEN),
                    postgresql_where=sa.text(OPEN))
    op.create_index("ix_village_disclosures_month", "village_disclosures",
                    ["month", "party_items", "village_items", "finance_items", "views"])


def downgrade() -> None:
    op.drop_index("ix_village_disclosures_month", table_name="village_disclosures")
    op.drop_index("ix_items_open_units", table_name="items")
