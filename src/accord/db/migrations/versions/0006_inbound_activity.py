"""When each incoming evidence transfer last made progress, so an abandoned one can expire.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_inbound") as batch:
        batch.add_column(sa.Column("active_at", sa.Float))
    op.execute("UPDATE evidence_inbound SET active_at = offered_at")


def downgrade() -> None:
    with op.batch_alter_table("evidence_inbound") as batch:
        batch.drop_column("active_at")
