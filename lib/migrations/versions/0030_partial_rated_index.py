"""The ratings' index holds the rated items only.

`ix_items_rated` (migration 0010) indexed every item by `rated_at`, which is NULL for all but
the items the public rated (a few in a thousand): every insert added an entry for its NULL, and
at ten million items building the index sorted ten million NULLs (6 s of `bench.build`). The
one read it serves (`scoring._load_ratings`: the ratings given in a month) asks for a range of
`rated_at`, which implies it is not NULL, so SQLite and PostgreSQL both use the partial index
for it. No data changes.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

RATED = sa.text("rated_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_items_rated", table_name="items")
    op.create_index("ix_items_rated", "items", ["rated_at"], sqlite_where=RATED,
                    postgresql_where=RATED)


def downgrade() -> None:
    op.drop_index("ix_items_rated", table_name="items")
    op.create_index("ix_items_rated", "items", ["rated_at"])
