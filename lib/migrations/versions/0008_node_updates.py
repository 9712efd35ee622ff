"""Key-project node progress reports (for the consecutive-yellow rule).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_updates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(),
                  sa.ForeignKey("project_nodes.item_id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("percent_done", sa.Integer(), nullable=False),
        sa.Column("behind_pp", sa.Integer(), nullable=False),
        sa.Column("light", sa.String(8), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_node_updates_item_id", "node_updates", ["item_id"])


def downgrade() -> None:
    op.drop_table("node_updates")
