"""Proofs as JSON documents, and their offline verification with only the node's public key
(pure: bytes in, a verified value out or an error naming what failed).

Three document types, each tagged by ``type``:

- ``accord-checkpoint/v1``: ``checkpoint`` (the signed note text);
- ``accord-inclusion-proof/v1``: ``index``, ``tree_size``, ``entry`` (the canonical record,
  as text), ``proof`` (base64 hashes, RFC 9162 §2.1.3), ``checkpoint``;
- ``accord-consistency-proof/v1``: ``old`` and ``new`` (signed notes), ``proof`` (base64
  hashes, RFC 9162 §2.1.4).
"""

from __future__ import annotations

import base64
from typing import Any

from accord.audit.merkle import HASH_SIZE, leaf_hash, verify_consistency, verify_inclusion
from accord.audit.models import ConsistencyProof, InclusionProof
from accord.audit.note import Checkpoint, NoteVerifier, open_checkpoint
from accord.boundedjson import DEFAULT, parse_object
from accord.errors import JsonInvalid, ProofInvalid

CHECKPOINT = "accord-checkpoint/v1"
INCLUSION = "accord-inclusion-proof/v1"
CONSISTENCY = "accord-consistency-proof/v1"
MAX_DOCUMENT_BYTES = 1 << 20
MAX_PROOF_HASHES = 128  # a tree of 2**64 leaves needs 64


def checkpoint_document(note: bytes) -> dict[str, Any]:
    return {"type": CHECKPOINT, "checkpoint": note.decode()}


def inclusion_document(proof: InclusionProof) -> dict[str, Any]:
    return {
        "type": INCLUSION,
        "index": proof.index,
        "tree_size": proof.size,
        "entry": proof.record.decode(),
        "proof": [base64.b64encode(h).decode() for h in proof.hashes],
        "checkpoint": proof.checkpoint.decode(),
    }


def consistency_document(proof: ConsistencyProof) -> dict[str, Any]:
    return {
        "type": CONSISTENCY,
        "old": proof.old.decode(),
        "new": proof.new.decode(),
        "proof": [base64.b64encode(h).decode() for h in proof.hashes],
    }


def verify_document(data: bytes, verifier: NoteVerifier) -> str:
    """Verify any of the three documents; returns a one-line summary of what holds."""
    document = _load(data)
    kind = document.get("type")
    if kind == CHECKPOINT:
        checkpoint = _checkpoint(document, "checkpoint", verifier)
        return f"checkpoint of {checkpoint.origin} at size {checkpoint.size} is signed"
    if kind == INCLUSION:
        index, size, entry = _verify_inclusion(document, verifier)
        return f"entry {index} ({entry.get('action')}) is in the log at size {size}"
    if kind == CONSISTENCY:
        old, new = _verify_consistency(document, verifier)
        return f"the log at size {new.size} extends the log at size {old.size}"
    raise ProofInvalid(
        f"type: {kind!r} is not one of {CHECKPOINT}, {INCLUSION}, {CONSISTENCY}",
        advice="Pass a document written by `accord audit checkpoint|prove|consistency --json`.",
    )


def _verify_inclusion(
    document: dict[str, Any], verifier: NoteVerifier
) -> tuple[int, int, dict[str, Any]]:
    checkpoint = _checkpoint(document, "checkpoint", verifier)
    index, size = _int(document, "index"), _int(document, "tree_size")
    if size != checkpoint.size:
        raise ProofInvalid(
            f"tree_size: {size} differs from the checkpoint's size {checkpoint.size}"
        )
    entry_text = _str(document, "entry")
    entry = _entry(entry_text)
    if entry is None or entry.get("index") != index:
        raise ProofInvalid(f"entry: not an audit record with index {index}")
    # RFC 9162 §2.1.3.2: recompute the root from the leaf hash and the path.
    verify_inclusion(
        index, size, leaf_hash(entry_text.encode()), _hashes(document), checkpoint.root
    )
    return index, size, entry


def _verify_consistency(
    document: dict[str, Any], verifier: NoteVerifier
) -> tuple[Checkpoint, Checkpoint]:
    old = _checkpoint(document, "old", verifier)
    new = _checkpoint(document, "new", verifier)
    # RFC 9162 §2.1.4.2
    verify_consistency(old.size, new.size, old.root, new.root, _hashes(document))
    return old, new


def _load(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ProofInvalid(f"document is {len(data)} bytes; at most {MAX_DOCUMENT_BYTES}")
    try:
        return parse_object(data, what="document", limits=DEFAULT.but(max_bytes=MAX_DOCUMENT_BYTES))
    except JsonInvalid as exc:
        raise ProofInvalid(exc.message, advice=exc.advice, errors=exc.errors) from exc


def _checkpoint(document: dict[str, Any], name: str, verifier: NoteVerifier) -> Checkpoint:
    return open_checkpoint(_str(document, name).encode(), verifier)


def _hashes(document: dict[str, Any]) -> list[bytes]:
    values = document.get("proof")
    if not isinstance(values, list) or len(values) > MAX_PROOF_HASHES:
        raise ProofInvalid(f"proof: must be a list of at most {MAX_PROOF_HASHES} base64 hashes")
    hashes = []
    for position, value in enumerate(values):
        try:
            digest = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        except ValueError:  # binascii.Error, or a str with non-ASCII characters
            digest = b""
        if len(digest) != HASH_SIZE:
            raise ProofInvalid(f"proof[{position}]: not a base64 SHA-256 hash")
        hashes.append(digest)
    return hashes


def _int(document: dict[str, Any], name: str) -> int:
    value = document.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofInvalid(f"{name}: must be a non-negative integer")
    return value


def _str(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise ProofInvalid(f"{name}: required string")
    return value


def _entry(text: str) -> dict[str, Any] | None:
    try:
        return parse_object(text, what="entry")
    except JsonInvalid:
        return None
