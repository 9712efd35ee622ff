"""Data exchange: the import history (`import_runs`) and the front databases the platform pulls
from (`sync_sources`, with their watermarks).

Revision ID: 0017
Revises: 0011
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.CheckConstraint("status in ('ok','failed')", name="ck_import_runs_status"),
    )
    op.create_index("ix_import_runs_at", "import_runs", ["at"])
    op.create_table(
        "sync_sources",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("subsystem", sa.String(16), nullable=True),
        sa.Column("url", sa.String(300), nullable=False),
        sa.Column("table", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("watermark_column", sa.String(64), nullable=False),
        sa.Column("watermark", sa.String(64), nullable=True),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_run_at", sa.BigInteger(), nullable=True),
        sa.Column("last_status", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("sync_sources")
    op.drop_index("ix_import_runs_at", table_name="import_runs")
    op.drop_table("import_runs")
