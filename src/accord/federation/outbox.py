"""The outbox worker: delivers queued envelopes until a valid signed receipt is stored.

Each attempt takes a lease (state ``sent``, next attempt after the request timeout), so a
process killed mid-request retries that delivery on restart; the receiver deduplicates by
message id and answers a duplicate with its first receipt, so a retry never stores twice.
Failed attempts are retried with exponential backoff and full jitter (Brooker, "Exponential
Backoff And Jitter", AWS 2015) until ``delivery_timeout`` after creation, when the delivery
becomes ``failed`` with its last reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import ColumnElement, Connection, Table, Update, and_, select, update

from accord.audit.log import record
from accord.audit.models import Action, Event
from accord.boundedjson import parse_object
from accord.config import Settings
from accord.db.schema import deliveries, outgoing
from accord.envelope.receipt import verify_receipt, verify_refusal
from accord.errors import AccordError, JsonInvalid, ReceiptInvalid, StorageError
from accord.federation.models import PENDING, Claimed, DeliveryState
from accord.federation.service import Federation
from accord.federation.transport import PeerResponse, PeerTransport, TransportFailure

log = structlog.get_logger("accord.outbox")

# Refusals that may clear up on their own: the peer lacks our newest directory entry, is
# overloaded, or its clock disagrees with ours. Everything else in 4xx is final for these bytes.
RETRYABLE_CODES = {
    "sender_unknown",
    "recipient_unknown",  # the receiver's directory is older than ours
    "directory_invalid",
    "directory_expired",
    "storage_error",
    "created_outside_window",
}
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
UNREAD_BODY_STATUS = {413, 415}
LEASE_MARGIN = 5.0

Outcome = Callable[[Connection], None]


class Outbox:
    def __init__(
        self,
        federation: Federation,
        transport: PeerTransport,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._federation = federation
        self._node = federation.node
        self._transport = transport
        self._rng = rng
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        settings = self._node.settings
        self._slots: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.outbox_concurrency)
        )
        self._capacity = settings.outbox_concurrency * 4
        self._in_flight: set[asyncio.Task[None]] = set()
        # Deliveries this worker claimed and has not finished: one waiting for its peer's slot
        # can outlive its lease, and must not be claimed a second time meanwhile.
        self._holding: set[tuple[str, str]] = set()

    def wake(self) -> None:
        """Ask the worker to look for work now; safe from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._federation.on_enqueue(self.wake)
        poll = self._node.settings.outbox_poll
        while not stop.is_set():
            free = self._capacity - len(self._in_flight)
            try:
                claimed = await self._node.writer.write(self._claim_job(free)) if free > 0 else []
            except StorageError as exc:  # the database is away (restarting): poll again
                log.warning("outbox claim failed", error=exc.message)
                claimed = []
            for item in claimed:
                self._holding.add(_key(item.message_id, item.recipient))
                task = asyncio.create_task(self._deliver(item))
                self._in_flight.add(task)
                task.add_done_callback(self._done)
            if not claimed or free - len(claimed) <= 0:
                self._wake.clear()
                waits = {asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())}
                _done, pending = await asyncio.wait(
                    waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in pending:
                    waiter.cancel()
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=self._node.settings.request_timeout)

    async def drain(self) -> None:
        """Deliver what is due now and return (the CLI's one-shot mode and tests)."""
        self._loop = asyncio.get_running_loop()
        claimed = await self._node.writer.write(self._claim_job(self._capacity))
        self._holding.update(_key(item.message_id, item.recipient) for item in claimed)
        await asyncio.gather(*(self._deliver(item) for item in claimed))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task crashed", error=repr(task.exception()))

    def _claim_job(self, limit: int) -> Callable[[Connection], list[Claimed]]:
        settings, now = self._node.settings, self._node.clock.now().timestamp()
        lease = now + settings.request_timeout + LEASE_MARGIN
        holding = frozenset(self._holding)

        def job(connection: Connection) -> list[Claimed]:
            rows = connection.execute(
                select(
                    deliveries.c.message_id,
                    deliveries.c.recipient,
                    deliveries.c.attempts,
                    deliveries.c.last_error,
                    outgoing.c.created_at,
                    outgoing.c.sha256,
                    outgoing.c.wire,
                )
                .join(outgoing, outgoing.c.message_id == deliveries.c.message_id)
                .where(
                    deliveries.c.state.in_([s.value for s in PENDING]),
                    deliveries.c.next_attempt_at <= now,
                )
                .order_by(deliveries.c.next_attempt_at)
                .limit(limit + len(holding))
                # other workers on the same PostgreSQL pass over rows claimed meanwhile
                .with_for_update(of=deliveries, skip_locked=True)
            ).all()
            claimed: list[Claimed] = []
            for row in rows:
                key = _key(row.message_id, row.recipient)
                if key in holding:
                    continue
                if len(claimed) >= limit:
                    break
                if now > row.created_at + settings.delivery_timeout:
                    reason = _timeout_reason(settings.delivery_timeout, row.last_error)
                    _mark_failed(connection, key, reason, now)
                    continue
                connection.execute(
                    _set(
                        key,
                        DeliveryState.SENT,
                        now,
                        attempts=row.attempts + 1,
                        sent_at=now,
                        next_attempt_at=lease,
                    )
                )
                claimed.append(
                    Claimed(
                        row.message_id,
                        row.recipient,
                        row.attempts + 1,
                        row.created_at,
                        row.sha256,
                        row.wire,
                    )
                )
            return claimed

        return job

    async def _deliver(self, item: Claimed) -> None:
        try:
            async with self._slots[item.recipient]:
                outcome = await self._attempt(item)
            await self._node.writer.write(outcome)
        finally:
            self._holding.discard(_key(item.message_id, item.recipient))

    async def _attempt(self, item: Claimed) -> Outcome:
        try:
            directory = self._federation.directory()
            peer = directory.participant(item.recipient)
            key = directory.signing_key(item.recipient)
            response = await self._transport.post_message(peer.url, item.wire)
        except TransportFailure as exc:
            return self._retry(item, f"peer unreachable: {exc}")
        except AccordError as exc:
            return self._retry(item, exc.message)
        if response.status in (200, 202):
            return self._accepted(item, response, key)
        return self._refused(item, response, key)

    def _accepted(self, item: Claimed, response: PeerResponse, key: Ed25519PublicKey) -> Outcome:
        try:
            receipt = verify_receipt(
                str(json_answer(response.body).get("receipt")),
                message_id=item.message_id,
                sha256=item.sha256,
                receiver=item.recipient,
                receiver_key=key,
            )
        except AccordError as exc:
            return self._retry(item, exc.message)
        return _delivered(item, receipt.token, self._now())

    def _refused(self, item: Claimed, response: PeerResponse, key: Ed25519PublicKey) -> Outcome:
        error = json_answer(response.body)
        code, message = str(error.get("code", "")), str(error.get("message", ""))
        reason = f"HTTP {response.status} {code}: {message}".strip()
        if response.status in RETRYABLE_STATUS or code in RETRYABLE_CODES:
            return self._retry(item, reason, response.retry_after or 0.0)
        try:
            _check_refusal(response, item, key)
        except ReceiptInvalid as exc:
            # Protocol v1: only a refusal the recipient signed ends delivery; anything on the
            # path could have written an unsigned one.
            return self._retry(item, f"{reason} (ignored: {exc.message})")
        return _failed(item, f"refused by {item.recipient}: {reason}", self._now())

    def _retry(self, item: Claimed, reason: str, wait: float = 0.0) -> Outcome:
        """Try again after the backoff, or after ``wait`` (the peer's Retry-After) if later."""
        settings, now = self._node.settings, self._now()
        at = now + max(wait, backoff(settings, item.attempts, self._rng))
        if at > item.created_at + settings.delivery_timeout:
            return _failed(item, _timeout_reason(settings.delivery_timeout, reason), now)
        log.info("delivery retry", message_id=item.message_id, to=item.recipient, reason=reason)

        def job(connection: Connection) -> None:
            connection.execute(
                _set(
                    _key(item.message_id, item.recipient),
                    DeliveryState.RETRYING,
                    now,
                    last_error=reason,
                    next_attempt_at=at,
                    only_from=DeliveryState.SENT,
                )
            )

        return job

    def _now(self) -> float:
        return self._node.clock.now().timestamp()


