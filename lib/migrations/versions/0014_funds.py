"""专项资金: fund programs, payees and accounts (keyed hashes and ciphertext only), payments, the
register of deaths and closed enterprises, household links.

Revision ID: 0014
Revises: 0017
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fund_programs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(24), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("subsystem_id", sa.Integer(), sa.ForeignKey("subsystems.id"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("budget", sa.Numeric(18, 2), nullable=False),
        sa.Column("standard_amount", sa.Numeric(18, 2), nullable=True),
        sa.Column("monthly_cap", sa.Numeric(18, 2), nullable=True),
        sa.Column("pay_within_days", sa.Integer(), nullable=True),
        sa.CheckConstraint("budget >= 0", name="ck_fund_programs_budget"),
        sa.CheckConstraint("pay_within_days is null or pay_within_days > 0",
                           name="ck_fund_programs_days"),
    )
    op.create_index("ix_fund_programs_subsystem_id", "fund_programs", ["subsystem_id"])
    op.create_index("ix_fund_programs_unit_id", "fund_programs", ["unit_id"])
    op.create_table(
        "fund_payees",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("id_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("id_enc", sa.Text(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.CheckConstraint("kind in ('person','enterprise')", name="ck_fund_payees_kind"),
    )
    op.create_table(
        "fund_accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("enc", sa.Text(), nullable=False),
    )
    op.create_table(
        "fund_payments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(56), nullable=False, unique=True),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("fund_programs.id"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("payee_id", sa.Integer(), sa.ForeignKey("fund_payees.id"), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("fund_accounts.id"), nullable=False),
        sa.Column("village_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=True),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("approved_at", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", sa.BigInteger(), nullable=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False, unique=True),
        sa.CheckConstraint("amount > 0", name="ck_fund_payments_amount"),
    )
    for col in ("program_id", "unit_id", "payee_id", "account_id", "village_id"):
        op.create_index(f"ix_fund_payments_{col}", "fund_payments", [col])
    op.create_index("ix_fund_payments_paid", "fund_payments", ["paid_at"])
    op.create_table(
        "fund_register",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("died_on", sa.Date(), nullable=False),
        sa.CheckConstraint("kind in ('person','enterprise')", name="ck_fund_register_kind"),
    )
    op.create_table(
        "fund_residents",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("household", sa.String(64), nullable=False),
        sa.Column("village_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=False),
        sa.Column("cadre_post", sa.String(32), nullable=True),
    )
    op.create_index("ix_fund_residents_household", "fund_residents", ["household"])
    op.create_index("ix_fund_residents_village_id", "fund_residents", ["village_id"])


def downgrade() -> None:
    op.drop_table("fund_residents")
    op.drop_table("fund_register")
    op.drop_table("fund_payments")
    op.drop_table("fund_accounts")
    op.drop_table("fund_payees")
    op.drop_table("fund_programs")
