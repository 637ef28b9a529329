"""A node's audit log: checkpoints through the single writer, proofs from read connections."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from accord.audit import log
from accord.audit.models import ConsistencyProof, InclusionProof, Published, RaisedAlarm
from accord.audit.note import NoteSigner, NoteVerifier
from accord.db.schema import audit_alarms
from accord.errors import NotFoundError
from accord.node.home import Node


class AuditLog:
    def __init__(self, node: Node) -> None:
        self._node = node

    @property
    def history(self) -> log.LogKeys:
        """Every key this log signed with, from when (ADR 0018): each stored checkpoint is
        checked with the key it was signed with."""
        origin = log.log_origin(self._node.id)
        return log.LogKeys(
            tuple(
                (g.since, NoteVerifier(origin, g.keys.signing.public_key()))
                for g in self._node.ring.generations
            )
        )

    @property
    def signer(self) -> NoteSigner:
        """The log's key in force now: checkpoints after a rotation use the new key."""
        return NoteSigner(log.log_origin(self._node.id), self._node.keys.signing)

    @property
    def verifier(self) -> NoteVerifier:
        """The log's public key in force now (what ``accord audit vkey`` prints)."""
        return self.signer.verifier()

    def checkpoint(self) -> Published:
        """Sign a checkpoint of the log as it is now (or return the latest if it is current)."""
        return self._node.writer.run(self.checkpoint_job())

    def checkpoint_job(self) -> Callable[[Connection], Published]:
        now = self._node.clock.now()
        signer = self.signer
        return lambda connection: log.publish(connection, signer, now, self.history)

    def latest(self) -> Published:
        with self._node.read_engine.connect() as connection:
            latest = log.latest_checkpoint(connection, self.history)
        if latest is None:
            raise NotFoundError(
                "this node has not signed a checkpoint yet",
                advice="Run `accord audit checkpoint`.",
            )
        return latest

    def size(self) -> int:
        with self._node.read_engine.connect() as connection:
            return log.tree_size(connection)

    def prove(self, index: int, *, viewer: str | None = None) -> InclusionProof:
        """Inclusion proof of entry ``index``; a ``viewer`` (another participant) gets it
        only for entries it is a party to, and learns nothing of the others."""
        with self._node.read_engine.connect() as connection:
            if viewer is not None and viewer not in _parties(connection, index):
                # The same answer whether the entry is missing or someone else's.
                raise NotFoundError(
                    f"no audit entry {index} concerning {viewer}",
                    advice="Ask for the entries named in receipts you hold.",
                )
            return log.prove_inclusion(connection, index, self.history)

    def consistency(self, old: int, new: int) -> ConsistencyProof:
        with self._node.read_engine.connect() as connection:
            return log.prove_consistency(connection, old, new, self.history)

    def alarms(self) -> list[RaisedAlarm]:
        with self._node.read_engine.connect() as connection:
            rows = connection.execute(select(audit_alarms).order_by(audit_alarms.c.id)).all()
        return [
            RaisedAlarm(
                r.participant,
                r.kind,
                r.message,
                r.evidence,
                datetime.fromtimestamp(r.raised_at, UTC),
            )
            for r in rows
        ]

    def verify_local(self) -> tuple[int, int, int]:
        with self._node.read_engine.connect() as connection:
            return log.verify_local(connection, self.history)


def _parties(connection: Connection, index: int) -> tuple[str, ...]:
    try:
        return log.entry(connection, index).parties
    except NotFoundError:
        return ()
