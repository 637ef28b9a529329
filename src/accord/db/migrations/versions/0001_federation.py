"""Federation: directory, stewards, outgoing messages and deliveries, incoming messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directories",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("federation", sa.String(64), nullable=False),
        sa.Column("signed", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("installed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "stewards",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("steward_set", sa.Text, nullable=False),
        sa.Column("pinned_at", sa.Float, nullable=False),
    )
    op.create_table(
        "outgoing",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("wire", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column(
            "message_id",
            sa.String(36),
            sa.ForeignKey("outgoing.message_id"),
            primary_key=True,
        ),
        sa.Column("recipient", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("receipt", sa.Text),
        sa.Column("sent_at", sa.Float),
        sa.Column("delivered_at", sa.Float),
        sa.Column("acknowledged_at", sa.Float),
        sa.Column("ack", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at"])
    op.create_table(
        "incoming",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("wire", sa.LargeBinary, nullable=False),
        sa.Column("receipt", sa.Text, nullable=False),
        sa.Column("opened_at", sa.Float),
        sa.Column("ack_message_id", sa.String(36)),
    )
    op.create_index("ix_incoming_received", "incoming", ["received_at"])


def downgrade() -> None:
    op.drop_table("incoming")
    op.drop_table("deliveries")
    op.drop_table("outgoing")
    op.drop_table("stewards")
    op.drop_table("directories")