def backoff(settings: Settings, attempts: int, rng: Callable[[], float]) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: exponential, full jitter."""
    return rng() * min(settings.retry_max, settings.retry_base * 2.0 ** (attempts - 1))


def _check_refusal(response: PeerResponse, item: Claimed, key: Ed25519PublicKey) -> None:
    """Raise unless the refusal is signed by the recipient and answers these bytes. A node
    that refused before reading the whole body (413, 415) binds it to the empty digest."""
    bindings = [item.sha256, ""] if response.status in UNREAD_BODY_STATUS else [item.sha256]
    refused: list[ReceiptInvalid] = []
    for binding in bindings:
        try:
            verify_refusal(
                response.signature,
                response.body,
                request_sha256=binding,
                signer=item.recipient,
                key=key,
            )
        except ReceiptInvalid as exc:
            refused.append(exc)
        else:
            return
    raise refused[0]


def _delivered(item: Claimed, receipt: str, now: float) -> Outcome:
    def job(connection: Connection) -> None:
        key = _key(item.message_id, item.recipient)
        updated = connection.execute(
            _set(
                key,
                DeliveryState.DELIVERED,
                now,
                receipt=receipt,
                delivered_at=now,
                last_error=None,
                only_from=DeliveryState.SENT,
            )
        )
        if updated.rowcount == 1:
            _audit(connection, key, Action.RECEIPT_STORED, receipt, now)

    return job


def _failed(item: Claimed, reason: str, now: float) -> Outcome:
    log.warning("delivery failed", message_id=item.message_id, to=item.recipient, reason=reason)

    def job(connection: Connection) -> None:
        _mark_failed(
            connection, _key(item.message_id, item.recipient), reason, now, DeliveryState.SENT
        )

    return job


def _mark_failed(
    connection: Connection,
    key: tuple[str, str],
    reason: str,
    now: float,
    only_from: DeliveryState | None = None,
) -> None:
    """Failed is final and audited, unless the delivery left ``only_from`` meanwhile."""
    updated = connection.execute(
        _set(key, DeliveryState.FAILED, now, last_error=reason, only_from=only_from)
    )
    if updated.rowcount == 1:
        _audit(connection, key, Action.DELIVERY_FAILED, reason, now)


def _audit(
    connection: Connection, key: tuple[str, str], action: Action, text: str, now: float
) -> None:
    """Record a delivery's change, with the digest of the receipt or reason it rests on."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    event = Event(key[1], action, key[0], digest, (key[1],))
    record(connection, [event], datetime.fromtimestamp(now, UTC))


