"""Appeals against red cards (申诉); cancelled cards on items; accountability linked to notices.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing items keep their cards: the new column starts false on every row. A plain
    # ADD COLUMN: no table copy, in SQLite as in PostgreSQL.
    op.add_column("items", sa.Column("card_cancelled", sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    with op.batch_alter_table("accountability_records") as batch:
        batch.add_column(sa.Column("notice_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_accountability_notice", "notices", ["notice_id"], ["id"])
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("filed_by", sa.String(64), nullable=False),
        sa.Column("filed_at", sa.BigInteger(), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
    )
    op.create_index("ix_appeals_item_id", "appeals", ["item_id"])
    op.create_index("ix_appeals_unit_id", "appeals", ["unit_id"])


def downgrade() -> None:
    op.drop_table("appeals")
    with op.batch_alter_table("accountability_records") as batch:
        batch.drop_constraint("fk_accountability_notice", type_="foreignkey")
        batch.drop_column("notice_id")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("card_cancelled")
