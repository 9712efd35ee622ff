"""Domain details beside the items: key projects and nodes, accountability, village disclosure.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_projects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("region_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=True),
        sa.Column("budget_wan", sa.BigInteger(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
    )
    op.create_index("ix_key_projects_unit_id", "key_projects", ["unit_id"])

    op.create_table(
        "project_nodes",
        sa.Column(
            "item_id",
            sa.Integer(),
            sa.ForeignKey("items.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("key_projects.id"), nullable=False),
        sa.Column("node_type", sa.String(8), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("planned_start", sa.Date(), nullable=False),
        sa.Column("planned_end", sa.Date(), nullable=False),
        sa.Column("percent_done", sa.Integer(), nullable=False),
        sa.CheckConstraint("percent_done between 0 and 100", name="ck_nodes_percent"),
    )
    op.create_index("ix_project_nodes_project_id", "project_nodes", ["project_id"])

    op.create_table(
        "accountability_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("people.id"), nullable=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("measure", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind in ('criticism','accountability')", name="ck_accountability_kind"
        ),
        sa.CheckConstraint(
            "kind <> 'accountability' or person_id is not null", name="ck_accountability_person"
        ),
    )
    op.create_index("ix_accountability_records_unit_id", "accountability_records", ["unit_id"])

    op.create_table(
        "village_disclosures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("village_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("party_items", sa.Integer(), nullable=False),
        sa.Column("village_items", sa.Integer(), nullable=False),
        sa.Column("finance_items", sa.Integer(), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_village_disclosures_village_id", "village_disclosures", ["village_id"])
    op.create_index("ux_village_month", "village_disclosures", ["village_id", "month"], unique=True)


def downgrade() -> None:
    for table in ("village_disclosures", "accountability_records", "project_nodes", "key_projects"):
        op.drop_table(table)
