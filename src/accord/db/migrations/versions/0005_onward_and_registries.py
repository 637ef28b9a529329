"""Received evidence files for the Art. 36 screen; registries pinned per request.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_received_files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("package_id", sa.String(64), primary_key=True),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(128)),
        sa.Column("limitations", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "registries",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("registry_sha256", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("registry_sha256")
    op.drop_table("registries")
    op.drop_table("evidence_received_files")
