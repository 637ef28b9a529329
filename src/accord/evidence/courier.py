"""The sending side of a package transfer: a worker of the running node that moves queued
packages to their recipients (see :mod:`accord.evidence.transfer` for the protocol).

Each transfer is claimed with a lease that every confirmed chunk renews, so a process killed
mid-transfer resumes on restart; the receiver says which chunks it holds, so a resumed transfer
sends only those missing. A chunk the receiver refuses as corrupted is sent again at once. A
transfer that confirms no chunk for ``delivery_timeout`` becomes ``failed`` with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import Connection, Row, Update, and_, select

from accord.audit.log import record
from accord.audit.models import Action, Event
from accord.db.schema import evidence_outbound
from accord.envelope.core import sha256_hex
from accord.envelope.receipt import verify_refusal
from accord.errors import (
    AccordError,
    BlobMissing,
    ChunkRejected,
    EvidenceError,
    InputError,
    ReceiptInvalid,
    StorageError,
    TransferIncomplete,
)
from accord.evidence.models import Manifest
from accord.evidence.package import Package, locate
from accord.evidence.signing import verify_manifest
from accord.evidence.transfer import Chunk, Offer, Plan, expand, verify_receipt
from accord.federation.auth import AUTH_HEADER, sign_request
from accord.federation.outbox import (
    LEASE_MARGIN,
    RETRYABLE_CODES,
    RETRYABLE_STATUS,
    backoff,
    json_answer,
    state_update,
)
from accord.federation.service import Federation
from accord.federation.transport import PeerRequests, PeerResponse, TransportFailure

log = structlog.get_logger("accord.courier")
EVIDENCE_PATH = "/federation/v1/evidence"
RESENDS = 3  # a chunk refused as corrupted this many times in a row waits for the next attempt
TRANSFERS_AT_ONCE = 2
CHUNKS_IN_FLIGHT = 3  # per transfer
JSON, OCTETS = "application/json", "application/octet-stream"


class TransferState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a courier (a lease, renewed by each confirmed chunk)
    RETRYING = "retrying"
    DELIVERED = "delivered"  # the recipient's signed package receipt is stored
    FAILED = "failed"


ACTIVE = (TransferState.QUEUED, TransferState.SENDING, TransferState.RETRYING)


class Retry(Exception):
    """This attempt ends; the transfer is tried again later from where the receiver is."""

    def __init__(self, reason: str, code: str = "") -> None:
        super().__init__(reason)
        self.code = code


class Final(Exception):
    """The transfer cannot succeed: the recipient refused it (signed) or our copy is damaged."""


def queue_transfers(
    connection: Connection,
    *,
    path: str,
    manifest: Manifest,
    token: bytes,
    offer: Offer,
    plan: Plan,
    recipients: tuple[str, ...],
    now: datetime,
) -> None:
    """Queue one transfer per recipient; refused if one is already under way or done."""
    busy = connection.execute(
        select(evidence_outbound.c.recipient, evidence_outbound.c.state).where(
            evidence_outbound.c.package_id == manifest.package_id,
            evidence_outbound.c.recipient.in_(recipients),
        )
    ).all()
    refused = [row for row in busy if row.state != TransferState.FAILED]
    if refused:
        raise InputError(
            f"package {manifest.package_id} is already "
            + ", ".join(f"{row.state} to {row.recipient}" for row in refused),
            advice="See `accord evidence transfers`; only a failed transfer can be sent again.",
        )
    connection.execute(
        evidence_outbound.delete().where(
            evidence_outbound.c.package_id == manifest.package_id,
            evidence_outbound.c.recipient.in_(recipients),
        )
    )
    at = now.timestamp()
    connection.execute(
        evidence_outbound.insert(),
        [
            {
                "package_id": manifest.package_id,
                "recipient": recipient,
                "path": str(path),
                "manifest_sha256": sha256_hex(token),
                "offer": offer.to_json(),
                "state": TransferState.QUEUED.value,
                "chunks_total": len(plan.chunks),
                "chunks_confirmed": 0,
                "attempts": 0,
                "next_attempt_at": at,
                "created_at": at,
                "progress_at": at,
                "updated_at": at,
            }
            for recipient in recipients
        ],
    )


class Courier:
    def __init__(
        self,
        federation: Federation,
        transport: PeerRequests,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._federation = federation
        self._node = federation.node
        self._transport = transport
        self._rng = rng
        self._holding: set[tuple[str, str]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        running: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            free = TRANSFERS_AT_ONCE - len(running)
            try:
                claimed = await self._node.writer.write(self._claim_job(free)) if free else []
            except StorageError as exc:  # the database is away (restarting): poll again
                log.warning("courier claim failed", error=exc.message)
                claimed = []
            for row in claimed:
                task = asyncio.create_task(self._transfer(row))
                running.add(task)
                task.add_done_callback(running.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._node.settings.outbox_poll)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def drain(self) -> None:
        """Run every transfer due now to the end of one attempt (tests, one-shot use)."""
        rows = await self._node.writer.write(self._claim_job(1000))
        await asyncio.gather(*(self._transfer(row) for row in rows))

    def _claim_job(self, limit: int) -> Callable[[Connection], list[Row[Any]]]:
        settings, now = self._node.settings, self._now()
        holding = frozenset(self._holding)

        def job(connection: Connection) -> list[Row[Any]]:
            rows = connection.execute(
                select(evidence_outbound)
                .where(
                    evidence_outbound.c.state.in_([s.value for s in ACTIVE]),
                    evidence_outbound.c.next_attempt_at <= now,
                )
                .order_by(evidence_outbound.c.next_attempt_at)
                .limit(limit + len(holding))
                # couriers of other processes on the same PostgreSQL pass over these (ADR 0021)
                .with_for_update(skip_locked=True)
            ).all()
            claimed: list[Row[Any]] = []
            for row in rows:
                if (row.package_id, row.recipient) in holding or len(claimed) >= limit:
                    continue
                if now > row.progress_at + settings.delivery_timeout:
                    _fail(connection, row, _stalled(settings.delivery_timeout, row), now)
                    continue
                connection.execute(
                    _set(
                        row,
                        TransferState.SENDING,
                        now,
                        attempts=row.attempts + 1,
                        next_attempt_at=now + self._lease(),
                    )
                )
                claimed.append(row)
            return claimed

        return job

    async def _transfer(self, row: Row[Any]) -> None:
        key = (row.package_id, row.recipient)
        self._holding.add(key)
        try:
            try:
                receipt = await self._attempt(row)
            except Retry as exc:
                outcome = self._retry(row, str(exc))
            except Final as exc:
                outcome = _failed(row, str(exc), self._now())
            except AccordError as exc:  # a malformed answer, a directory without the peer
                outcome = self._retry(row, exc.message)
            except Exception as exc:  # a crash must not leave the transfer stuck in its lease
                log.exception("transfer attempt crashed", package_id=row.package_id)
                outcome = self._retry(row, f"internal error: {exc!r}")
            else:
                outcome = _delivered(row, receipt, self._now())
            await self._node.writer.write(outcome)
        finally:
            self._holding.discard(key)

    def _package(self, row: Row[Any]) -> Package:
        return locate(row.path, self._node.blobs)

    async def _attempt(self, row: Row[Any]) -> str:
        """Offer, send every chunk the recipient lacks, then ask for the receipt."""
        offer = Offer.from_json(row.offer)
        keys = self._federation.directory().signing_key
        plan = Plan.of(verify_manifest(offer.manifest, keys))
        await asyncio.to_thread(record_sending, self._package(row), offer)
        base = f"{EVIDENCE_PATH}/{row.package_id}"
        lacking = len(plan.chunks) + 1
        while True:
            status = await self._call(row, "POST", f"{base}/offer", row.offer, JSON)
            if status.get("state") == "complete":
                return self._receipt(row, status.get("receipt"))
            missing = list(expand(status.get("missing"), len(plan.chunks)))
            held = _count(status.get("held"), len(plan.chunks))
            if not missing:
                break
            if len(plan.chunks) - held >= lacking:
                raise Retry(f"{row.recipient} still lacks chunks it confirmed or was sent")
            lacking = len(plan.chunks) - held
            await self._progress(row, held, advanced=False)
            await self._send_chunks(row, base, [plan.chunks[i] for i in missing], held)
        answer = await self._call(row, "POST", f"{base}/complete", b"", JSON)
        return self._receipt(row, answer.get("receipt"))

    async def _send_chunks(self, row: Row[Any], base: str, chunks: list[Chunk], held: int) -> None:
        """CHUNKS_IN_FLIGHT uploads at a time (the receiver's hashing, writing and flushing of
        one overlaps the next one's upload); the first failure stops them all."""
        pending = iter(chunks)
        count = [held]
        failures: list[BaseException] = []

        async def upload() -> None:
            for chunk in pending:  # one shared iterator: each chunk is taken once
                if failures:
                    return
                try:
                    await self._send_chunk(row, base, chunk)
                except (Retry, Final, AccordError) as exc:  # AccordError: the blob store
                    failures.append(exc)
                    return
                count[0] += 1
                await self._progress(row, count[0], advanced=True)

        await asyncio.gather(*(upload() for _ in range(CHUNKS_IN_FLIGHT)))
        if failures:
            raise failures[0]

    async def _send_chunk(self, row: Row[Any], base: str, chunk: Chunk) -> None:
        data = await asyncio.to_thread(_read_chunk, self._package(row), chunk)
        for _ in range(RESENDS):
            try:
                await self._call(row, "PUT", f"{base}/chunks/{chunk.index}", data, OCTETS)
            except Retry as exc:
                if exc.code != ChunkRejected.code:
                    raise
                log.warning(
                    "chunk refused, sending again",
                    package_id=row.package_id,
                    index=chunk.index,
                    to=row.recipient,
                )
            else:
                return
        raise Retry(f"chunk {chunk.index} was refused {RESENDS} times in a row as corrupted")

    async def _call(
        self, row: Row[Any], method: str, target: str, body: bytes, media: str
    ) -> dict[str, Any]:
        node = self._node
        peer = self._federation.directory().participant(row.recipient)
        header = sign_request(
            participant=node.id,
            key=node.keys.signing,
            audience=row.recipient,
            method=method,
            target=target,
            now=node.clock.now(),
        )
        try:
            response = await self._transport.request(
                method,
                peer.url + target,
                body,
                {AUTH_HEADER: header, "content-type": media},
            )
        except TransportFailure as exc:
            raise Retry(f"peer unreachable: {exc}") from exc
        answer = json_answer(response.body)
        if response.status == 200:
            return answer
        raise self._refusal(row, response, answer, body)

    def _refusal(
        self, row: Row[Any], response: PeerResponse, answer: dict[str, Any], body: bytes
    ) -> Exception:
        code, message = str(answer.get("code", "")), str(answer.get("message", ""))
        reason = f"HTTP {response.status} {code}: {message}".strip()
        if (
            response.status in RETRYABLE_STATUS
            or response.status == 507
            or code in RETRYABLE_CODES
            or code in (ChunkRejected.code, TransferIncomplete.code)
        ):
            return Retry(reason, code)
        try:
            _check_signed(response, body, row.recipient, self._federation)
        except ReceiptInvalid as exc:
            return Retry(f"{reason} (ignored: {exc.message})")
        return Final(f"refused by {row.recipient}: {reason}")

    def _receipt(self, row: Row[Any], token: object) -> str:
        keys = self._federation.directory().signing_key
        try:
            verify_receipt(
                str(token).encode("ascii"),
                keys,
                package_id=row.package_id,
                manifest_sha256=row.manifest_sha256,
                receiver=row.recipient,
                expected={"sender": self._node.id, "chunks": row.chunks_total},
            )
        except (AccordError, UnicodeEncodeError) as exc:
            raise Retry(f"the receipt from {row.recipient} does not hold: {exc}") from exc
        return str(token)

    async def _progress(self, row: Row[Any], held: int, *, advanced: bool) -> None:
        """Record what the receiver holds and renew the lease; a confirmed chunk is progress
        (what ``delivery_timeout`` counts from)."""
        now, lease = self._now(), self._lease()
        moved = {"progress_at": now} if advanced else {}

        def job(connection: Connection) -> None:
            connection.execute(
                _set(
                    row,
                    TransferState.SENDING,
                    now,
                    chunks_confirmed=held,
                    next_attempt_at=now + lease,
                    **moved,
                    only_from=TransferState.SENDING,
                )
            )

        await self._node.writer.write(job)

    def _retry(self, row: Row[Any], reason: str) -> Callable[[Connection], None]:
        now = self._now()
        at = now + backoff(self._node.settings, row.attempts + 1, self._rng)
        log.info("transfer retry", package_id=row.package_id, to=row.recipient, reason=reason)

        def job(connection: Connection) -> None:
            connection.execute(
                _set(
                    row,
                    TransferState.RETRYING,
                    now,
                    last_error=reason,
                    next_attempt_at=at,
                    only_from=TransferState.SENDING,
                )
            )

        return job

    def _lease(self) -> float:
        return self._node.settings.request_timeout + LEASE_MARGIN

    def _now(self) -> float:
        return self._node.clock.now().timestamp()


def record_sending(package: Package, offer: Offer) -> None:
    """Append the offer's ``sent`` record to our copy of the package unless it is there (the
    database commits the transfer first; a crash before the append is repaired here)."""
    try:
        chain = package.custody_chain()
    except EvidenceError as exc:
        raise Final(exc.message) from exc
    sent = offer.custody[-1]
    if sent not in chain and tuple(chain) == offer.custody[:-1]:
        package.append_custody(sent)


def _read_chunk(package: Package, chunk: Chunk) -> bytes:
    """A chunk of our own copy, refused if it no longer matches the signed manifest (an
    object store that is down is not final: the transfer is retried)."""
    try:
        data = package.read_blob(chunk.blob, chunk.offset, chunk.length)
    except BlobMissing as exc:
        raise Final(f"cannot read {package}/{chunk.blob}: {exc.message}") from exc
    if len(data) != chunk.length or sha256_hex(data) != chunk.sha256:
        raise Final(
            f"chunk {chunk.index} of this node's copy ({chunk.blob} bytes {chunk.offset}.."
            f"{chunk.offset + chunk.length}) does not match the signed manifest: the sealed "
            "package was altered here; run `accord evidence verify` on it"
        )
    return data


def _check_signed(
    response: PeerResponse, body: bytes, recipient: str, federation: Federation
) -> None:
    verify_refusal(
        response.signature,
        response.body,
        request_sha256=sha256_hex(body),
        signer=recipient,
        key=federation.directory().signing_key(recipient),
    )


def _delivered(row: Row[Any], receipt: str, now: float) -> Callable[[Connection], None]:
    def job(connection: Connection) -> None:
        updated = connection.execute(
            _set(
                row,
                TransferState.DELIVERED,
                now,
                receipt=receipt,
                chunks_confirmed=row.chunks_total,
                last_error=None,
                only_from=TransferState.SENDING,
            )
        )
        if updated.rowcount == 1:
            event = Event(
                row.recipient,
                Action.EVIDENCE_DELIVERED,
                row.package_id,
                sha256_hex(receipt.encode()),
                (row.recipient,),
            )
            record(connection, [event], datetime.fromtimestamp(now, UTC))

    return job


def _failed(row: Row[Any], reason: str, now: float) -> Callable[[Connection], None]:
    log.warning("transfer failed", package_id=row.package_id, to=row.recipient, reason=reason)
    return lambda connection: _fail(connection, row, reason, now, TransferState.SENDING)


def _fail(
    connection: Connection,
    row: Row[Any],
    reason: str,
    now: float,
    only_from: TransferState | None = None,
) -> None:
    updated = connection.execute(
        _set(row, TransferState.FAILED, now, last_error=reason, only_from=only_from)
    )
    if updated.rowcount == 1:
        digest_ = sha256_hex(reason.encode())
        event = Event(
            row.recipient, Action.DELIVERY_FAILED, row.package_id, digest_, (row.recipient,)
        )
        record(connection, [event], datetime.fromtimestamp(now, UTC))


def _set(
    row: Row[Any],
    state: TransferState,
    now: float,
    *,
    only_from: TransferState | None = None,
    **values: object,
) -> Update:
    condition = and_(
        evidence_outbound.c.package_id == row.package_id,
        evidence_outbound.c.recipient == row.recipient,
    )
    return state_update(evidence_outbound, condition, state, now, only_from, **values)


def _stalled(timeout: float, row: Row[Any]) -> str:
    return (
        f"no chunk confirmed for {timeout:.0f} s ({row.chunks_confirmed} of "
        f"{row.chunks_total} held); last error: {row.last_error or 'none'}"
    )


def _count(value: object, total: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= total:
        raise Retry(f"the receiver says it holds {value!r} of {total} chunks")
    return value
