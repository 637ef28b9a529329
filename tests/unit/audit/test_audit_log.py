"""The audit log in a real node database: every action appends its record in the same
transaction, checkpoints and proofs verify offline, and hand edits are found."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Executable, delete, select, update

from accord.audit import log
from accord.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from accord.audit.models import Action, Event
from accord.audit.note import NoteVerifier, open_checkpoint
from accord.audit.proofs import consistency_document, inclusion_document, verify_document
from accord.audit.service import AuditLog
from accord.clock import FixedClock
from accord.db.schema import audit_records, deliveries, outgoing
from accord.demo.federation import LocalFederation, NodeSpec
from accord.envelope.models import Kind
from accord.envelope.receipt import verify_receipt
from accord.errors import LogCorrupted, NotFoundError, ProofInvalid, StorageError
from accord.federation.outbox import Outbox
from accord.federation.reading import Mailbox
from accord.federation.service import Federation
from accord.federation.transport import PeerResponse
from accord.identity.models import Role
from accord.node.home import Node

VN, RU = "vn-mps-247", "ru-gp-ca"
SPECS = [
    NodeSpec(VN, "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en")),
    NodeSpec(RU, "Russian Federation CA", "RU", (Role.CENTRAL_AUTHORITY,), ("ru", "en")),
]
NOTE = {"subject": "Preservation", "text": "Please preserve account 42.", "attachments": []}


@dataclass
class Pair:
    local: LocalFederation
    clock: FixedClock
    vn: Node
    ru: Node

    def actions(self, node: Node) -> list[str]:
        with node.read_engine.connect() as connection:
            rows = connection.execute(select(audit_records.c.action).order_by(audit_records.c.idx))
            return [str(action) for action in rows.scalars()]


@dataclass
class Direct:
    """A PeerTransport handing envelopes straight to the receiver's Federation."""

    receiver: Federation

    async def post_message(self, base_url: str, wire: bytes) -> PeerResponse:
        return PeerResponse(202, json.dumps({"receipt": self.receiver.receive(wire)}).encode())


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    local = LocalFederation.create(tmp_path, SPECS, {})
    clock = FixedClock(datetime.now(UTC))
    made = Pair(local, clock, local.nodes[VN].open(clock), local.nodes[RU].open(clock))
    try:
        yield made
    finally:
        made.vn.close()
        made.ru.close()


def _deliver(pair: Pair) -> None:
    asyncio.run(Outbox(Federation(pair.vn), Direct(Federation(pair.ru))).drain())


def test_each_action_appends_its_record(pair: Pair) -> None:
    message_id = Federation(pair.vn).send(RU, Kind.NOTE, NOTE)
    _deliver(pair)
    Mailbox(Federation(pair.ru)).open(message_id)
    Mailbox(Federation(pair.ru)).acknowledge(message_id)
    asyncio.run(Outbox(Federation(pair.ru), Direct(Federation(pair.vn))).drain())

    assert pair.actions(pair.vn) == [
        "directory.installed",
        "message.sent",
        "receipt.stored",
        "message.received",  # the ack
        "message.acknowledged",
    ]
    assert pair.actions(pair.ru) == [
        "directory.installed",
        "message.received",
        "message.read",
        "message.read",  # acknowledging reads it again
        "message.sent",  # the ack
        "receipt.stored",
    ]


def test_record_holds_digest_and_parties_never_content(pair: Pair) -> None:
    message_id = Federation(pair.vn).send(RU, Kind.NOTE, NOTE)
    with pair.vn.read_engine.connect() as connection:
        sha256 = connection.execute(
            select(outgoing.c.sha256).where(outgoing.c.message_id == message_id)
        ).scalar_one()
        sent = log.entry(connection, 1)
    record = json.loads(sent.record)
    assert record == {
        "v": 1,
        "index": 1,
        "at": record["at"],
        "actor": VN,
        "action": "message.sent",
        "object": message_id,
        "digest": sha256,
        "parties": sorted([VN, RU]),
    }
    assert b"Preservation" not in sent.record
    assert sent.record == json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def test_action_and_record_roll_back_together(pair: Pair) -> None:
    """A writer job that fails after recording leaves neither the action nor the record."""
    before = pair.actions(pair.vn)

    def failing(connection: Connection) -> None:
        event = Event(VN, Action.MESSAGE_SENT, "m-1", None, (VN,))
        log.record(connection, [event], pair.clock.now())
        raise StorageError("disk full")

    with pytest.raises(StorageError):
        pair.vn.writer.run(failing)
    assert pair.actions(pair.vn) == before
    message_id = Federation(pair.vn).send(RU, Kind.NOTE, NOTE)  # the next index is reused
    with pair.vn.read_engine.connect() as connection:
        assert json.loads(log.entry(connection, len(before)).record)["object"] == message_id


