"""Delivery states (protocol v1) and the rows operators see."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"  # a request is in flight (a lease: retried if the process dies)
    DELIVERED = "delivered"  # a valid signed receipt is stored
    ACKNOWLEDGED = "acknowledged"  # the recipient's operator opened it (signed ack)
    RETRYING = "retrying"
    FAILED = "failed"


PENDING = (DeliveryState.QUEUED, DeliveryState.SENT, DeliveryState.RETRYING)
DONE = (DeliveryState.DELIVERED, DeliveryState.ACKNOWLEDGED)


@dataclass(frozen=True)
class Delivery:
    message_id: str
    recipient: str
    state: DeliveryState
    attempts: int
    last_error: str | None
    created_at: float
    sent_at: float | None
    delivered_at: float | None
    acknowledged_at: float | None
    receipt: str | None


@dataclass(frozen=True)
class Claimed:
    """A delivery the worker took to attempt now."""

    message_id: str
    recipient: str
    attempts: int
    created_at: float
    sha256: str
    wire: bytes
