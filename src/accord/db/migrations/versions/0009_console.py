"""Operator console: accounts, server-side sessions, formal requests awaiting approval (four
eyes), and the indexes its pages are read by (ADR 0020).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password", sa.Text),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("disabled", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.Float),
        sa.Column("oidc_subject", sa.String(255), unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_console_sessions_user", "console_sessions", ["user"])
    op.create_table(
        "request_drafts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("drafter", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", sa.Float),
        sa.Column("reason", sa.Text),
        sa.Column("approval", sa.Text),
        sa.Column("request_id", sa.String(128)),
    )
    op.create_index("ix_request_drafts_state", "request_drafts", ["state", "created_at"])
    op.create_index("ix_console_requests_page", "requests", ["updated_at", "request_id"])
    op.create_index("ix_console_requests_status", "requests", ["status", "role", "updated_at"])
    op.create_index("ix_console_outgoing_page", "outgoing", ["created_at", "message_id"])
    op.create_index("ix_console_incoming_page", "incoming", ["received_at", "message_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_console_incoming_page", "incoming"),
        ("ix_console_outgoing_page", "outgoing"),
        ("ix_console_requests_status", "requests"),
        ("ix_console_requests_page", "requests"),
    ):
        op.drop_index(index, table_name=table)
    op.drop_table("request_drafts")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
