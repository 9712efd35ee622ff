"""Assessment and published rankings (行政效能): ratings on items, online evaluations, and
immutable ranking snapshots.

Existing submissions' ratings are copied onto the items (rounds) they rated, so the satisfaction
indicator starts from the data already collected.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: no table copy on SQLite, however many items there are.
    op.add_column("items", sa.Column("rating", sa.Integer(), nullable=True))
    op.add_column("items", sa.Column("rated_at", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE items SET rating = (SELECT s.rating FROM submissions s WHERE s.item_id = items.id), "
        "rated_at = (SELECT s.rated_at FROM submissions s WHERE s.item_id = items.id) "
        "WHERE EXISTS (SELECT 1 FROM submissions s WHERE s.item_id = items.id "
        "AND s.rating IS NOT NULL)"
    )
    op.create_index("ix_items_rated", "items", ["rated_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint("ck_items_rating", "items", "rating is null or rating between 1 and 5")

    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("source_hash", sa.String(64), nullable=True),
        sa.CheckConstraint("rating between 1 and 5", name="ck_evaluations_rating"),
    )
    op.create_index("ix_evaluations_unit_at", "evaluations", ["unit_id", "at"])
    op.create_index("ix_evaluations_source_hash", "evaluations", ["source_hash"])

    op.create_table(
        "ranking_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("as_of", sa.BigInteger(), nullable=False),
        sa.Column("published_at", sa.BigInteger(), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.Column("scheme", sa.Text(), nullable=False),
        sa.Column("rows", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.CheckConstraint("level in ('unit','post','person')", name="ck_ranking_level"),
    )
    op.create_index("ux_ranking_period_level", "ranking_snapshots", ["period", "level"],
                    unique=True)
    # Published means frozen: the database itself refuses to change or remove a snapshot.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION ranking_snapshots_frozen() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'ranking_snapshots are immutable once published'; END; $$ "
            "LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER ranking_snapshots_no_change BEFORE UPDATE OR DELETE "
            "ON ranking_snapshots FOR EACH ROW EXECUTE FUNCTION ranking_snapshots_frozen()"
        )
    else:
        op.execute(
            "CREATE TRIGGER ranking_snapshots_no_update BEFORE UPDATE ON ranking_snapshots "
            "BEGIN SELECT RAISE(ABORT, 'ranking_snapshots are immutable once published'); END"
        )
        op.execute(
            "CREATE TRIGGER ranking_snapshots_no_delete BEFORE DELETE ON ranking_snapshots "
            "BEGIN SELECT RAISE(ABORT, 'ranking_snapshots are immutable once published'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ranking_snapshots_no_change ON ranking_snapshots")
        op.execute("DROP FUNCTION IF EXISTS ranking_snapshots_frozen()")
        op.drop_constraint("ck_items_rating", "items", type_="check")
    op.drop_table("ranking_snapshots")
    op.drop_table("evaluations")
    op.drop_index("ix_items_rated", table_name="items")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("rated_at")
        batch.drop_column("rating")
