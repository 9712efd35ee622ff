"""权力运行: approval matters, cases and pauses; discretion standards and enforcement cases;
the fee catalogue and charges; plans and planning permits.

Revision ID: 0012
Revises: 0017
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0017"
branch_labels = None
depends_on = None


def _money(name, nullable=False):
    return sa.Column(name, sa.Numeric(18, 2), nullable=nullable)


def _ratio(name):
    return sa.Column(name, sa.Numeric(8, 2), nullable=False)


def upgrade() -> None:
    op.create_table(
        "power_matters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("legal_days", sa.Integer(), nullable=False),
        sa.Column("promised_days", sa.Integer(), nullable=False),
        sa.Column("correction_days", sa.Integer(), nullable=False),
        sa.Column("extension_days", sa.Integer(), nullable=False),
        sa.Column("delivery_days", sa.Integer(), nullable=False),
        sa.Column("has_fee", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.CheckConstraint("promised_days > 0 and legal_days > 0 and correction_days > 0 and "
                           "extension_days >= 0 and delivery_days > 0",
                           name="ck_power_matters_days"),
    )
    op.create_index("ix_power_matters_unit_id", "power_matters", ["unit_id"])
    op.create_table(
        "approval_cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(48), nullable=False, unique=True),
        sa.Column("matter_id", sa.Integer(), sa.ForeignKey("power_matters.id"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("correction_notice_at", sa.BigInteger(), nullable=True),
        sa.Column("accepted_at", sa.BigInteger(), nullable=True),
        sa.Column("extension_days", sa.Integer(), nullable=True),
        sa.Column("extension_approved_at", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decision", sa.String(8), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("decision is null or decision in ('grant','refuse')",
                           name="ck_approval_cases_decision"),
    )
    op.create_index("ix_approval_cases_matter_id", "approval_cases", ["matter_id"])
    op.create_index("ix_approval_cases_unit_id", "approval_cases", ["unit_id"])
    op.create_table(
        "approval_pauses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(),
                  sa.ForeignKey("approval_cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.UniqueConstraint("case_id", "start_date", name="uq_approval_pauses_case_start"),
        sa.CheckConstraint("end_date >= start_date", name="ck_approval_pauses_dates"),
    )
    op.create_index("ix_approval_pauses_case_id", "approval_pauses", ["case_id"])
    op.create_table(
        "power_discretion",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        _money("min_amount"),
        _money("max_amount"),
        sa.Column("decision_days", sa.Integer(), nullable=False),
    )
    op.create_table(
        "enforcement_cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(48), nullable=False, unique=True),
        sa.Column("standard_id", sa.Integer(), sa.ForeignKey("power_discretion.id"),
                  nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=True),
        sa.Column("filed_at", sa.BigInteger(), nullable=False),
        sa.Column("told_at", sa.BigInteger(), nullable=True),
        sa.Column("hearing_at", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        _money("penalty", nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_enforcement_cases_standard_id", "enforcement_cases", ["standard_id"])
    op.create_index("ix_enforcement_cases_unit_id", "enforcement_cases", ["unit_id"])
    op.create_table(
        "fee_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("basis", sa.String(200), nullable=False),
        _money("standard"),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
    )
    op.create_table(
        "fee_charges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(48), nullable=False, unique=True),
        sa.Column("fee_code", sa.String(32), nullable=False),
        sa.Column("fee_name", sa.String(100), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=True),
        sa.Column("charged_at", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        _money("amount"),
        sa.Column("case_ref", sa.String(48), nullable=True),
    )
    op.create_index("ix_fee_charges_unit_id", "fee_charges", ["unit_id"])
    op.create_index("ix_fee_charges_case_ref", "fee_charges", ["case_ref"])
    op.create_table(
        "planning_plans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=True),
        _ratio("far_max"),
        _ratio("density_max"),
        _ratio("green_min"),
        _ratio("height_max"),
        sa.Column("changed_on", sa.Date(), nullable=True),
        sa.Column("change_hearing", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "planning_permits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(48), nullable=False, unique=True),
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("planning_plans.id"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        _ratio("far"),
        _ratio("density"),
        _ratio("green"),
        _ratio("height"),
    )
    op.create_index("ix_planning_permits_plan_id", "planning_permits", ["plan_id"])
    op.create_index("ix_planning_permits_unit_id", "planning_permits", ["unit_id"])


def downgrade() -> None:
    for table in ("planning_permits", "planning_plans", "fee_charges", "fee_items",
                  "enforcement_cases", "power_discretion", "approval_pauses", "approval_cases",
                  "power_matters"):
        op.drop_table(table)