def _key(message_id: str, recipient: str) -> tuple[str, str]:
    return message_id, recipient


def _set(
    key: tuple[str, str],
    state: DeliveryState,
    now: float,
    *,
    only_from: DeliveryState | None = None,
    **values: object,
) -> Update:
    """An UPDATE of one delivery (see :func:`state_update`)."""
    condition = and_(deliveries.c.message_id == key[0], deliveries.c.recipient == key[1])
    return state_update(deliveries, condition, state, now, only_from, **values)


def state_update(
    table: Table,
    row: ColumnElement[bool],
    state: StrEnum,
    now: float,
    only_from: StrEnum | None,
    **values: object,
) -> Update:
    """An UPDATE moving the ``row`` of a table with ``state`` and ``updated_at`` columns;
    ``only_from`` guards against overwriting a state reached meanwhile (an ack may arrive
    while a receipt is still in flight, a lease may have been taken over)."""
    if only_from is not None:
        row = and_(row, table.c.state == only_from.value)
    return update(table).where(row).values(state=state.value, updated_at=now, **values)


def _timeout_reason(timeout: float, last: str | None) -> str:
    return f"no valid receipt within {timeout:.0f} s of creation; last error: {last or 'none'}"


def json_answer(body: bytes) -> dict[str, Any]:
    """A peer's JSON object answer, or an empty one for anything else."""
    try:
        return parse_object(body, what="answer")
    except JsonInvalid:
        return {}
