"""Witnessing over the federation (I/O around ``accord.audit.witness``): a node submits its
checkpoints to every partner, partners co-sign and gossip what they co-signed."""

from __future__ import annotations

import base64
import contextlib
from datetime import datetime

import structlog
from sqlalchemy import func, select

from accord.audit.log import PerfectReader, tree_size
from accord.audit.merkle import consistency_proof, verify_consistency
from accord.audit.models import Published
from accord.audit.note import Checkpoint, NoteSigner, NoteVerifier, verify_cosignature
from accord.audit.proofs import CONSISTENCY
from accord.audit.witness import (
    ADD_CHECKPOINT,
    GOSSIP,
    Alarm,
    add_checkpoint_job,
    alarm_job,
    format_add_checkpoint,
    gossip_job,
    latest_seen,
    open_trusted,
    parse_add_checkpoint,
    witness_name,
)
from accord.boundedjson import parse_object
from accord.db.schema import audit_cosignatures
from accord.db.upsert import insert_or_replace
from accord.errors import AccordError, ProofInvalid, SplitView
from accord.federation.auth import AUTH_HEADER, sign_request
from accord.federation.service import Federation
from accord.federation.transport import HttpTransport, TransportFailure
from accord.identity.models import Participant

log = structlog.get_logger("accord.witness")
CONSISTENCY_PATH = "/audit/v1/consistency"


