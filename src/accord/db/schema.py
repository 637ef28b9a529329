"""Tables (SQLAlchemy Core). Changes go through an Alembic migration in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

directories = Table(
    "directories",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("federation", String(64), nullable=False),
    Column("signed", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("installed_at", Float, nullable=False),
)

stewards = Table(
    "stewards",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("steward_set", Text, nullable=False),  # JSON StewardSet pinned at first install
    Column("pinned_at", Float, nullable=False),
)

# Messages this node created: the exact envelope bytes, retried as they are.
outgoing = Table(
    "outgoing",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("address", String(64), nullable=False),  # as typed: a participant or a group
    Column("kind", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("wire", LargeBinary, nullable=False),
)

# One row per (message, recipient): the delivery state machine of protocol v1.
deliveries = Table(
    "deliveries",
    metadata,
    Column("message_id", String(36), ForeignKey("outgoing.message_id"), primary_key=True),
    Column("recipient", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text),
    Column("receipt", Text),
    Column("sent_at", Float),
    Column("delivered_at", Float),
    Column("acknowledged_at", Float),
    Column("ack", Text),  # the recipient's signed ack (inner JWS)
    Column("updated_at", Float, nullable=False),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
)

# Messages received: stored as received (still encrypted to this node), with our receipt.
incoming = Table(
    "incoming",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("sender", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("wire", LargeBinary, nullable=False),
    Column("receipt", Text, nullable=False),
    Column("opened_at", Float),
    Column("ack_message_id", String(36)),
    Index("ix_incoming_received", "received_at"),
)
