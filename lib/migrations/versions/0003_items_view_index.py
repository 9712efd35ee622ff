"""Covering index for the cockpit's scan of items, in its GROUP BY order.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_items_view",
        "items",
        ["unit_id", "subsystem_id", "region_id", "completed_at", "received_at", "deadline"],
    )


def downgrade() -> None:
    op.drop_index("ix_items_view", table_name="items")
