"""The federation service of one node: accept incoming envelopes, queue outgoing ones.

I/O around the pure core of ``accord.envelope``: everything is verified before anything is
written, and every write goes through the node's single writer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from accord.audit.log import LOCK as AUDIT_LOCK
from accord.audit.log import record
from accord.audit.models import Action, Event
from accord.db.engine import serialise
from accord.db.schema import deliveries, incoming, outgoing
from accord.envelope.core import check_replay, open_envelope, read_routing, seal, sha256_hex
from accord.envelope.models import Kind, Opened, Priority, Routing, new_message_id
from accord.envelope.receipt import make_receipt
from accord.errors import DirectoryError, InputError, ReplayedMessage, StorageError
from accord.federation.limits import Budget
from accord.federation.models import DeliveryState
from accord.identity.directory import Directory
from accord.identity.service import DirectoryStore
from accord.node.home import Node

# A domain's part in storing a message of its kind: checks and writes in the same transaction
# as the message and its receipt (raising refuses the message), returns audit events to add.
Handler = Callable[[Connection, Opened, datetime], list[Event]]
FEDERATION_KINDS = frozenset({Kind.NOTE, Kind.ACK})  # the kinds federation stores itself


class Federation:
    def __init__(self, node: Node, directories: DirectoryStore | None = None) -> None:
        self.node = node
        self.directories = directories or DirectoryStore(node)
        self._on_enqueue: list[Callable[[], None]] = []
        self._handlers: dict[Kind, Handler] = {}
        settings = node.settings
        # ADR 0017: what each participant may ask of this node once its signature verified
        self.peer_budget = Budget(settings.rate_per_peer, settings.burst_per_peer)

    # Directory -------------------------------------------------------------------------------

    def directory(self) -> Directory:
        directory = self.directories.current(self.node.clock.now())
        if directory is None:
            raise DirectoryError(
                "no federation directory is installed on this node",
                advice="Install one with `accord directory install FILE --stewards FILE`.",
            )
        return directory

    # Receiving -------------------------------------------------------------------------------

    def handle(self, kind: Kind, handler: Handler) -> None:
        """Let a domain store what a message of ``kind`` carries, atomically with it. A kind
        has one owner: a second claim, or one on federation's own kinds, is a wiring bug."""
        if kind in FEDERATION_KINDS or kind in self._handlers:
            raise ValueError(f"message kind {kind} already has a handler")
        self._handlers[kind] = handler

    def kinds(self) -> frozenset[Kind]:
        """The message kinds this node stores: federation's own and those domains handle."""
        return FEDERATION_KINDS | frozenset(self._handlers)

    def stored_receipt(self, wire: bytes) -> str | None:
        """The receipt already given for these exact bytes, or None for a new message.
        Raises ReplayedMessage for a known id with other bytes (style: checks raise)."""
        settings = self.node.settings
        routing = read_routing(
            wire, max_bytes=settings.max_message_bytes, max_recipients=settings.max_recipients
        )
        with self.node.read_engine.connect() as connection:
            row = connection.execute(
                select(incoming.c.sha256, incoming.c.receipt).where(
                    incoming.c.message_id == routing.message_id
                )
            ).first()
        if row is not None and check_replay(routing, sha256_hex(wire), row.sha256):
            return str(row.receipt)
        return None

    def verify_incoming(self, wire: bytes) -> Opened:
        """Verify and decrypt (pure, CPU-bound). Stores nothing."""
        settings, now = self.node.settings, self.node.clock.now()
        return open_envelope(
            wire,
            me=self.node.id,
            my_key=self.node.ring.decryption_keys(),
            directory=self.directory(),
            now=now,
            max_age=settings.message_max_age,
            skew=settings.clock_skew,
            max_bytes=settings.max_message_bytes,
            max_recipients=settings.max_recipients,
        )

    def store_job(self, wire: bytes, opened: Opened) -> Callable[[Connection], tuple[str, bool]]:
        """A writer job storing a verified message and its audit record, then signing the
        receipt that names that record; returns the receipt to answer with and whether it is
        the first one given earlier (a concurrent duplicate was stored in between)."""
        routing = opened.routing
        received_at = self.node.clock.now()

        def job(connection: Connection) -> tuple[str, bool]:
            # another process of this node may be storing the same message (PostgreSQL):
            # the log's lock, which the record below needs anyway, makes the check hold
            serialise(connection, AUDIT_LOCK)
            row = connection.execute(
                select(incoming.c.sha256, incoming.c.receipt).where(
                    incoming.c.message_id == routing.message_id
                )
            ).first()
            if row is not None:
                if row.sha256 != opened.sha256:
                    raise ReplayedMessage(
                        f"message id {routing.message_id} was already received with different "
                        "content",
                        advice="Message ids are single-use; a sender must create a new message.",
                    )
                return str(row.receipt), True
            events = [
                Event(
                    routing.sender,
                    Action.MESSAGE_RECEIVED,
                    routing.message_id,
                    opened.sha256,
                    (routing.sender, self.node.id),
                )
            ]
            if opened.kind is Kind.ACK:
                events += _apply_ack(connection, opened, received_at)
            elif opened.kind in self._handlers:
                events += self._handlers[opened.kind](connection, opened, received_at)
            elif opened.kind is not Kind.NOTE:
                # never store a message whose domain did not look at it: it would be lost
                raise StorageError(
                    f"this node cannot take {opened.kind} messages at the moment",
                    advice="Retry later (the outbox does); the receiving node must run the "
                    "service of that kind.",
                )
            [index, *_] = record(connection, events, received_at)
            receipt = make_receipt(
                message_id=routing.message_id,
                sha256=opened.sha256,
                sender=routing.sender,
                receiver=self.node.id,
                received_at=received_at,
                key=self.node.keys.signing,
                audit_index=index,
            )
            connection.execute(
                incoming.insert().values(
                    message_id=routing.message_id,
                    sender=routing.sender,
                    kind=opened.kind.value,
                    priority=routing.priority.value,
                    created_at=routing.created.timestamp(),
                    received_at=received_at.timestamp(),
                    sha256=opened.sha256,
                    wire=wire,
                    receipt=receipt.token,
                )
            )
            return receipt.token, False

        return job

    def receive(self, wire: bytes) -> str:
        """Accept one envelope synchronously (the CLI and tests); the API uses the async path."""
        stored = self.stored_receipt(wire)
        if stored is not None:
            return stored
        opened = self.verify_incoming(wire)
        return self.node.writer.run(self.store_job(wire, opened))[0]

    # Sending ---------------------------------------------------------------------------------

    def on_enqueue(self, callback: Callable[[], None]) -> None:
        self._on_enqueue.append(callback)

    def send(
        self,
        address: str,
        kind: Kind,
        body: Mapping[str, Any],
        priority: Priority = Priority.ROUTINE,
    ) -> str:
        """Sign, encrypt and queue a message to a participant or a group; returns its id.
        Durable when this returns: the outbox delivers it even across restarts."""
        job, message_id = self.prepare(address, kind, body, priority)
        self.node.writer.run(job)
        self.enqueued()
        return message_id

    def enqueued(self) -> None:
        """Wake the outbox after messages were queued (by ``send`` or a domain's own job)."""
        for callback in self._on_enqueue:
            callback()

    def prepare(
        self, address: str, kind: Kind, body: Mapping[str, Any], priority: Priority
    ) -> tuple[Callable[[Connection], None], str]:
        node, settings = self.node, self.node.settings
        now = node.clock.now()
        directory = self.directory()
        recipients = tuple(p.id for p in directory.resolve(address) if p.id != node.id)
        if not recipients:
            raise InputError(
                f"{address!r} names no participant other than this node",
                advice="Address another participant or a group with other members.",
            )
        if len(recipients) > settings.max_recipients:
            raise InputError(
                f"{address!r} has {len(recipients)} members; at most {settings.max_recipients} "
                "per message",
                advice="Raise ACCORD_MAX_RECIPIENTS or address smaller groups.",
            )
        routing = Routing(new_message_id(now), node.id, recipients, now, priority)
        keys = {pid: directory.encryption_key(pid) for pid in recipients}
        keys[node.id] = node.keys.encryption.public_key()  # the sender's own readable copy
        wire = seal(
            routing=routing,
            kind=kind,
            body=body,
            signing_key=node.keys.signing,
            recipient_keys=keys,
            max_bytes=settings.max_message_bytes,
        )
        return _queue_job(routing, address, kind, wire, now), routing.message_id