def test_inclusion_and_consistency_proofs_verify_offline(pair: Pair) -> None:
    audit = AuditLog(pair.vn)
    first = audit.checkpoint()
    for _ in range(6):
        Federation(pair.vn).send(RU, Kind.NOTE, NOTE)
    second = audit.checkpoint()
    assert (first.checkpoint.size, second.checkpoint.size) == (1, 7)
    assert audit.checkpoint() == second  # nothing new: the same checkpoint

    verifier = NoteVerifier.from_vkey(audit.verifier.vkey())  # only the public key
    for index in range(7):
        proof = audit.prove(index)
        checkpoint = open_checkpoint(proof.checkpoint, verifier)
        verify_inclusion(index, proof.size, leaf_hash(proof.record), proof.hashes, checkpoint.root)
        summary = verify_document(json.dumps(inclusion_document(proof)).encode(), verifier)
        assert summary.startswith(f"entry {index} (")
    proof = audit.consistency(1, 7)
    verify_consistency(1, 7, first.checkpoint.root, second.checkpoint.root, proof.hashes)
    document = json.dumps(consistency_document(proof)).encode()
    assert verify_document(document, verifier) == "the log at size 7 extends the log at size 1"


def test_forged_proof_documents_are_refused(pair: Pair) -> None:
    audit = AuditLog(pair.vn)
    for _ in range(4):
        Federation(pair.vn).send(RU, Kind.NOTE, NOTE)
    audit.checkpoint()
    document = inclusion_document(audit.prove(2))
    verifier = audit.verifier

    edited = dict(document, entry=document["entry"].replace("message.sent", "message.read"))
    with pytest.raises(ProofInvalid, match="root"):
        verify_document(json.dumps(edited).encode(), verifier)
    moved = dict(document, index=3)
    with pytest.raises(ProofInvalid, match="entry: not an audit record with index 3"):
        verify_document(json.dumps(moved).encode(), verifier)
    other_key = NoteVerifier(verifier.name, pair.ru.keys.signing.public_key())
    with pytest.raises(Exception, match="signature"):
        verify_document(json.dumps(document).encode(), other_key)
    with pytest.raises(ProofInvalid, match="proof\\[0\\]: not a base64 SHA-256 hash"):
        verify_document(json.dumps(dict(document, proof=["AAAA"])).encode(), verifier)
    with pytest.raises(ProofInvalid, match="type"):
        verify_document(b'{"type": "other"}', verifier)
    with pytest.raises(ProofInvalid, match="not UTF-8"):
        verify_document(b"\xff", verifier)


def test_proof_for_another_party_is_not_shown(pair: Pair) -> None:
    Federation(pair.vn).send(RU, Kind.NOTE, NOTE)
    audit = AuditLog(pair.vn)
    audit.checkpoint()
    assert audit.prove(1, viewer=RU).index == 1  # RU is a party to the message it was sent
    with pytest.raises(NotFoundError) as hidden:
        audit.prove(0, viewer=RU)  # the directory install concerns VN alone
    with pytest.raises(NotFoundError) as missing:
        audit.prove(99, viewer=RU)
    assert hidden.value.message == "no audit entry 0 concerning ru-gp-ca"
    assert missing.value.message == "no audit entry 99 concerning ru-gp-ca"  # same answer


def hand_edit(node: Node, statement: Executable) -> None:
    """Change the stored log behind the node's back (on SQLite or PostgreSQL alike)."""
    with node.write_engine.begin() as connection:
        connection.execute(statement)


def test_verify_local_finds_a_hand_edited_row_by_index(pair: Pair) -> None:
    for _ in range(10):
        Federation(pair.vn).send(RU, Kind.NOTE, NOTE)
    audit = AuditLog(pair.vn)
    audit.checkpoint()
    assert audit.verify_local() == (11, 1, 0)
    with pair.vn.read_engine.connect() as connection:
        edited = log.entry(connection, 6).record.replace(b"message.sent", b"message.read")
    hand_edit(pair.vn, update(audit_records).where(audit_records.c.idx == 6).values(record=edited))
    with pytest.raises(
        LogCorrupted, match="audit entry 6 no longer matches the checkpoint of size 11"
    ):
        audit.verify_local()


def test_verify_local_finds_an_edit_that_also_rewrote_the_leaf_hash(pair: Pair) -> None:
    for _ in range(10):
        Federation(pair.vn).send(RU, Kind.NOTE, NOTE)
    audit = AuditLog(pair.vn)
    audit.checkpoint()
    with pair.vn.read_engine.connect() as connection:
        forged = log.entry(connection, 4).record.replace(b"message.sent", b"message.read")
    hand_edit(
        pair.vn,
        update(audit_records)
        .where(audit_records.c.idx == 4)
        .values(record=forged, leaf=leaf_hash(forged)),
    )
    with pytest.raises(LogCorrupted, match=r"an entry in \[0, 11\) no longer matches"):
        audit.verify_local()


