"""The cockpit's covering index also covers `card_cancelled`, which the light rule now reads.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OLD = ["unit_id", "subsystem_id", "region_id", "completed_at", "received_at", "deadline"]


def upgrade() -> None:
    op.drop_index("ix_items_view", table_name="items")
    op.create_index("ix_items_view", "items", OLD + ["card_cancelled"])


def downgrade() -> None:
    op.drop_index("ix_items_view", table_name="items")
    op.create_index("ix_items_view", "items", OLD)
