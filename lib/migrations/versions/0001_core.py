"""Core schema: regions, units, people, domains, subsystems, supervised items and their history.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(12), nullable=False, unique=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=True),
        sa.CheckConstraint("level in ('city','county','town','village')", name="ck_regions_level"),
    )
    op.create_index("ix_regions_level", "regions", ["level"])
    op.create_index("ix_regions_parent_id", "regions", ["parent_id"])

    op.create_table(
        "domains",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
    )
    op.create_table(
        "subsystems",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("domain_id", sa.Integer(), sa.ForeignKey("domains.id"), nullable=False),
        sa.Column("limit_value", sa.Integer(), nullable=False),
        sa.Column("limit_unit", sa.String(2), nullable=False),
        sa.Column("yellow_pct", sa.Integer(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.CheckConstraint("limit_unit in ('wd','d','h')", name="ck_subsystems_unit"),
        sa.CheckConstraint("limit_value > 0", name="ck_subsystems_limit"),
        sa.CheckConstraint("yellow_pct >= 0 and yellow_pct <= 100", name="ck_subsystems_yellow"),
    )
    op.create_index("ix_subsystems_domain_id", "subsystems", ["domain_id"])

    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=False),
    )
    op.create_index("ix_units_region_id", "units", ["region_id"])

    op.create_table(
        "posts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
    )
    op.create_index("ix_posts_unit_id", "posts", ["unit_id"])

    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("post_id", sa.Integer(), sa.ForeignKey("posts.id"), nullable=True),
        sa.Column("rank", sa.String(16), nullable=False),
    )
    op.create_index("ix_people_unit_id", "people", ["unit_id"])

    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(64), nullable=False, unique=True),
        sa.Column("subsystem_id", sa.Integer(), sa.ForeignKey("subsystems.id"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=True),
        sa.Column("handler_id", sa.Integer(), sa.ForeignKey("people.id"), nullable=True),
        sa.Column("title", sa.String(200), nullable=True),
        # Times are UTC epoch seconds (lib.models.UtcEpoch).
        sa.Column("received_at", sa.BigInteger(), nullable=True),
        sa.Column("limit_value", sa.Integer(), nullable=True),
        sa.Column("limit_unit", sa.String(2), nullable=True),
        sa.Column("deadline", sa.BigInteger(), nullable=True),
        sa.Column("completed_at", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("state in ('open','completed')", name="ck_items_state"),
        sa.CheckConstraint(
            "(state = 'completed') = (completed_at is not null)", name="ck_items_state_completed"
        ),
        sa.CheckConstraint("limit_unit is null or limit_unit in ('wd','d','h')", name="ck_items_unit"),
    )
    op.create_index("ix_items_unit_received", "items", ["unit_id", "received_at"])
    op.create_index("ix_items_subsystem", "items", ["subsystem_id"])
    op.create_index("ix_items_region", "items", ["region_id"])
    op.create_index("ix_items_deadline", "items", ["deadline"])
    op.create_index("ix_items_completed", "items", ["completed_at"])

    op.create_table(
        "item_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(12), nullable=True),
        sa.Column("to_state", sa.String(12), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_item_events_item_id", "item_events", ["item_id"])

    op.create_table(
        "calendar_overrides",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("is_workday", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    for table in (
        "calendar_overrides",
        "item_events",
        "items",
        "people",
        "posts",
        "units",
        "subsystems",
        "domains",
        "regions",
    ):
        op.drop_table(table)
