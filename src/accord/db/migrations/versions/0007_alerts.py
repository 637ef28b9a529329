"""Alerts (CAP 1.2): stored alerts and their chains, recipients, acknowledgements, joint
exercises and their injects, and subscribed CAP feeds (ADR 0013).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("sender", sa.String(255), primary_key=True),
        sa.Column("identifier", sa.String(255), primary_key=True),
        sa.Column("sent", sa.String(32), nullable=False),
        sa.Column("sent_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("msg_type", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("feed", sa.Text),
        sa.Column("exercise_id", sa.String(64)),
        sa.Column("expires_at", sa.Float),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("superseded_by", sa.String(255)),
        sa.Column("xml", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_at", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_alerts_view", "alerts", ["status", "state"])
    op.create_index("ix_alerts_exercise", "alerts", ["exercise_id"])
    op.create_table(
        "alert_recipients",
        sa.Column("sender", sa.String(255), primary_key=True),
        sa.Column("identifier", sa.String(255), primary_key=True),
        sa.Column("recipient", sa.String(64), primary_key=True),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("queued_at", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "alert_acks",
        sa.Column("sender", sa.String(255), primary_key=True),
        sa.Column("identifier", sa.String(255), primary_key=True),
        sa.Column("participant", sa.String(64), primary_key=True),
        sa.Column("msg_type", sa.String(16), nullable=False),
        sa.Column("ack_identifier", sa.String(255), nullable=False),
        sa.Column("acked_at", sa.Float, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("xml", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "exercises",
        sa.Column("exercise_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("director", sa.String(64), nullable=False),
        sa.Column("participants", sa.Text, nullable=False),
        sa.Column("starts_at", sa.Float, nullable=False),
        sa.Column("ends_at", sa.Float, nullable=False),
        sa.Column("scenario", sa.Text, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "exercise_injects",
        sa.Column("exercise_id", sa.String(64), primary_key=True),
        sa.Column("inject_id", sa.String(64), primary_key=True),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("composition", sa.Text, nullable=False),
        sa.Column("sent_identifier", sa.String(255)),
        sa.Column("sent_at", sa.Float),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_exercise_injects_due", "exercise_injects", ["sent_at", "due_at"])
    op.create_table(
        "alert_feeds",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("key_pem", sa.Text),
        sa.Column("trust_unsigned", sa.Integer, nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("interval", sa.Float, nullable=False),
        sa.Column("pulled_at", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_feeds")
    op.drop_index("ix_exercise_injects_due", "exercise_injects")
    op.drop_table("exercise_injects")
    op.drop_table("exercises")
    op.drop_table("alert_acks")
    op.drop_table("alert_recipients")
    op.drop_index("ix_alerts_exercise", "alerts")
    op.drop_index("ix_alerts_view", "alerts")
    op.drop_table("alerts")
