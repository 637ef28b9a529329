"""Threat intelligence: collections, every version of every STIX object, grants, TAXII status
resources, local tools' API tokens, subscriptions (ADR 0014).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intel_collections",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("alias", sa.String(64), unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("readers", sa.Text, nullable=False),
        sa.Column("writers", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "intel_objects",
        sa.Column("collection", sa.String(36), primary_key=True),
        sa.Column("stix_id", sa.String(300), primary_key=True),
        sa.Column("vkey", sa.String(32), primary_key=True),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("date_added", sa.Integer, nullable=False),
        sa.Column("type", sa.String(250), nullable=False),
        sa.Column("is_last", sa.Integer, nullable=False),
        sa.Column("is_first", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("tlp", sa.Integer),
        sa.Column("handling", sa.Text, nullable=False),
        sa.Column("unknown", sa.Integer, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("grant_sha256", sa.String(64)),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_intel_objects_added", "intel_objects", ["collection", "date_added"])
    op.create_index(
        "ix_intel_objects_last", "intel_objects", ["collection", "is_last", "date_added"]
    )
    op.create_index(
        "ix_intel_objects_type", "intel_objects", ["collection", "type", "is_last", "date_added"]
    )
    op.create_table(
        "intel_grants",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("stored_at", sa.Float, nullable=False),
    )
    op.create_table(
        "intel_status",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("asker", sa.String(128), nullable=False),
        sa.Column("collection", sa.String(36), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_intel_status_created", "intel_status", ["created_at"])
    op.create_table(
        "intel_tokens",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("read", sa.Text, nullable=False),
        sa.Column("write", sa.Text, nullable=False),
        sa.Column("red", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_table(
        "intel_subscriptions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("collection", sa.String(64), nullable=False),
        sa.Column("into", sa.String(36), nullable=False),
        sa.Column("filter", sa.Text, nullable=False),
        sa.Column("cursor", sa.Text),
        sa.Column("synced", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("intel_subscriptions", "intel_tokens", "intel_status", "intel_grants"):
        op.drop_table(table)
    op.drop_index("ix_intel_objects_type", "intel_objects")
    op.drop_index("ix_intel_objects_last", "intel_objects")
    op.drop_index("ix_intel_objects_added", "intel_objects")
    op.drop_table("intel_objects")
    op.drop_table("intel_collections")
