"""Rule verdicts and flags: `items.verdict` (a card a rule gave, read by the light engine beside
the clock) and `flags`, what each domain rule found with its inputs and thresholds.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

VIEW = ["unit_id", "subsystem_id", "region_id", "completed_at", "received_at", "deadline",
        "card_cancelled"]


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: no table copy, existing items keep verdict 0.
    op.add_column("items", sa.Column("verdict", sa.SmallInteger(), nullable=False,
                                     server_default=sa.text("0")))
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint("ck_items_verdict", "items", "verdict in (0, 1, 2)")
    op.drop_index("ix_items_view", table_name="items")
    op.create_index("ix_items_view", "items", VIEW + ["verdict"])

    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("domain", sa.String(16), nullable=False),
        sa.Column("code", sa.String(24), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False, unique=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("light", sa.String(8), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("thresholds", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("recovered", sa.Numeric(18, 2), nullable=True),
        sa.CheckConstraint("light in ('red','yellow')", name="ck_flags_light"),
        sa.CheckConstraint("status in ('open','confirmed','dismissed','withdrawn')",
                           name="ck_flags_status"),
    )
    op.create_index("ux_flags_code_subject", "flags", ["code", "subject"], unique=True)
    op.create_index("ix_flags_domain_status", "flags", ["domain", "status"])
    op.create_index("ix_flags_unit_id", "flags", ["unit_id"])


def downgrade() -> None:
    op.drop_table("flags")
    op.drop_index("ix_items_view", table_name="items")
    op.create_index("ix_items_view", "items", VIEW)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("ck_items_verdict", "items", type_="check")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("verdict")
