"""The public forum (互动论坛: posts, reports, sensitive words) and polls (投票评价: polls,
options, votes, one per source per poll).

Revision ID: 0016
Revises: 0017
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forum_posts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("thread_id", sa.Integer(), sa.ForeignKey("forum_posts.id"), nullable=True),
        sa.Column("topic", sa.String(10), nullable=True),
        sa.Column("title", sa.String(60), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("nickname", sa.String(20), nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("moderated_at", sa.BigInteger(), nullable=True),
        sa.Column("moderated_by", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("status in ('pending','approved','rejected','hidden')",
                           name="ck_forum_posts_status"),
    )
    op.create_index("ix_forum_posts_thread_id", "forum_posts", ["thread_id"])
    op.create_index("ix_forum_posts_source_hash", "forum_posts", ["source_hash"])
    op.create_index("ix_forum_posts_created_at", "forum_posts", ["created_at"])
    op.create_index("ix_forum_posts_status", "forum_posts", ["status", "created_at"])
    op.create_table(
        "forum_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("post_id", sa.Integer(), sa.ForeignKey("forum_posts.id"), nullable=False),
        sa.Column("category", sa.String(10), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("handled_by", sa.String(64), nullable=True),
        sa.Column("handled_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status in ('open','handled')", name="ck_forum_reports_status"),
    )
    op.create_index("ix_forum_reports_post_id", "forum_reports", ["post_id"])
    op.create_index("ux_forum_reports_post_source", "forum_reports", ["post_id", "source_hash"],
                    unique=True)
    op.create_table(
        "sensitive_words",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("word", sa.String(30), nullable=False, unique=True),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "polls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject", sa.String(10), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("closes_at", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.CheckConstraint("subject in ('policy','service')", name="ck_polls_subject"),
    )
    op.create_table(
        "poll_options",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("poll_id", sa.Integer(), sa.ForeignKey("polls.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(40), nullable=False),
    )
    op.create_index("ix_poll_options_poll_id", "poll_options", ["poll_id"])
    op.create_table(
        "poll_votes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("poll_id", sa.Integer(), sa.ForeignKey("polls.id"), nullable=False),
        sa.Column("option_id", sa.Integer(), sa.ForeignKey("poll_options.id"), nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_poll_votes_option_id", "poll_votes", ["option_id"])
    op.create_index("ux_poll_votes_poll_source", "poll_votes", ["poll_id", "source_hash"],
                    unique=True)


def downgrade() -> None:
    op.drop_table("poll_votes")
    op.drop_table("poll_options")
    op.drop_table("polls")
    op.drop_table("sensitive_words")
    op.drop_table("forum_reports")
    op.drop_table("forum_posts")
