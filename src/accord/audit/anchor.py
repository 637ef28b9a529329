"""Anchors (ADR 0018): proof that a participant's audit log recorded something before a time,
so that what it signed with a key it has since retired still counts, and nothing can be
back-dated with that key.

An anchor is an inclusion proof (RFC 9162 §2.1.3) of the audit record that names a digest
(``evidence.sealed`` names the SHA-256 of the signed manifest), into a checkpoint of the
participant's log that **another** participant co-signed (C2SP tlog-cosignature) at a time
before the rotation. The checkpoint must be signed with the key the log had in force then, and
the cosignature with the witness's key in force then. Whoever holds the retired key after the
rotation cannot make one: no witness co-signs a checkpoint in the past.

``verify_anchor`` is pure (bytes and a directory in, a time or ProofInvalid out);
``make_anchor`` reads the node's own log.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import ColumnElement, Connection, TextClause, func, select, text

from accord.audit.log import PerfectReader, entry, log_origin
from accord.audit.merkle import HASH_SIZE, inclusion_proof, leaf_hash, verify_inclusion
from accord.audit.note import NoteVerifier, checkpoint_of, open_note, verify_cosignature
from accord.audit.witness import witness_name
from accord.boundedjson import parse_object
from accord.db.schema import audit_cosignatures, audit_records
from accord.errors import (
    AccordError,
    CheckpointInvalid,
    DirectoryError,
    NotFoundError,
    ProofInvalid,
)
from accord.identity.directory import Directory
from accord.jose import ed25519_from_jwk

ANCHOR = "accord-anchor/v1"
_ADVICE = "Ask the signer for an anchor made by `accord evidence anchor` before its rotation."


def verify_anchor(
    data: bytes, *, participant: str, digest: str, directory: Directory, before: datetime
) -> datetime:
    """The time a witness co-signed a checkpoint of ``participant``'s log that includes the
    record naming ``digest``, once that time is before ``before``; ProofInvalid otherwise."""
    document = _document(data)
    record = _record(document, participant, digest)
    witnessed = [
        (witness, moment)
        for witness in directory.document.participants
        if witness.id != participant
        for moment in [_cosigned_at(document["checkpoint"], witness.id, directory)]
        if moment is not None and moment < before
    ]
    if not witnessed:
        raise ProofInvalid(
            f"the anchor carries no cosignature by another participant before {before.isoformat()}",
            advice=_ADVICE,
        )
    moment = min(m for _w, m in witnessed)
    log_key = directory.signing_key_at(participant, moment, compromised_ok=True)
    checkpoint = _checkpoint(document["checkpoint"], participant, log_key)
    index, size = document["index"], document["tree_size"]
    if size != checkpoint.size:
        raise ProofInvalid(f"tree_size {size} is not the checkpoint's {checkpoint.size}")
    verify_inclusion(index, size, leaf_hash(record), _hashes(document), checkpoint.root)
    return moment


def _document(data: bytes) -> dict[str, Any]:
    try:
        document = parse_object(data, what="anchor")
    except AccordError as exc:
        raise ProofInvalid(exc.message, advice=_ADVICE) from exc
    if document.get("type") != ANCHOR:
        raise ProofInvalid(f"anchor: type must be {ANCHOR!r}", advice=_ADVICE)
    for name, kind in (("index", int), ("tree_size", int), ("entry", str), ("checkpoint", str),
                       ("proof", list)):  # fmt: skip
        value = document.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ProofInvalid(f"anchor: {name} must be {kind.__name__}", advice=_ADVICE)
    return document


def _record(document: dict[str, Any], participant: str, digest: str) -> bytes:
    text = str(document["entry"])
    try:
        record = parse_object(text, what="anchor entry")
    except AccordError as exc:
        raise ProofInvalid(exc.message, advice=_ADVICE) from exc
    if (record.get("actor"), record.get("digest"), record.get("index")) != (
        participant, digest, document["index"],
    ):  # fmt: skip
        raise ProofInvalid(
            f"the anchored record is not {participant}'s record of digest {digest[:16]}…",
            advice=_ADVICE,
        )
    return text.encode()


def _cosigned_at(note: str, witness: str, directory: Directory) -> datetime | None:
    """When ``witness`` co-signed ``note`` with the key it had in force then, if it did."""
    for key in _keys(directory, witness):
        try:
            moment = verify_cosignature(note.encode(), NoteVerifier(witness_name(witness), key))
            in_force = directory.signing_key_at(witness, moment, compromised_ok=False)
        except (CheckpointInvalid, DirectoryError):  # not its line, or a compromised key
            continue
        if in_force.public_bytes_raw() == key.public_bytes_raw():
            return moment
    return None


def _keys(directory: Directory, participant: str) -> list[Ed25519PublicKey]:
    record = directory.participant(participant)
    retired = [r.keys["signing_key"] for r in record.retired_keys if "signing_key" in r.keys]
    return [ed25519_from_jwk(jwk) for jwk in (record.signing_key, *retired)]


def _checkpoint(note: str, participant: str, key: Ed25519PublicKey) -> Any:
    verifier = NoteVerifier(log_origin(participant), key)
    try:
        return checkpoint_of(open_note(note.encode(), verifier), verifier)
    except CheckpointInvalid as exc:
        raise ProofInvalid(
            f"the anchored checkpoint is not signed by {participant}'s key of that time: "
            f"{exc.message}",
            advice=_ADVICE,
        ) from exc


def _hashes(document: dict[str, Any]) -> list[bytes]:
    hashes = []
    for value in document["proof"][:128]:
        try:
            digest = base64.b64decode(str(value), validate=True)
        except ValueError:
            digest = b""
        if len(digest) != HASH_SIZE:
            raise ProofInvalid("anchor: proof entries must be base64 SHA-256 hashes")
        hashes.append(digest)
    return hashes


_SHA256_HEX = re.compile("[0-9a-f]{64}")


def _holds(connection: Connection, needle: bytes) -> ColumnElement[bool] | TextClause:
    """Whether a record's bytes contain ``needle``: SQLite's LIKE does not match inside a
    BLOB, and PostgreSQL's ``position`` over bytea is written ``position(x IN y)``."""
    if connection.dialect.name == "sqlite":
        return func.instr(audit_records.c.record, needle) > 0
    return text("position(:needle IN audit_records.record) > 0").bindparams(needle=needle)