class Witnessing:
    def __init__(self, federation: Federation, transport: HttpTransport) -> None:
        self._federation = federation
        self.node = federation.node
        self._transport = transport

    @property
    def signer(self) -> NoteSigner:
        """This witness's key in force now (ADR 0018)."""
        return NoteSigner(witness_name(self.node.id), self.node.keys.signing)

    # As a witness ------------------------------------------------------------------------------

    async def add_checkpoint(self, body: bytes) -> bytes:
        """C2SP tlog-witness add-checkpoint: the cosignature lines, or an error."""
        request = parse_add_checkpoint(body)
        participant, checkpoint = open_trusted(request.note, self._federation.directory())
        now = self.node.clock.now()
        job = add_checkpoint_job(request, participant, checkpoint, self.signer, now)
        outcome = await self.node.writer.write(job)
        if isinstance(outcome, ProofInvalid):
            # The submitted proof failed; whether the log misbehaved is for the log to answer.
            # Either way the answer is 422 (C2SP tlog-witness).
            with contextlib.suppress(SplitView):
                await self._check_extension(participant, request.note, checkpoint, now)
        if isinstance(outcome, AccordError):
            raise outcome
        return outcome

    async def gossip(self, note: bytes) -> None:
        """A checkpoint another witness co-signed: compare it with what we were shown."""
        participant, checkpoint = open_trusted(note, self._federation.directory())
        now = self.node.clock.now()
        alarm = await self.node.writer.write(gossip_job(note, participant, checkpoint, now))
        if alarm is not None:
            raise alarm
        await self._check_extension(participant, note, checkpoint, now)

    async def spread(self, cosigned: bytes, log_owner: str) -> None:
        """Tell every other participant what we co-signed (best effort)."""
        for peer in self._peers(exclude=log_owner):
            try:
                await self._transport.request("POST", peer.url + GOSSIP, cosigned)
            except TransportFailure as exc:
                log.info("gossip not delivered", to=peer.id, reason=str(exc))

    async def _check_extension(
        self, participant: str, note: bytes, checkpoint: Checkpoint, now: datetime
    ) -> None:
        """Different sizes: the log itself must prove the larger tree extends the smaller; a
        proof from it that fails raises a ``not_an_extension`` alarm (refusals and outages do
        not: the log may be down)."""
        with self.node.read_engine.connect() as connection:
            seen = latest_seen(connection, participant)
        if seen is None or seen.size == checkpoint.size:
            return
        ours = Checkpoint(checkpoint.origin, seen.size, seen.root)
        old, new = sorted((ours, checkpoint), key=lambda c: c.size)
        hashes = await self._fetch_consistency(participant, old.size, new.size)
        if hashes is None:
            return  # unreachable: checked again at the next gossip
        try:
            verify_consistency(old.size, new.size, old.root, new.root, hashes)
        except ProofInvalid as exc:
            raise await self.node.writer.write(
                alarm_job(Alarm(participant, "not_an_extension", note, seen.note, exc.message), now)
            ) from exc

    async def _fetch_consistency(self, participant: str, old: int, new: int) -> list[bytes] | None:
        peer = self._federation.directory().participant(participant)
        target = f"{CONSISTENCY_PATH}?old={old}&new={new}"
        header = sign_request(
            audience=participant,
            participant=self.node.id,
            key=self.node.keys.signing,
            method="GET",
            target=target,
            now=self.node.clock.now(),
        )
        try:
            response = await self._transport.request(
                "GET", peer.url + target, headers={AUTH_HEADER: header}
            )
        except TransportFailure as exc:
            log.info("consistency proof not fetched", log=participant, reason=str(exc))
            return None
        if response.status != 200:  # not an answer: it may be down, or our clock off
            log.info("consistency proof refused", log=participant, status=response.status)
            return None
        return _proof_hashes(response.body)

    # As a log ----------------------------------------------------------------------------------

    async def submit(self, published: Published) -> None:
        """Ask every partner to co-sign ``published`` (C2SP tlog-witness), keeping the
        cosignatures; a partner that is down is asked again with the next checkpoint."""
        for peer in self._peers(exclude=self.node.id):
            try:
                await self._submit_to(peer.id, peer.url, published)
            except (AccordError, TransportFailure) as exc:
                log.info("checkpoint not cosigned", witness=peer.id, reason=str(exc))

    async def _submit_to(self, witness: str, url: str, published: Published) -> None:
        size = published.checkpoint.size
        old = self._cosigned_size(witness)
        if old == size:
            return
        for _attempt in range(2):
            body = format_add_checkpoint(old, self._proof(old, size), published.note)
            response = await self._transport.request(
                "POST", url + ADD_CHECKPOINT, body, {"content-type": "text/plain"}
            )
            latest = response.body.strip()
            if response.status == 409 and latest.isdigit() and len(latest) <= 20:
                old = int(latest)  # C2SP tlog-witness: retry from the witness's size
                continue
            if response.status != 200:
                raise ProofInvalid(f"witness {witness} answered {response.status}")
            await self._keep(witness, size, published.note + response.body)
            return

    async def _keep(self, witness: str, size: int, cosigned: bytes) -> None:
        """Store a witness's cosignature once it verifies under its directory key."""
        key = self._federation.directory().signing_key(witness)
        verify_cosignature(cosigned, NoteVerifier(witness_name(witness), key))
        now = self.node.clock.now().timestamp()
        await self.node.writer.write(
            lambda c: insert_or_replace(
                c,
                audit_cosignatures,
                ("size", "witness"),
                size=size,
                witness=witness,
                note=cosigned,
                at=now,
            )
        )

    def _cosigned_size(self, witness: str) -> int:
        with self.node.read_engine.connect() as connection:
            value = connection.execute(
                select(func.max(audit_cosignatures.c.size)).where(
                    audit_cosignatures.c.witness == witness
                )
            ).scalar()
        return int(value or 0)

    def _proof(self, old: int, size: int) -> list[bytes]:
        if old == 0 or old > size:
            return []
        with self.node.read_engine.connect() as connection:
            if tree_size(connection) < size:
                return []
            return consistency_proof(old, size, PerfectReader(connection))

    def _peers(self, exclude: str) -> list[Participant]:
        me = self.node.id
        return [
            p
            for p in self._federation.directory().document.participants
            if p.id not in (me, exclude)
        ]


def _proof_hashes(body: bytes) -> list[bytes]:
    """The hashes of a consistency proof document; anything malformed is an empty proof,
    which fails verification: a log that signed both checkpoints must prove one extends the
    other."""
    try:
        document = parse_object(body, what="consistency proof")
        if document.get("type") != CONSISTENCY:
            return []
        return [base64.b64decode(h, validate=True) for h in document.get("proof", [])]
    except (ValueError, TypeError):
        return []
