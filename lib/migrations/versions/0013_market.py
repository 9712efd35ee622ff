"""要素市场: tenders and their bids, land transfers and state property transfers
(lib.domains.market).

Revision ID: 0013
Revises: 0017
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

EPOCH = sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "market_tenders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(48), nullable=False, unique=True),
        sa.Column("title", sa.String(120), nullable=True),
        sa.Column("buyer_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("estimate", sa.Numeric(18, 2), nullable=False),
        sa.Column("published_at", EPOCH, nullable=False),
        sa.Column("bid_deadline", EPOCH, nullable=True),
        sa.Column("awarded_at", EPOCH, nullable=True),
        sa.Column("award_published_at", EPOCH, nullable=True),
        sa.Column("contract_signed_at", EPOCH, nullable=True),
        sa.Column("contract_value", sa.Numeric(18, 2), nullable=True),
        sa.Column("winner", sa.String(32), nullable=True),
        sa.Column("amendments_value", sa.Numeric(18, 2), nullable=True),
        sa.Column("winner_sme", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("delivered_at", EPOCH, nullable=True),
        sa.Column("acceptance_required", sa.Boolean(), nullable=False,
                  server_default=sa.false()),
        sa.Column("accepted_at", EPOCH, nullable=True),
        sa.Column("paid_at", EPOCH, nullable=True),
        sa.CheckConstraint("method in ('open','invited','negotiation','consultation','inquiry',"
                           "'single_source')", name="ck_market_tenders_method"),
    )
    op.create_index("ix_market_tenders_buyer_id", "market_tenders", ["buyer_id"])
    op.create_index("ix_market_tenders_published", "market_tenders", ["published_at"])
    op.create_table(
        "market_bids",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tender_id", sa.Integer(), sa.ForeignKey("market_tenders.id"), nullable=False),
        sa.Column("supplier", sa.String(32), nullable=False),
        sa.Column("supplier_name", sa.String(100), nullable=False),
        sa.Column("supplier_founded", sa.Date(), nullable=True),
        sa.Column("price", sa.Numeric(18, 2), nullable=False),
        sa.Column("received_at", EPOCH, nullable=False),
        sa.Column("disqualified", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("reason", sa.String(200), nullable=True),
    )
    op.create_index("ix_market_bids_tender_id", "market_bids", ["tender_id"])
    op.create_index("ux_market_bids_tender_supplier", "market_bids", ["tender_id", "supplier"],
                    unique=True)
    op.create_index("ix_market_bids_supplier", "market_bids", ["supplier"])
    op.create_table(
        "market_land",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(48), nullable=False, unique=True),
        sa.Column("parcel", sa.String(100), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=True),
        sa.Column("use", sa.String(16), nullable=False),
        sa.Column("grade", sa.String(8), nullable=False),
        sa.Column("area", sa.Numeric(14, 2), nullable=False),
        sa.Column("benchmark_price", sa.Numeric(18, 2), nullable=False),
        sa.Column("method", sa.String(12), nullable=False),
        sa.Column("price", sa.Numeric(18, 2), nullable=False),
        sa.Column("concluded_at", EPOCH, nullable=False),
        sa.Column("result_published_at", EPOCH, nullable=True),
        sa.CheckConstraint("method in ('auction','listing','tender','agreement')",
                           name="ck_market_land_method"),
    )
    op.create_index("ix_market_land_unit_id", "market_land", ["unit_id"])
    op.create_table(
        "market_property",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(48), nullable=False, unique=True),
        sa.Column("asset", sa.String(100), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=True),
        sa.Column("appraised_value", sa.Numeric(18, 2), nullable=False),
        sa.Column("price", sa.Numeric(18, 2), nullable=False),
        sa.Column("contract_at", EPOCH, nullable=False),
        sa.Column("paid_at", EPOCH, nullable=True),
        sa.Column("approval", sa.String(100), nullable=True),
    )
    op.create_index("ix_market_property_unit_id", "market_property", ["unit_id"])


def downgrade() -> None:
    op.drop_table("market_property")
    op.drop_table("market_land")
    op.drop_table("market_bids")
    op.drop_table("market_tenders")
