"""The node's side of evidence: sealing under its directory, opening with its key, and keeping
custody records and the audit log in step."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Connection, func, select

from accord.audit.anchor import make_anchor
from accord.audit.log import record
from accord.audit.models import Action
from accord.audit.models import Event as AuditEvent
from accord.db.schema import evidence_chunks, evidence_inbound, evidence_outbound
from accord.envelope.core import sha256_hex
from accord.envelope.models import new_message_id
from accord.errors import FieldError, InputError, NotFoundError
from accord.evidence.courier import ACTIVE, queue_transfers, record_sending
from accord.evidence.inbound import COMPLETE, Inbound
from accord.evidence.models import Acquisition, CustodyRecord, Event, Manifest
from accord.evidence.onward import Screen
from accord.evidence.package import (
    CUSTODY,
    DIRECTORY,
    FILES,
    MANIFEST,
    PACKAGES,
    Package,
    building,
    copy_out,
    remove,
    stored,
)
from accord.evidence.seal import Progress, Sealer, SealOrder, Source, seal
from accord.evidence.signing import KeyLookup, next_record, sign_custody
from accord.evidence.transfer import Offer, Plan
from accord.evidence.trust import DirectoryKeys
from accord.evidence.verify import Verified, extract, read_custody, refuse_disposed, verify_package
from accord.federation.service import Federation
from accord.node.home import Node
from accord.requests.events import Party, RequestState
from accord.requests.service import Proposal, Requests, request_row


@dataclass(frozen=True)
class Transfer:
    """One package on its way out (to ``peer``) or in (from ``peer``)."""

    direction: str
    package_id: str
    peer: str
    state: str
    chunks_held: int
    chunks_total: int
    updated_at: float
    detail: str  # the last error, or where a received package is
    receipt: str | None

    def as_json(self) -> dict[str, object]:
        return asdict(self)


class Evidence:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._federation = Federation(node)

    def anchor(self, package: Package) -> int:
        """Keep with ``package`` the anchors this node's log can give for what it signed in
        it (ADR 0018); returns how many were added."""
        have = set(package.anchors())
        added = 0
        with self.node.read_engine.connect() as connection:
            for token in (package.manifest_token(), *package.custody_chain()):
                try:
                    found = make_anchor(connection, sha256_hex(token))
                except NotFoundError:
                    continue  # not in this node's log, or in no co-signed checkpoint yet
                document = json.dumps(found, sort_keys=True).encode()
                if document not in have:
                    package.add_anchor(document)
                    added += 1
        return added

    def keys(self, package: Package | None = None) -> KeyLookup:
        """Signing keys from the directory installed on this node, by time, with the
        package's anchors for what was signed before a rotation (ADR 0018)."""
        return DirectoryKeys(self._federation.directory(), package.anchors() if package else ())

    def seal(
        self,
        sources: tuple[Source, ...],
        *,
        case: str,
        to: Sequence[str],
        acquisition: Acquisition,
        use_limitations: tuple[str, ...],
        out: Path | None,
        progress: Progress,
        request_id: str | None = None,
        forwarded: Callable[[Proposal], None] = lambda _: None,
    ) -> Manifest:
        """Seal for every participant ``to`` names (groups expanded) and this node itself; the
        package exists only if its audit record was written too. Under ``request_id`` the
        package names the request and carries the use limitations this node's reply set;
        files received under use limitations go only where UNCC Art. 36 allows (onward), and
        a seal for a participant allowed by an authorisation is recorded as a forward on the
        request, with the seal: ``forwarded`` is told of each. Without ``out`` the package is
        kept in the node's blob store, under ``evidence/packages/ID`` (ADR 0022)."""
        node, directory = self.node, self._federation.directory()
        ids = [p.id for address in to for p in directory.resolve(address)] + [node.id]
        recipients = tuple((pid, directory.encryption_key(pid)) for pid in dict.fromkeys(ids))
        now = node.clock.now()
        if request_id is not None:
            use_limitations += self._reply_limitations(request_id)
        order = SealOrder(sources, case, recipients, acquisition, use_limitations, request_id)
        sealer = Sealer(node.id, node.keys.signing, directory.signed)
        requests = Requests(self._federation)
        screen = Screen(node, [pid for pid, _ in recipients], requests, now)
        package_id = new_message_id(now)
        package = Package(out) if out else stored(node.blobs, f"{PACKAGES}/{package_id}")
        if out is None and package.store is None:  # the node folder's first package
            package.root.parent.mkdir(parents=True, exist_ok=True)
        manifest = seal(
            order,
            sealer,
            out=package,
            now=now,
            package_id=package_id,
            progress=progress,
            screen=screen,
        )
        token = package.manifest_token()
        event = AuditEvent(
            node.id,
            Action.EVIDENCE_SEALED,
            manifest.package_id,
            sha256_hex(token),
            manifest.recipients,
        )
        try:  # with the forwards on the requests its files came under (UNCC Art. 36(3))
            requests.commit(screen.forwards, now, [event])
        except BaseException:
            remove(package)
            raise
        for move in screen.forwards:
            forwarded(move)
        return manifest

    def _reply_limitations(self, request_id: str) -> tuple[str, ...]:
        """The use limitations this node set when replying to ``request_id`` as the requested
        State (UNTOC 18(19); UNCC Art. 36); none when it is the requesting one."""
        with self.node.read_engine.connect() as connection:
            row = request_row(connection, request_id)
        if row.role != Party.REQUESTED or row.folded is None:
            return ()
        return RequestState.model_validate_json(row.folded).use_limitations

    def send(self, package: Package, to: Sequence[str]) -> tuple[str, ...]:
        """Record the sending (custody and audit) and queue the transfer to
        each recipient; the running node's courier moves the chunks. Returns the recipients."""
        node, directory = self.node, self._federation.directory()
        token = package.manifest_token()
        manifest, custody = read_custody(package, DirectoryKeys(directory, package.anchors()))
        refuse_disposed(manifest, custody)
        chain = package.custody_chain()
        named = [p.id for a in to for p in directory.resolve(a) if p.id != node.id]
        default = [r for r in manifest.recipients if r != node.id]
        recipients = tuple(dict.fromkeys(named if to else default))
        _check_recipients(manifest, recipients, node.id)
        now = node.clock.now()
        step = next_record(
            token,
            manifest,
            chain,
            event=Event.SENT,
            actor=node.id,
            at=now,
            details={"to": ",".join(recipients)},
        )
        signed = sign_custody(step, node.keys.signing)
        offer = Offer(token, (*chain, signed), package.directory())
        plan = Plan.of(manifest)
        event = AuditEvent(
            node.id,
            Action.EVIDENCE_SENT,
            manifest.package_id,
            sha256_hex(signed),
            (node.id, *recipients),
        )

        def job(connection: Connection) -> None:
            queue_transfers(
                connection,
                path=package.location,
                manifest=manifest,
                token=token,
                offer=offer,
                plan=plan,
                recipients=recipients,
                now=now,
            )
            record(connection, [event], now)

        node.writer.run(job)
        # After the commit: a crash in between leaves the record in the queued offer, and the
        # courier appends it before sending (courier.record_sending).
        record_sending(package, offer)
        return recipients

    def transfers(self) -> list[Transfer]:
        """Packages this node sends and receives, newest first."""
        inbound = Inbound(self._federation)
        with self.node.read_engine.connect() as connection:
            sent = connection.execute(
                select(evidence_outbound).order_by(evidence_outbound.c.created_at.desc())
            ).all()
            received = connection.execute(
                select(evidence_inbound).order_by(evidence_inbound.c.offered_at.desc())
            ).all()
            counts = select(evidence_chunks.c.package_id, func.count()).group_by(
                evidence_chunks.c.package_id
            )
            held = {str(pid): int(n) for pid, n in connection.execute(counts)}
        return [
            Transfer(
                "out",
                r.package_id,
                r.recipient,
                r.state,
                r.chunks_confirmed,
                r.chunks_total,
                r.updated_at,
                r.last_error or "",
                r.receipt,
            )
            for r in sent
        ] + [
            Transfer(
                "in",
                r.package_id,
                r.sender,
                r.state,
                r.chunks_total if r.state == COMPLETE else held.get(r.package_id, 0),
                r.chunks_total,
                r.completed_at or r.offered_at,
                str(inbound.received_package(r.package_id)) if r.state == COMPLETE else "",
                r.receipt,
            )
            for r in received
        ]

    def extract(self, package: Package, out: Path, progress: Progress) -> Verified:
        """Verify and decrypt with this node's key, then add the ``extracted`` custody record
        and its audit record (both or neither)."""
        verified = extract(
            package, self.keys(package), self.node.ring.decryption_keys(), out, progress=progress
        )
        details = {"to": str(out), "files": str(len(verified.manifest.files))}
        signed = self._next(package, verified.manifest, Event.EXTRACTED, details)
        self._witness(package, verified.manifest, signed, Action.EVIDENCE_EXTRACTED, out)
        return verified

    def open(self, package: Package, progress: Progress) -> Verified:
        """Decrypt with this node's key and check every plaintext, writing nothing; then add
        the ``opened`` custody record and its audit record (both or neither)."""
        verified = verify_package(
            package,
            self.keys(package),
            identity=self.node.ring.decryption_keys(),
            progress=progress,
        )
        details = {"files": str(len(verified.manifest.files))}
        signed = self._next(package, verified.manifest, Event.OPENED, details)
        self._witness(package, verified.manifest, signed, Action.EVIDENCE_OPENED)
        return verified

    def export(self, package: Package, out: Path, purpose: str, progress: Progress) -> Verified:
        """Copy the sealed package to ``out`` (for a court, removable media, an archive),
        verify the copy, and record the export, with its purpose, in the chains of both
        copies and in the audit log. ``out`` appears only if all of it succeeded."""
        keys = self.keys(package)
        manifest, custody = read_custody(package, keys)
        refuse_disposed(manifest, custody)
        purpose = _required_text("purpose", purpose)
        signed = self._next(package, manifest, Event.EXPORTED, {"to": str(out), "purpose": purpose})
        with building(out) as work:
            for name in (MANIFEST, DIRECTORY, *(entry.blob for entry in manifest.files)):
                copy_out(package, name, work / name)
            (work / CUSTODY).write_bytes(b"".join(t + b"\n" for t in package.custody_chain()))
            Package(work).append_custody(signed)
            verified = verify_package(Package(work), keys, progress=progress)
        self._witness(package, manifest, signed, Action.EVIDENCE_EXPORTED, out)
        return verified

    def dispose(self, package: Package, reason: str) -> CustodyRecord:
        """Record the disposal (custody and audit, both or neither), then delete the package's
        files; its manifest and chain of custody stay as the record. Disposing of a package
        already disposed of finishes deleting its files (after a crash)."""
        manifest, custody = read_custody(package, self.keys(package))
        self._refuse_while_sending(manifest.package_id)
        if custody[-1].event is not Event.DISPOSED:
            details = {
                "reason": _required_text("reason", reason),
                "files": str(len(manifest.files)),
                "bytes": str(sum(entry.size for entry in manifest.files)),
            }
            signed = self._next(package, manifest, Event.DISPOSED, details)
            self._witness(package, manifest, signed, Action.EVIDENCE_DISPOSED)
            custody = read_custody(package, self.keys(package))[1]
        remove(package, FILES)
        return custody[-1]

    def _refuse_while_sending(self, package_id: str) -> None:
        with self.node.read_engine.connect() as connection:
            busy = connection.scalars(
                select(evidence_outbound.c.recipient).where(
                    evidence_outbound.c.package_id == package_id,
                    evidence_outbound.c.state.in_([state.value for state in ACTIVE]),
                )
            ).all()
        if busy:
            raise InputError(
                f"package {package_id} is being sent to {', '.join(busy)}; it cannot be disposed "
                "of while its transfer runs",
                advice="Wait until `accord evidence transfers` shows it delivered or failed.",
            )

    def _next(
        self, package: Package, manifest: Manifest, event: Event, details: dict[str, str]
    ) -> bytes:
        """This node's signed record of ``event``, extending the package's chain."""
        step = next_record(
            package.manifest_token(),
            manifest,
            package.custody_chain(),
            event=event,
            actor=self.node.id,
            at=self.node.clock.now(),
            details=details,
        )
        return sign_custody(step, self.node.keys.signing)

    def _witness(
        self,
        package: Package,
        manifest: Manifest,
        signed: bytes,
        action: Action,
        written: Path | None = None,
    ) -> None:
        """Append ``signed`` to the package's chain and its audit record to the log, both or
        neither: if the audit fails, the record (and what was ``written``) is taken back."""
        node = self.node
        event = AuditEvent(
            node.id,
            action,
            manifest.package_id,
            sha256_hex(signed),
            manifest.recipients,
        )
        length = None
        try:
            length = package.append_custody(signed)
            node.writer.run(lambda connection: _record(connection, event, node))
        except BaseException:
            if length is not None:
                package.truncate_custody(length)
            if written is not None:
                shutil.rmtree(written, ignore_errors=True)
            raise


def _required_text(field: str, text: str) -> str:
    """A one-line statement for a custody record (a purpose, a reason)."""
    text = " ".join(text.split())
    if not 1 <= len(text) <= 500:
        raise InputError(
            f"--{field} must say, in one line of 1 to 500 characters, why",
            advice=f"The {field} is kept in the signed chain of custody; state it plainly.",
            errors=[FieldError(field, "length", "1 to 500 characters")],
        )
    return text


def _record(connection: Connection, event: AuditEvent, node: Node) -> None:
    record(connection, [event], node.clock.now())


def _check_recipients(manifest: Manifest, recipients: tuple[str, ...], me: str) -> None:
    problems = [
        FieldError(
            "to",
            "recipient.sealed",
            f"{pid} is not a recipient of package {manifest.package_id}: its files are not "
            "encrypted to them",
        )
        for pid in recipients
        if pid not in manifest.recipients or pid == me
    ]
    if not recipients or problems:
        raise InputError(
            f"package {manifest.package_id} cannot be sent to {', '.join(recipients) or 'nobody'}",
            advice="Send to the participants it was sealed for (see `accord evidence custody`),"
            " or seal it again for others.",
            errors=problems or [FieldError("to", "required", "names no other recipient")],
        )
