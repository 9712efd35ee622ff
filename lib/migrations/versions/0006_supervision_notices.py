"""Supervision notices (督办通知书) and their history; one notice per item and crossing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('crossing', sa.BigInteger(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('assisting', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('matter', sa.Text(), nullable=False),
    sa.Column('requirements', sa.Text(), nullable=False),
    sa.Column('reply_due', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.BigInteger(), nullable=False),
    sa.Column('issued_by', sa.String(length=64), nullable=False),
    sa.Column('acknowledged_at', sa.BigInteger(), nullable=True),
    sa.Column('rectification', sa.Text(), nullable=True),
    sa.Column('rectified_at', sa.BigInteger(), nullable=True),
    sa.Column('closed_at', sa.BigInteger(), nullable=True),
    sa.Column('escalated_at', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('level between 1 and 3', name='ck_notice_level'),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index('ux_notice_item_crossing', ['item_id', 'crossing'], unique=True)

    op.create_table('notice_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notice_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_events_notice_id'), ['notice_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notice_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_events_notice_id'))

    op.drop_table('notice_events')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index('ux_notice_item_crossing')
        batch_op.drop_index(batch_op.f('ix_notices_unit_id'))
        batch_op.drop_index(batch_op.f('ix_notices_status'))
        batch_op.drop_index(batch_op.f('ix_notices_item_id'))

    op.drop_table('notices')