def _queue_job(
    routing: Routing, address: str, kind: Kind, wire: bytes, now: datetime
) -> Callable[[Connection], None]:
    def job(connection: Connection) -> None:
        created = routing.created.timestamp()
        connection.execute(
            outgoing.insert().values(
                message_id=routing.message_id,
                address=address,
                kind=kind.value,
                priority=routing.priority.value,
                created_at=created,
                sha256=sha256_hex(wire),
                wire=wire,
            )
        )
        connection.execute(
            deliveries.insert(),
            [
                {
                    "message_id": routing.message_id,
                    "recipient": recipient,
                    "state": DeliveryState.QUEUED.value,
                    "attempts": 0,
                    "next_attempt_at": created,
                    "updated_at": now.timestamp(),
                }
                for recipient in routing.recipients
            ],
        )
        event = Event(
            routing.sender,
            Action.MESSAGE_SENT,
            routing.message_id,
            sha256_hex(wire),
            (routing.sender, *routing.recipients),
        )
        record(connection, [event], now)

    return job


def _apply_ack(connection: Connection, opened: Opened, at: datetime) -> list[Event]:
    """A recipient's signed ack of a message we sent: the delivery becomes acknowledged.
    An ack also proves delivery, so it may overtake a lost receipt."""
    message_id, sha256 = opened.body.get("message_id"), opened.body.get("sha256")
    result = connection.execute(
        update(deliveries)
        .where(
            and_(
                deliveries.c.message_id == message_id,
                deliveries.c.recipient == opened.routing.sender,
                deliveries.c.message_id.in_(
                    select(outgoing.c.message_id).where(outgoing.c.sha256 == sha256)
                ),
            )
        )
        .values(
            state=DeliveryState.ACKNOWLEDGED.value,
            acknowledged_at=at.timestamp(),
            delivered_at=func.coalesce(deliveries.c.delivered_at, at.timestamp()),
            ack=opened.signed.decode(),
            updated_at=at.timestamp(),
        )
    )
    if result.rowcount != 1:
        return []
    acker = opened.routing.sender
    ack_digest = sha256_hex(opened.signed)
    return [Event(acker, Action.MESSAGE_ACKNOWLEDGED, str(message_id), ack_digest, (acker,))]
