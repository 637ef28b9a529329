"""The receiving side of a package transfer (see :mod:`accord.evidence.transfer`).

A package offered to this node is built in ``evidence/incoming/ID`` and moved to
``evidence/received/ID`` once complete. Each chunk is checked against the signed manifest,
written and flushed before the database says it is held, so what the sender is told is held
survives a crash; a chunk written but not yet recorded is simply asked for again. A transfer
that gets no offer or chunk for ``evidence_incoming_expiry`` was abandoned by its sender: it is
discarded (rows, folder) and audited, and a sender that comes back starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection, Row, delete, func, insert, select, update

from accord.audit.log import record
from accord.audit.models import Action, Event
from accord.blobs.local import fsync_dir
from accord.db.schema import evidence_chunks, evidence_inbound
from accord.db.upsert import insert_or_ignore
from accord.envelope.core import sha256_hex
from accord.errors import (
    AccordError,
    ChunkRejected,
    FieldError,
    InsufficientStorage,
    TransferIncomplete,
    TransferRefused,
)
from accord.evidence.models import CustodyRecord, Manifest
from accord.evidence.models import Event as Custody
from accord.evidence.onward import index_received
from accord.evidence.package import (
    CUSTODY,
    DIRECTORY,
    FILES,
    MANIFEST,
    RECEIVED,
    Package,
    publish,
    stored,
    sync_tree,
)
from accord.evidence.signing import next_record, sign_custody, verify_chain
from accord.evidence.signing import verify_manifest as read_manifest
from accord.evidence.transfer import (
    RECEIPT_TYPE,
    Offer,
    PackageReceipt,
    Plan,
    custody_tokens,
    ranges,
    sign_receipt,
)
from accord.federation.service import Federation
from accord.identity.directory import Directory, verify_directory

log = structlog.get_logger("accord.evidence")
RECEIVING, COMPLETE = "receiving", "complete"
SPARE_BYTES = 256 * 1024 * 1024  # kept free beyond an offered package
EXPIRY_SWEEP = 600.0  # how often a running node looks for abandoned transfers, at most


@dataclass(frozen=True)
class Held:
    """A package this node is receiving: its verified manifest and its chunks."""

    manifest: Manifest
    plan: Plan


class Inbound:
    def __init__(self, federation: Federation) -> None:
        self._federation = federation
        self.node = federation.node
        self.root = self.node.home / "evidence"
        # Offers and completions one at a time: each rewrites files of the package folder.
        self._lock = threading.Lock()
        self._held: dict[str, Held] = {}

    def incoming(self, package_id: str) -> Path:
        return self.root / "incoming" / package_id

    def received(self, package_id: str) -> Path:
        return self.root / "received" / package_id

    def received_package(self, package_id: str) -> Package:
        """The package as received: in the node's blob store (ADR 0022), by default the
        folder :meth:`received`."""
        return stored(self.node.blobs, f"{RECEIVED}/{package_id}")

    # Offer -----------------------------------------------------------------------------------

    def offer(self, sender: str, package_id: str, body: bytes) -> dict[str, Any]:
        """Check an offer and prepare to receive it; idempotent for the same offer."""
        offer = Offer.from_json(body)
        directory = self._federation.directory()
        manifest = read_manifest(offer.manifest, directory.signing_key)
        chain = verify_chain(offer.manifest, manifest, offer.custody, directory.signing_key)
        self._check_offer(sender, package_id, manifest, chain)
        self._check_sealing_directory(offer, manifest, directory)
        manifest_sha256 = sha256_hex(offer.manifest)
        with self._lock:
            row = self._row(package_id)
            if row is None:
                plan = Plan.of(manifest)
                self._prepare(offer, manifest, plan)
                row = self.node.writer.run(
                    self._insert_job(sender, package_id, manifest_sha256, offer, plan)
                )
            if row.sender != sender or row.manifest_sha256 != manifest_sha256:
                raise TransferRefused(
                    f"package {package_id} was already offered by {row.sender} with another "
                    "manifest",
                    advice="A package id names one sealed package; seal a new package instead.",
                )
            if row.state == RECEIVING:  # the sender is still at it: not abandoned
                self.node.writer.run(_touch(package_id, self.node.clock.now().timestamp()))
            else:  # the receipt goes out only once the package is where it is kept
                self._settle(package_id)
            return self.status(row)

    def _check_offer(
        self, sender: str, package_id: str, manifest: Manifest, chain: list[CustodyRecord]
    ) -> None:
        me = self.node.id
        if manifest.package_id != package_id:
            raise TransferRefused(
                f"the offer is for package {manifest.package_id}, not {package_id}",
                advice="Offer a package at its own address.",
            )
        if me not in manifest.recipients:
            raise TransferRefused(
                f"{me} is not a recipient of package {package_id}: its files are not encrypted "
                "to this node",
                advice="Seal the package again with this participant among --to.",
            )
        last = chain[-1]
        if last.event is not Custody.SENT or last.actor != sender:
            raise TransferRefused(
                f"the custody chain of package {package_id} ends with {last.event} by "
                f"{last.actor}, not with the sending by {sender}",
                advice="Send with `accord evidence send`, which records the sending first.",
            )
        if me not in last.details.get("to", "").split(","):
            raise TransferRefused(
                f"the sending recorded in the custody chain is to {last.details.get('to')!r}, "
                f"not to {me}",
                advice="Send the package to the participants its custody record names.",
            )

    def _check_sealing_directory(
        self, offer: Offer, manifest: Manifest, directory: Directory
    ) -> None:
        """The directory travelling with the package is what offline verifiers of the
        receiver's copy will trust: it must be signed by this federation's stewards, in force
        when the package was sealed, and give the sealer the key that signed the manifest."""
        try:
            sealing = verify_directory(
                offer.directory,
                trusted=directory.document.stewards,
                installed=None,
                now=manifest.sealed_at,
            )
            same_key = sealing.signing_key(manifest.sealed_by) == directory.signing_key(
                manifest.sealed_by
            )
        except AccordError as exc:
            raise TransferRefused(
                f"the directory sent with package {manifest.package_id} is not one this "
                f"federation's stewards signed for {manifest.sealed_at:%Y-%m-%d}: {exc.message}",
                advice="Send the package as sealed, with the directory it was sealed under.",
            ) from exc
        if not same_key:
            raise TransferRefused(
                f"the directory sent with package {manifest.package_id} gives "
                f"{manifest.sealed_by} another signing key than the one that signed the manifest",
                advice="Send the package as sealed, with the directory it was sealed under.",
            )

    def _prepare(self, offer: Offer, manifest: Manifest, plan: Plan) -> None:
        """An empty package folder with the manifest, directory and offered custody chain,
        and each blob allocated at its full size (sparse until chunks arrive)."""
        folder = self.incoming(manifest.package_id)
        free = shutil.disk_usage(self.root.parent).free
        if free < plan.total_bytes + SPARE_BYTES:
            raise InsufficientStorage(
                f"this node has {free} bytes free; package {manifest.package_id} needs "
                f"{plan.total_bytes} and {SPARE_BYTES} are kept spare",
                advice="The receiving operator must free disk space; the sender will retry.",
            )
        shutil.rmtree(folder, ignore_errors=True)  # a folder without its row: a crashed offer
        (folder / FILES).mkdir(parents=True)
        (folder / MANIFEST).write_bytes(offer.manifest + b"\n")
        (folder / DIRECTORY).write_bytes(offer.directory)
        (folder / CUSTODY).write_bytes(b"".join(t + b"\n" for t in offer.custody))
        try:
            for entry in manifest.files:
                with (folder / entry.blob).open("wb") as handle:
                    if entry.ciphertext_size:  # reserved, so two offers cannot share free space
                        os.posix_fallocate(handle.fileno(), 0, entry.ciphertext_size)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise InsufficientStorage(
                f"cannot reserve {plan.total_bytes} bytes for package {manifest.package_id}: "
                f"{exc.strerror}",
                advice="The receiving operator must free disk space; the sender will retry.",
            ) from exc
        sync_tree(folder)  # the folder exists on disk before the database says so
        self._held[manifest.package_id] = Held(manifest, plan)

    def _insert_job(
        self, sender: str, package_id: str, manifest_sha256: str, offer: Offer, plan: Plan
    ) -> Any:
        now = self.node.clock.now().timestamp()

        def job(connection: Connection) -> Row[Any]:
            connection.execute(
                insert(evidence_inbound).values(
                    package_id=package_id,
                    sender=sender,
                    manifest_sha256=manifest_sha256,
                    custody=custody_tokens(offer.custody),
                    state=RECEIVING,
                    chunks_total=len(plan.chunks),
                    bytes_total=plan.total_bytes,
                    offered_at=now,
                    active_at=now,
                )
            )
            return _select(connection, package_id)

        return job

    def status(self, row: Row[Any]) -> dict[str, Any]:
        """What the sender needs next: the chunks still missing, or the receipt."""
        if row.state == COMPLETE:
            return {"state": COMPLETE, "receipt": row.receipt}
        with self.node.read_engine.connect() as connection:
            held = set(
                connection.scalars(
                    select(evidence_chunks.c.idx).where(
                        evidence_chunks.c.package_id == row.package_id
                    )
                )
            )
        missing = (i for i in range(row.chunks_total) if i not in held)
        return {
            "state": RECEIVING,
            "chunks": row.chunks_total,
            "held": len(held),
            "missing": [list(run) for run in ranges(missing)],
        }

    # Chunks ----------------------------------------------------------------------------------

    def put_chunk(self, sender: str, package_id: str, index: int, data: bytes) -> dict[str, Any]:
        """Keep one chunk if it is the one the signed manifest names at ``index``."""
        row = self._expect(sender, package_id)
        if row.state == COMPLETE:
            return {"state": COMPLETE, "index": index}
        chunk = self._plan(row).plan.chunk(index)
        where = f"chunk {index} ({chunk.blob} bytes {chunk.offset}..{chunk.offset + chunk.length})"
        if len(data) != chunk.length:
            raise ChunkRejected(
                f"{where} is {chunk.length} bytes; {len(data)} arrived",
                advice="Send the chunk again, whole.",
                errors=[FieldError("body", "chunk.length", f"must be {chunk.length} bytes")],
            )
        if sha256_hex(data) != chunk.sha256:
            log.warning("chunk rejected", package_id=package_id, index=index, sender=sender)
            raise ChunkRejected(
                f"{where} does not match its SHA-256 in the signed manifest: it was corrupted "
                "or substituted on the way, and was not kept",
                advice="Send the chunk again from the sealed package.",
                errors=[FieldError("body", "chunk.sha256", "differs from the signed manifest")],
            )
        try:
            _write_at(self.incoming(package_id) / chunk.blob, data, chunk.offset)
        except FileNotFoundError:  # completed meanwhile (folder moved) or expired (removed)
            return {"state": self._expect(sender, package_id).state, "index": index}
        except OSError as exc:
            raise InsufficientStorage(
                f"{where} could not be written: {exc.strerror}; it was not kept",
                advice="The receiving operator must free disk space; the sender will retry.",
            ) from exc

        now = self.node.clock.now().timestamp()

        def job(connection: Connection) -> str | None:
            # Only while receiving: a late duplicate must not outlive the completion or expiry.
            current = _first(connection, package_id)
            if current is None or current.state != RECEIVING:
                return None if current is None else COMPLETE
            insert_or_ignore(connection, evidence_chunks, package_id=package_id, idx=index)
            _touch(package_id, now)(connection)
            return RECEIVING

        state = self.node.writer.run(job)
        if state is None:
            raise _not_offered(package_id)
        return {"state": state, "index": index}

    # Completion ------------------------------------------------------------------------------

    def complete(self, sender: str, package_id: str) -> str:
        """Once every chunk is held: the ``received`` and ``verified`` custody records, the
        audit record and the signed receipt (all or none), then the package moves into
        ``received``. Asking again returns the same receipt."""
        with self._lock:
            row = self._expect(sender, package_id)
            if row.state != COMPLETE:
                row = self._finish(row)
            self._settle(package_id)
        return str(row.receipt)

    def _finish(self, row: Row[Any]) -> Row[Any]:
        status = self.status(row)
        if status["held"] != row.chunks_total:
            runs = ", ".join(f"{a}..{b - 1}" for a, b in status["missing"][:5])
            raise TransferIncomplete(
                f"package {row.package_id}: {status['held']} of {row.chunks_total} chunks are "
                f"held; missing {runs}",
                advice="Send the missing chunks, then ask for completion again.",
            )
        held = self._plan(row)
        package = Package(self.incoming(row.package_id))
        token = package.manifest_token()
        keys = self._federation.directory().signing_key
        offered = [line.encode("ascii") for line in row.custody.split("\n")]
        verify_chain(token, read_manifest(token, keys), offered, keys)
        self._check_sizes(package, held.manifest)
        me, now = self.node.id, self.node.clock.now()
        chain = list(offered)
        for event, details in (
            (Custody.RECEIVED, {"from": row.sender}),
            (
                Custody.VERIFIED,
                {
                    "checked": "manifest signature, custody chain, SHA-256 of every chunk",
                    "chunks": str(row.chunks_total),
                    "bytes": str(row.bytes_total),
                },
            ),
        ):
            step = next_record(
                token, held.manifest, chain, event=event, actor=me, at=now, details=details
            )
            chain.append(sign_custody(step, self.node.keys.signing))
        _replace(package.root / CUSTODY, b"".join(t + b"\n" for t in chain))
        audit = Event(
            me, Action.EVIDENCE_RECEIVED, row.package_id, row.manifest_sha256, (row.sender, me)
        )

        def job(connection: Connection) -> Row[Any]:
            [index] = record(connection, [audit], now)
            index_received(connection, held.manifest)
            receipt = PackageReceipt(
                type=RECEIPT_TYPE,
                package_id=row.package_id,
                manifest_sha256=row.manifest_sha256,
                sender=row.sender,
                receiver=me,
                received_at=now,
                chunks=row.chunks_total,
                bytes=row.bytes_total,
                custody_sha256=sha256_hex(chain[-1]),
                audit_index=index,
            )
            signed = sign_receipt(receipt, self.node.keys.signing).decode("ascii")
            connection.execute(
                update(evidence_inbound)
                .where(evidence_inbound.c.package_id == row.package_id)
                .values(state=COMPLETE, receipt=signed, completed_at=now.timestamp())
            )
            connection.execute(
                delete(evidence_chunks).where(evidence_chunks.c.package_id == row.package_id)
            )
            return _select(connection, row.package_id)

        return self.node.writer.run(job)

    def _check_sizes(self, package: Package, manifest: Manifest) -> None:
        for entry in manifest.files:
            size = package.blob(entry.blob).stat().st_size
            if size != entry.ciphertext_size:
                raise TransferIncomplete(
                    f"{entry.blob} is {size} bytes, the manifest says {entry.ciphertext_size}",
                    advice="The receiving node's copy was altered; send the package again.",
                )

    def _settle(self, package_id: str) -> None:
        """Move a completed package into ``received`` (again after a crash, harmlessly). An
        object store gets a streamed copy, the manifest last, before the folder goes; if
        the store fails the folder stays, and the next completion call or start retries."""
        source, target = self.incoming(package_id), self.received(package_id)
        kept = self.received_package(package_id)
        if kept.store is not None:
            if source.exists():
                publish(Package(source), kept)
                shutil.rmtree(source)
                fsync_dir(source.parent)
        elif source.exists() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            source.rename(target)
            fsync_dir(target.parent)
            fsync_dir(source.parent)
        self._held.pop(package_id, None)

    def recover(self) -> None:
        """At start: finish moving packages completed just before a crash."""
        with self.node.read_engine.connect() as connection:
            done = connection.scalars(
                select(evidence_inbound.c.package_id).where(evidence_inbound.c.state == COMPLETE)
            ).all()
        for package_id in done:
            self._settle(package_id)

    # Expiry ----------------------------------------------------------------------------------

    def expire(self) -> list[str]:
        """Discard the transfers that got no offer or chunk for ``evidence_incoming_expiry``:
        their rows and an ``evidence.incoming_expired`` audit record in one transaction, then
        their folders; and any incoming folder without a row (left by a crash between the two).
        Returns the package ids discarded. Completed packages are never touched."""
        now = self.node.clock.now()
        silent_since = now.timestamp() - self.node.settings.evidence_incoming_expiry
        expired: list[str] = []
        with self._lock:  # no offer prepares a folder meanwhile
            with self.node.read_engine.connect() as connection:
                stale = connection.execute(
                    select(evidence_inbound).where(
                        evidence_inbound.c.state == RECEIVING,
                        _last_active() < silent_since,
                    )
                ).all()
            for row in stale:
                if self.node.writer.run(self._expire_job(row, silent_since, now)):
                    expired.append(row.package_id)
            with self.node.read_engine.connect() as connection:
                known = set(connection.scalars(select(evidence_inbound.c.package_id)))
            folder = self.root / "incoming"
            for package_id in expired:  # their rows are gone with this process's commit
                shutil.rmtree(self.incoming(package_id), ignore_errors=True)
                self._held.pop(package_id, None)
            for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                # A folder without a row is a crash's leftover only once it is as old as the
                # expiry: on a shared database another process may be preparing it, its row
                # not yet committed (this lock holds within one process only; ADR 0021).
                if path.name not in known and _modified(path) < silent_since:
                    shutil.rmtree(path, ignore_errors=True)
                    self._held.pop(path.name, None)
            if folder.is_dir():
                fsync_dir(folder)
        for package_id in expired:
            log.warning("abandoned incoming transfer discarded", package_id=package_id)
        return expired

    def _expire_job(self, row: Row[Any], silent_since: float, now: datetime) -> Any:
        audit = Event(
            self.node.id,
            Action.EVIDENCE_INCOMING_EXPIRED,
            row.package_id,
            row.manifest_sha256,
            (row.sender, self.node.id),
        )

        def job(connection: Connection) -> bool:
            current = _first(connection, row.package_id)
            if current is None or current.state != RECEIVING:
                return False
            if (current.active_at or current.offered_at) >= silent_since:
                return False  # a chunk arrived meanwhile
            record(connection, [audit], now)
            connection.execute(
                delete(evidence_chunks).where(evidence_chunks.c.package_id == row.package_id)
            )
            connection.execute(
                delete(evidence_inbound).where(evidence_inbound.c.package_id == row.package_id)
            )
            return True

        return job

    # Rows ------------------------------------------------------------------------------------

    def _row(self, package_id: str) -> Row[Any] | None:
        with self.node.read_engine.connect() as connection:
            return connection.execute(
                select(evidence_inbound).where(evidence_inbound.c.package_id == package_id)
            ).first()

    def _expect(self, sender: str, package_id: str) -> Row[Any]:
        row = self._row(package_id)
        if row is None:
            raise _not_offered(package_id)
        if row.sender != sender:
            raise TransferRefused(
                f"package {package_id} is being sent by {row.sender}, not {sender}",
                advice="Only the participant who offered a package sends its chunks.",
            )
        return row

    def _plan(self, row: Row[Any]) -> Held:
        held = self._held.get(row.package_id)
        if held is None:
            token = Package(self.incoming(row.package_id)).manifest_token()
            manifest = read_manifest(token, self._federation.directory().signing_key)
            held = self._held[row.package_id] = Held(manifest, Plan.of(manifest))
        return held


def _select(connection: Connection, package_id: str) -> Row[Any]:
    row = _first(connection, package_id)
    if row is None:
        raise _not_offered(package_id)
    return row


def _first(connection: Connection, package_id: str) -> Row[Any] | None:
    return connection.execute(
        select(evidence_inbound).where(evidence_inbound.c.package_id == package_id)
    ).first()


def _not_offered(package_id: str) -> TransferIncomplete:
    return TransferIncomplete(
        f"package {package_id} was not offered to this node, or its transfer expired unfinished",
        advice="Offer the package first (POST its offer), then send its chunks.",
    )


def _last_active() -> Any:
    return func.coalesce(evidence_inbound.c.active_at, evidence_inbound.c.offered_at)


def _touch(package_id: str, now: float) -> Any:
    def job(connection: Connection) -> None:
        connection.execute(
            update(evidence_inbound)
            .where(evidence_inbound.c.package_id == package_id)
            .values(active_at=now)
        )

    return job


def _modified(path: Path) -> float:
    """When ``path`` last changed (0 when it is already gone)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


async def expire_abandoned(inbound: Inbound, stop: asyncio.Event) -> None:
    """A running node's sweep: at start, then every EXPIRY_SWEEP (or a quarter of the expiry,
    if shorter) until ``stop``."""
    interval = min(EXPIRY_SWEEP, inbound.node.settings.evidence_incoming_expiry / 4)
    while not stop.is_set():
        try:
            await asyncio.to_thread(inbound.expire)
        except Exception:  # a failed sweep is tried again at the next one, never fatal
            log.exception("sweep of abandoned incoming transfers failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def _write_at(path: Path, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` and flush it to disk (pwrite may write less)."""
    descriptor = os.open(path, os.O_WRONLY)
    try:
        view, done = memoryview(data), 0
        while done < len(view):
            done += os.pwrite(descriptor, view[done:], offset + done)
        os.fdatasync(descriptor)
    finally:
        os.close(descriptor)


def _replace(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a crash leaves the old or the new content)."""
    temporary = path.with_name(path.name + ".new")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    fsync_dir(path.parent)
