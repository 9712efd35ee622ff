"""A submission's rating is given with a PIN only its citizen holds.

The tracking code (查询码) is seen by the unit that answers, by the inspectors and in the items'
lists; with it alone anyone could rate the answer, and a rating is the unit's satisfaction score.
A new submission gets a rating PIN (评价码), shown once to the citizen beside the code and kept as
a salted hash; `submissions.rate` asks for it. Submissions made before this migration have none
and are rated with the code as before. No data changes.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("rating_pin_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("rating_pin_hash")
