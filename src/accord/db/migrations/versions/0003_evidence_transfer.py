"""Evidence transfer: outbound transfers, inbound packages and the chunks held.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_outbound",
        sa.Column("package_id", sa.String(64), primary_key=True),
        sa.Column("recipient", sa.String(64), primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("offer", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("chunks_total", sa.Integer, nullable=False),
        sa.Column("chunks_confirmed", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("receipt", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("progress_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_evidence_outbound_due", "evidence_outbound", ["state", "next_attempt_at"])
    op.create_table(
        "evidence_inbound",
        sa.Column("package_id", sa.String(64), primary_key=True),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("custody", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("chunks_total", sa.Integer, nullable=False),
        sa.Column("bytes_total", sa.Integer, nullable=False),
        sa.Column("offered_at", sa.Float, nullable=False),
        sa.Column("completed_at", sa.Float),
        sa.Column("receipt", sa.Text),
    )
    op.create_table(
        "evidence_chunks",
        sa.Column("package_id", sa.String(64), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    for table in ("evidence_chunks", "evidence_inbound", "evidence_outbound"):
        op.drop_table(table)
