"""信息公开: village disclosure obligations and disclosures, villagers' questions, government
information disclosure requests (with their pauses) and duties (proactive, annual reports).

Revision ID: 0015
Revises: 0017
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "village_profiles",
        sa.Column("village_id", sa.Integer(), sa.ForeignKey("regions.id"), primary_key=True),
        sa.Column("finance_monthly", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_table(
        "village_obligations",
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("village_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=False),
        sa.Column("category", sa.String(8), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.CheckConstraint("category in ('party','village','finance','major')",
                           name="ck_village_obligations_category"),
    )
    op.create_index("ix_village_obligations_village_id", "village_obligations", ["village_id"])
    op.create_index("ux_village_obligation", "village_obligations",
                    ["village_id", "category", "period"], unique=True)
    op.create_table(
        "disclosures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(64), nullable=False, unique=True),
        sa.Column("village_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=False),
        sa.Column("category", sa.String(8), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("finance", sa.Text(), nullable=True),
        sa.Column("published_at", sa.BigInteger(), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.Column("views", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("category in ('party','village','finance','major')",
                           name="ck_disclosures_category"),
    )
    op.create_index("ix_disclosures_village", "disclosures", ["village_id", "category", "period"])
    op.create_table(
        "disclosure_questions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("disclosure_id", sa.Integer(), sa.ForeignKey("disclosures.id"), nullable=False),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False, unique=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("asked_at", sa.BigInteger(), nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.BigInteger(), nullable=True),
        sa.Column("answered_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_disclosure_questions_disclosure_id", "disclosure_questions",
                    ["disclosure_id"])
    op.create_table(
        "info_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False, unique=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("name_enc", sa.Text(), nullable=True),
        sa.Column("contact_enc", sa.Text(), nullable=True),
        sa.Column("source_hash", sa.String(64), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("correction_note", sa.Text(), nullable=True),
        sa.Column("correction_at", sa.BigInteger(), nullable=True),
        sa.Column("corrected_at", sa.BigInteger(), nullable=True),
        sa.Column("extension_days", sa.Integer(), nullable=True),
        sa.Column("extension_approver", sa.String(32), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("extension_at", sa.BigInteger(), nullable=True),
        sa.Column("answer_type", sa.String(12), nullable=True),
        sa.Column("answer_reason", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status in ('received','correction','answered')",
                           name="ck_info_requests_status"),
        sa.CheckConstraint("extension_days is null or extension_days between 1 and 20",
                           name="ck_info_requests_extension"),
    )
    op.create_index("ix_info_requests_unit_id", "info_requests", ["unit_id"])
    op.create_table(
        "info_request_pauses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.Integer(),
                  sa.ForeignKey("info_requests.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("party", sa.String(100), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind in ('third_party','organ')", name="ck_info_request_pauses_kind"),
    )
    op.create_index("ix_info_request_pauses_request_id", "info_request_pauses", ["request_id"])
    op.create_table(
        "govinfo_duties",
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("formed_at", sa.BigInteger(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("government", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint("kind in ('proactive','annual')", name="ck_govinfo_duties_kind"),
    )
    op.create_index("ix_govinfo_duties_unit_id", "govinfo_duties", ["unit_id"])


def downgrade() -> None:
    op.drop_index("ix_govinfo_duties_unit_id", table_name="govinfo_duties")
    op.drop_table("govinfo_duties")
    op.drop_index("ix_info_request_pauses_request_id", table_name="info_request_pauses")
    op.drop_table("info_request_pauses")
    op.drop_index("ix_info_requests_unit_id", table_name="info_requests")
    op.drop_table("info_requests")
    op.drop_index("ix_disclosure_questions_disclosure_id", table_name="disclosure_questions")
    op.drop_table("disclosure_questions")
    op.drop_index("ix_disclosures_village", table_name="disclosures")
    op.drop_table("disclosures")
    op.drop_index("ux_village_obligation", table_name="village_obligations")
    op.drop_index("ix_village_obligations_village_id", table_name="village_obligations")
    op.drop_table("village_obligations")
    op.drop_table("village_profiles")
