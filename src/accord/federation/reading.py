"""Reading the mailbox: lists, opening a stored message, and acknowledging it."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from accord.audit.log import record
from accord.audit.models import Action, Event
from accord.db.schema import deliveries, incoming, outgoing
from accord.envelope.core import open_stored, read_routing
from accord.envelope.models import Kind, Opened, Priority
from accord.errors import InputError, NotFoundError
from accord.federation.models import Delivery, DeliveryState
from accord.federation.service import Federation


@dataclass(frozen=True)
class InboxRow:
    message_id: str
    sender: str
    received_at: float
    priority: str
    subject: str
    opened: bool
    acked: bool


@dataclass(frozen=True)
class Attachment:
    name: str
    media_type: str
    size: int
    sha256: str
    data: bytes


@dataclass(frozen=True)
class Shown:
    opened: Opened
    attachments: tuple[Attachment, ...]
    deliveries: tuple[Delivery, ...]


class Mailbox:
    def __init__(self, federation: Federation) -> None:
        self._federation = federation
        self._node = federation.node

    def inbox(self, limit: int = 200) -> list[InboxRow]:
        with self._node.read_engine.connect() as connection:
            rows = connection.execute(
                select(incoming)
                .where(incoming.c.kind == Kind.NOTE.value)
                .order_by(incoming.c.received_at.desc())
                .limit(limit)
            ).all()
        return [
            InboxRow(
                row.message_id,
                row.sender,
                row.received_at,
                row.priority,
                str(self._open(row.wire, row.sender).body.get("subject", "")),
                row.opened_at is not None,
                row.ack_message_id is not None,
            )
            for row in rows
        ]

    def outbox(self, limit: int = 500) -> list[Delivery]:
        with self._node.read_engine.connect() as connection:
            return _deliveries(connection, None, limit)

    def open(self, message_id: str) -> Shown:
        """Decrypt and verify a stored message; reading a received one marks it opened."""
        with self._node.read_engine.connect() as connection:
            received = connection.execute(
                select(incoming.c.wire, incoming.c.sender).where(
                    incoming.c.message_id == message_id
                )
            ).first()
            sent = connection.execute(
                select(outgoing.c.wire).where(outgoing.c.message_id == message_id)
            ).first()
            sent_deliveries = _deliveries(connection, message_id, 10_000) if sent else []
        if received is not None:
            opened = self._open(received.wire, received.sender)
        elif sent is not None:
            opened = self._open(sent.wire, self._node.id)
        else:
            raise NotFoundError(
                f"no message {message_id} on this node",
                advice="List ids with `accord inbox` or `accord outbox`.",
            )
        self._node.writer.run(self._read_job(opened, first_open=received is not None))
        return Shown(opened, _attachments(opened.body), tuple(sent_deliveries))

    def _read_job(self, opened: Opened, *, first_open: bool) -> Callable[[Connection], None]:
        """Every read of content is audited; the first read of a received one marks it opened."""
        node, routing = self._node, opened.routing
        now = node.clock.now()

        def job(connection: Connection) -> None:
            if first_open:
                connection.execute(
                    update(incoming)
                    .where(
                        incoming.c.message_id == routing.message_id,
                        incoming.c.opened_at.is_(None),
                    )
                    .values(opened_at=now.timestamp())
                )
            event = Event(node.id, Action.MESSAGE_READ, routing.message_id, opened.sha256, ())
            record(connection, [event], now)

        return job

    def acknowledge(self, message_id: str) -> str:
        """Send the sender a signed ack (its delivery becomes ``acknowledged``); once per
        message: acknowledging again returns the first ack's id and sends nothing."""
        shown = self.open(message_id)
        with self._node.read_engine.connect() as connection:
            earlier = connection.execute(
                select(incoming.c.ack_message_id).where(incoming.c.message_id == message_id)
            ).scalar()
        if earlier is not None:
            return str(earlier)
        routing = shown.opened.routing
        if routing.sender == self._node.id or shown.opened.kind is not Kind.NOTE:
            raise InputError(
                f"{message_id} is not a message received by this node",
                advice="Acknowledge messages from your inbox.",
            )
        body = {
            "message_id": message_id,
            "sha256": shown.opened.sha256,
            "opened_at": self._node.clock.now().isoformat(),
        }
        job, ack_id = self._federation.prepare(routing.sender, Kind.ACK, body, Priority.ROUTINE)

        def record(connection: Connection) -> None:
            job(connection)
            connection.execute(
                update(incoming)
                .where(incoming.c.message_id == message_id)
                .values(ack_message_id=ack_id)
            )

        self._node.writer.run(record)
        return ack_id

    def _open(self, wire: bytes, sender: str) -> Opened:
        node = self._node
        created = read_routing(wire, max_bytes=node.settings.max_message_bytes).created
        # ADR 0018: stored when its key was trusted, so a later compromise does not hide it
        key = self._federation.directory().signing_key_at(sender, created, compromised_ok=True)
        return open_stored(
            wire,
            me=node.id,
            my_key=node.ring.decryption_keys(),
            sender_key=key,
            max_bytes=node.settings.max_message_bytes,
        )


def _deliveries(connection: Connection, message_id: str | None, limit: int) -> list[Delivery]:
    query = (
        select(deliveries, outgoing.c.created_at)
        .join(outgoing, outgoing.c.message_id == deliveries.c.message_id)
        .order_by(outgoing.c.created_at.desc(), deliveries.c.recipient)
        .limit(limit)
    )
    if message_id is not None:
        query = query.where(deliveries.c.message_id == message_id)
    return [
        Delivery(
            row.message_id,
            row.recipient,
            DeliveryState(row.state),
            row.attempts,
            row.last_error,
            row.created_at,
            row.sent_at,
            row.delivered_at,
            row.acknowledged_at,
            row.receipt,
        )
        for row in connection.execute(query).all()
    ]


def _attachments(body: dict[str, Any]) -> tuple[Attachment, ...]:
    items = body.get("attachments", [])
    if not isinstance(items, list):
        raise InputError("attachments must be a list")
    out = []
    for index, item in enumerate(items):
        try:
            data = base64.b64decode(item["data"], validate=True)
            attachment = Attachment(
                str(item["name"]),
                str(item["media_type"]),
                int(item["size"]),
                str(item["sha256"]),
                data,
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise InputError(f"attachments[{index}] is malformed: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != attachment.sha256 or len(data) != attachment.size:
            raise InputError(f"attachments[{index}] ({attachment.name}) does not match its digest")
        out.append(attachment)
    return tuple(out)
