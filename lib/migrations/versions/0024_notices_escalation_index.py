"""The sweep finds the notices to escalate through an index.

The escalation reads the notices issued and not acknowledged, below the top level, whose reply
date has passed (`lib.notices.escalate`, on every sweep). The only index it had was on the status
alone: at 10 million items the benchmark's 38,000 issued notices, all at the top level already,
were read one by one (13 ms of a 90 ms sweep). The index on (status, level, reply date) reads the
few below the top level only; it serves every read by status as the old one did, which it
replaces.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notices_status_level", "notices", ["status", "level", "reply_due"])
    op.drop_index("ix_notices_status", table_name="notices")


def downgrade() -> None:
    op.create_index("ix_notices_status", "notices", ["status"])
    op.drop_index("ix_notices_status_level", table_name="notices")