# Making one, on the node whose log it is ------------------------------------------------------


def make_anchor(connection: Connection, digest: str) -> dict[str, Any]:
    """The anchor of this log's record naming ``digest``: into the smallest checkpoint that
    covers it and that a witness co-signed (the earliest proof of when it was logged)."""
    if not _SHA256_HEX.fullmatch(digest):
        raise ValueError(f"{digest!r} is not a SHA-256 in lower-case hex")
    index = connection.execute(
        select(audit_records.c.idx)
        .where(_holds(connection, f'"digest":"{digest}"'.encode()))
        .order_by(audit_records.c.idx)
        .limit(1)
    ).scalar()
    if index is None:
        raise NotFoundError(f"no audit record of digest {digest[:16]}… in this node's log")
    row = connection.execute(
        select(audit_cosignatures.c.size, audit_cosignatures.c.note)
        .where(audit_cosignatures.c.size > index)
        .order_by(audit_cosignatures.c.size, audit_cosignatures.c.at)
        .limit(1)
    ).first()
    if row is None:
        raise NotFoundError(
            f"record {index} is in no checkpoint a witness co-signed yet",
            advice="Wait for the next checkpoint round (ACCORD_CHECKPOINT_INTERVAL).",
        )
    hashes = inclusion_proof(index, row.size, PerfectReader(connection))
    return {
        "type": ANCHOR,
        "index": index,
        "tree_size": row.size,
        "entry": entry(connection, index).record.decode(),
        "proof": [base64.b64encode(h).decode() for h in hashes],
        "checkpoint": bytes(row.note).decode(),
    }
