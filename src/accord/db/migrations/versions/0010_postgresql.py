"""PostgreSQL: 64-bit integers where values outgrow 32 bits (package sizes in bytes, TAXII
date_added in microseconds). SQLite's INTEGER is 64 bits already: nothing to do there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

WIDENED = (("evidence_inbound", "bytes_total"), ("intel_objects", "date_added"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in WIDENED:
        op.alter_column(table, column, type_=sa.BigInteger, existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in WIDENED:
        op.alter_column(table, column, type_=sa.Integer, existing_nullable=False)
