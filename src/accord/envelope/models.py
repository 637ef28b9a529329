"""Envelope records: routing data, opened messages, receipts, and message ids."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from accord.errors import NodeError

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class Priority(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    FLASH = "flash"


class Kind(StrEnum):
    """What a message carries; the kind is inside the signed payload, never in the header."""

    NOTE = "note"  # an operator's message: subject, text, attachments
    ACK = "ack"  # the recipient's operator opened a message
    REQUEST = "request"  # a cooperation request: its record and the requester's first events
    REQUEST_EVENTS = "request-events"  # later events of a request, by either State
    ALERT = "alert"  # a signed CAP 1.2 message: alert, update, cancel, ack or error (ADR 0013)
    EXERCISE = "exercise"  # a joint exercise announced by its director to its participants
    INTEL_SHARE = "intel-share"  # STIX objects with their originator's grant (ADR 0014)
    INTEL_SIGHTING = "intel-sighting"  # a sighting, back to the producer of what was sighted
    INTEL_PAGE = "intel-page"  # a page of a subscribed collection: an answer, never a message


@dataclass(frozen=True)
class Routing:
    """The only data in the JWE protected header: enough to route, nothing of the content."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    created: datetime
    priority: Priority


@dataclass(frozen=True)
class Opened:
    """A verified, decrypted message."""

    routing: Routing
    kind: Kind
    body: dict[str, Any]
    sha256: str  # of the wire bytes, as the receipt states it
    signed: bytes  # the sender's JWS, kept as proof of origin


@dataclass(frozen=True)
class Receipt:
    """What the receiver signed: it holds these exact bytes for this message id."""

    message_id: str
    sha256: str
    sender: str
    receiver: str
    received_at: datetime
    token: str  # the compact JWS itself
    audit_index: int | None = None  # the receiver's audit entry for this receipt


def new_message_id(now: datetime, random: Callable[[int], bytes] = os.urandom) -> str:
    """A UUIDv7 (RFC 9562 §5.7): 48-bit Unix milliseconds, version 7, variant 10, 74 random bits."""
    aware = now if now.tzinfo is not None else now.astimezone()
    # Integer arithmetic: float `timestamp() * 1000` is off by one millisecond for some times.
    millis = (aware - _UNIX_EPOCH) // timedelta(milliseconds=1)
    if not 0 <= millis < 1 << 48:
        raise NodeError(
            f"the clock reads {aware.isoformat()}, outside what a UUIDv7 can hold (1970 to 10889)",
            advice="Set the system clock to the correct time.",
        )
    rand = int.from_bytes(random(10), "big")
    rand_a = (rand >> 62) & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))
