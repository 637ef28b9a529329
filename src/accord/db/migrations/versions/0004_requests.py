"""Cooperation requests: records, their events and the links between them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("requested", sa.String(64), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(40)),
        sa.Column("folded", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_requests_updated", "requests", ["updated_at"])
    op.create_table(
        "request_events",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("actor", sa.String(16), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("stored_at", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "request_links",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("linked_id", sa.String(128), primary_key=True),
        sa.Column("relation", sa.String(32), primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("request_links")
    op.drop_table("request_events")
    op.drop_index("ix_requests_updated", "requests")
    op.drop_table("requests")