def test_verify_local_finds_a_deleted_row(pair: Pair) -> None:
    for _ in range(5):
        Federation(pair.vn).send(RU, Kind.NOTE, NOTE)
    audit = AuditLog(pair.vn)
    audit.checkpoint()
    hand_edit(pair.vn, delete(audit_records).where(audit_records.c.idx == 5))
    with pytest.raises(LogCorrupted, match="checkpoint of size 6 signs entries beyond the 5"):
        audit.verify_local()
    hand_edit(pair.vn, delete(audit_records).where(audit_records.c.idx == 2))
    with pytest.raises(LogCorrupted, match="audit entry 2 is missing"):
        audit.verify_local()


def test_records_after_the_last_checkpoint_are_reported_uncovered(pair: Pair) -> None:
    audit = AuditLog(pair.vn)
    audit.checkpoint()
    pair.clock.advance(timedelta(seconds=1))
    Federation(pair.vn).send(RU, Kind.NOTE, NOTE)
    Federation(pair.vn).send(RU, Kind.NOTE, NOTE)
    assert audit.verify_local() == (3, 1, 2)


def test_receipt_names_the_receivers_audit_entry_and_its_proof_is_given_to_the_sender(
    pair: Pair,
) -> None:
    message_id = Federation(pair.vn).send(RU, Kind.NOTE, NOTE)
    _deliver(pair)
    with pair.vn.read_engine.connect() as connection:
        row = connection.execute(
            select(deliveries.c.receipt, outgoing.c.sha256)
            .join(outgoing, outgoing.c.message_id == deliveries.c.message_id)
            .where(deliveries.c.message_id == message_id)
        ).one()
    receipt = verify_receipt(
        row.receipt,
        message_id=message_id,
        sha256=row.sha256,
        receiver=RU,
        receiver_key=pair.ru.keys.signing.public_key(),
    )
    assert receipt.audit_index is not None
    audit = AuditLog(pair.ru)
    audit.checkpoint()
    proof = audit.prove(receipt.audit_index, viewer=VN)  # VN is a party: it may see it
    entry = json.loads(proof.record)
    assert (entry["action"], entry["object"], entry["digest"]) == (
        "message.received",
        message_id,
        row.sha256,
    )
    verify_document(json.dumps(inclusion_document(proof)).encode(), audit.verifier)


def test_a_rolled_back_append_inside_a_commit_group_leaves_no_gap(pair: Pair) -> None:
    """Jobs of one group share a transaction and the cached right edge of the tree; a job that
    fails after appending must not leave its leaf in that cache."""
    gate = threading.Event()
    writer, now = pair.vn.writer, pair.clock.now()

    def append(name: str, fail: bool = False) -> Callable[[Connection], list[int]]:
        def job(connection: Connection) -> list[int]:
            indexes = log.record(connection, [Event(VN, Action.MESSAGE_READ, name, None, ())], now)
            if fail:
                raise StorageError("refused after appending")
            return indexes

        return job

    blocker = writer.submit(lambda _c: gate.wait(10))
    first = writer.submit(append("first"))
    failed = writer.submit(append("failed", fail=True))
    last = writer.submit(append("last"))
    gate.set()
    blocker.result()
    assert first.result() == [1]
    with pytest.raises(StorageError):
        failed.result()
    assert last.result() == [2]  # the failed job's index is reused
    audit = AuditLog(pair.vn)
    audit.checkpoint()
    assert audit.verify_local() == (3, 1, 0)
    with pair.vn.read_engine.connect() as connection:
        objects = [json.loads(log.entry(connection, i).record)["object"] for i in (1, 2)]
    assert objects == ["first", "last"]


def test_two_processes_appending_in_turn_keep_one_consistent_tree(pair: Pair) -> None:
    """As `accord serve` and a CLI command do: each writer remembers the tree's right edge
    between its transactions, and must notice the other's appends."""
    other = pair.local.nodes[VN].open(pair.clock)  # a second writer on the same database
    try:
        for turn in range(12):
            node = pair.vn if turn % 3 else other
            Federation(node).send(RU, Kind.NOTE, NOTE)
    finally:
        other.close()
    audit = AuditLog(pair.vn)
    audit.checkpoint()
    assert audit.verify_local() == (13, 1, 0)
    for index in range(13):
        proof = audit.prove(index)
        checkpoint = open_checkpoint(proof.checkpoint, audit.verifier)
        verify_inclusion(index, proof.size, leaf_hash(proof.record), proof.hashes, checkpoint.root)
