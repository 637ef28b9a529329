"""The node's side of evidence: sealing under its directory, opening with its key, and keeping
custody records and the audit log in step."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Connection

from accord.audit.log import record
from accord.audit.models import Action
from accord.audit.models import Event as AuditEvent
from accord.envelope.models import new_message_id
from accord.evidence.models import Acquisition, Event, Manifest
from accord.evidence.package import Package
from accord.evidence.seal import Progress, Sealer, SealOrder, Source, seal
from accord.evidence.signing import KeyLookup, next_record, sign_custody
from accord.evidence.verify import Verified, extract
from accord.federation.service import Federation
from accord.node.home import Node


class Evidence:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._federation = Federation(node)

    def keys(self) -> KeyLookup:
        """Signing keys from the directory installed on this node."""
        return self._federation.directory().signing_key

    def seal(
        self,
        sources: tuple[Source, ...],
        *,
        case: str,
        to: Sequence[str],
        acquisition: Acquisition,
        use_limitations: tuple[str, ...],
        out: Path,
        progress: Progress,
    ) -> Manifest:
        """Seal for every participant ``to`` names (groups expanded) and this node itself; the
        package exists only if its audit record was written too."""
        node, directory = self.node, self._federation.directory()
        ids = [p.id for address in to for p in directory.resolve(address)] + [node.id]
        recipients = tuple((pid, directory.encryption_key(pid)) for pid in dict.fromkeys(ids))
        now = node.clock.now()
        order = SealOrder(sources, case, recipients, acquisition, use_limitations)
        sealer = Sealer(node.id, node.keys.signing, directory.signed)
        manifest = seal(
            order, sealer, out=out, now=now, package_id=new_message_id(now), progress=progress
        )
        token = Package(out).manifest_token()
        event = AuditEvent(
            node.id,
            Action.EVIDENCE_SEALED,
            manifest.package_id,
            hashlib.sha256(token).hexdigest(),
            manifest.recipients,
        )
        try:
            node.writer.run(lambda connection: _record(connection, event, node))
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise
        return manifest

    def extract(self, package: Package, out: Path, progress: Progress) -> Verified:
        """Verify and decrypt with this node's key, then add the ``extracted`` custody record
        and its audit record (both or neither)."""
        node = self.node
        verified = extract(package, self.keys(), node.keys.encryption, out, progress=progress)
        chain = package.custody_chain()
        token = package.manifest_token()
        now = node.clock.now()
        details = {"to": str(out), "files": str(len(verified.manifest.files))}
        step = next_record(
            token,
            verified.manifest,
            chain,
            event=Event.EXTRACTED,
            actor=node.id,
            at=now,
            details=details,
        )
        signed = sign_custody(step, node.keys.signing)
        length = package.append_custody(signed)
        event = AuditEvent(
            node.id,
            Action.EVIDENCE_EXTRACTED,
            verified.manifest.package_id,
            hashlib.sha256(signed).hexdigest(),
            verified.manifest.recipients,
        )
        try:
            node.writer.run(lambda connection: _record(connection, event, node))
        except BaseException:
            package.truncate_custody(length)
            shutil.rmtree(out, ignore_errors=True)
            raise
        return verified


def _record(connection: Connection, event: AuditEvent, node: Node) -> None:
    record(connection, [event], node.clock.now())
