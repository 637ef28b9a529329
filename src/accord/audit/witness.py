"""Witnessing (C2SP tlog-witness): partners co-sign a node's checkpoints only after checking
they extend the last one they saw, and raise an alarm, keeping both signed notes as evidence,
when a node shows two histories.

Every other participant of the directory witnesses a node's log. After co-signing, a witness
gossips the checkpoint to the other participants, so a node that shows one history to one
witness and another history to another is caught by them (a split view).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Connection, select

from accord.audit.log import log_origin, record
from accord.audit.merkle import HASH_SIZE, verify_consistency
from accord.audit.models import Action, Event
from accord.audit.note import (
    MAX_TREE_SIZE,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    checkpoint_of,
    cosign,
    open_note,
    signature_lines,
)
from accord.db.schema import audit_alarms, witnessed
from accord.errors import (
    AccordError,
    AuditError,
    CheckpointInvalid,
    NotFoundError,
    ProofInvalid,
    SplitView,
)
from accord.identity.directory import Directory

log = structlog.get_logger("accord.witness")
ADD_CHECKPOINT = "/audit/v1/witness/add-checkpoint"
GOSSIP = "/audit/v1/witness/gossip"
SIZE_MEDIA_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63  # C2SP tlog-witness §add-checkpoint
MAX_BODY_BYTES = 64 * 1024
_ORIGIN_PREFIX = log_origin("")
_FORMAT = "Send the request as c2sp.org/tlog-witness add-checkpoint specifies."


def witness_name(participant_id: str) -> str:
    """The key name of a participant's cosignatures (C2SP tlog-cosignature)."""
    return f"accord-witness/{participant_id}"


class UntrustedCheckpoint(AuditError):
    code = "checkpoint_untrusted"
    http_status = 403


class SizeConflict(AuditError):
    """C2SP tlog-witness: the old size is not the witness's latest; answered with that size."""

    code = "witness_size_conflict"
    http_status = 409

    def __init__(self, latest: int) -> None:
        super().__init__(
            f"old size differs from the latest cosigned size {latest}",
            advice="Send a consistency proof from that size.",
        )
        self.latest = latest


@dataclass(frozen=True)
class AddCheckpoint:
    old: int
    proof: tuple[bytes, ...]
    note: bytes


def format_add_checkpoint(old: int, proof: Sequence[bytes], note: bytes) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof), ""]
    return "\n".join(lines).encode() + b"\n" + note


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """The add-checkpoint request body (C2SP tlog-witness), strictly."""
    if len(body) > MAX_BODY_BYTES:
        raise CheckpointInvalid(
            f"request is {len(body)} bytes; at most {MAX_BODY_BYTES}", advice=_FORMAT
        )
    head, separator, note = body.partition(b"\n\n")
    lines = head.split(b"\n")
    if not separator or not lines[0].startswith(b"old "):
        raise CheckpointInvalid(
            "request must start with 'old <size>', proof lines, a blank line", advice=_FORMAT
        )
    old = _decimal(lines[0][4:].decode("ascii", "replace"))
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise CheckpointInvalid(
            f"more than {MAX_PROOF_LINES} consistency proof lines", advice=_FORMAT
        )
    return AddCheckpoint(old, tuple(_hash(line, n) for n, line in enumerate(lines[1:], 2)), note)


def _decimal(text: str) -> int:
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise CheckpointInvalid(
            f"old size {text[:20]!r} is not a decimal without leading zeros", advice=_FORMAT
        )
    # C2SP tlog-witness: sizes are uint64; never hand int() a 5,000-digit string
    if len(text) > len(str(MAX_TREE_SIZE)) or int(text) > MAX_TREE_SIZE:
        raise CheckpointInvalid(
            f"old size {text[:20]}… ({len(text)} digits) is over 2^64-1", advice=_FORMAT
        )
    return int(text)


def _hash(line: bytes, number: int) -> bytes:
    try:
        digest = base64.b64decode(line, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != HASH_SIZE:
        raise CheckpointInvalid(f"line {number} is not a base64 SHA-256 hash", advice=_FORMAT)
    return digest


def log_verifier(note: bytes, directory: Directory) -> tuple[str, NoteVerifier]:
    """The participant whose log ``note`` claims to be from, and its log key."""
    origin = note.split(b"\n", 1)[0].decode("utf-8", "replace")
    participant = origin.removeprefix(_ORIGIN_PREFIX)
    if not origin.startswith(_ORIGIN_PREFIX) or participant not in {
        p.id for p in directory.document.participants
    }:
        raise NotFoundError(
            f"no log {origin[:100]!r} among the directory's participants",
            advice="Only participants of the federation are witnessed.",
        )
    return participant, NoteVerifier(origin, directory.signing_key(participant))


def open_trusted(note: bytes, directory: Directory) -> tuple[str, Checkpoint]:
    """The log's participant and its checkpoint: the signature is checked first (403 when it
    does not hold), then the text it signed is parsed (400 naming the line, for instance a
    tree size of 5,000 digits signed by the log itself)."""
    participant, verifier = log_verifier(note, directory)
    try:
        text = open_note(note, verifier)
    except CheckpointInvalid as exc:
        raise UntrustedCheckpoint(
            f"checkpoint of {participant} is not signed by its directory key: {exc.message}",
            advice=exc.advice,
        ) from exc
    return participant, checkpoint_of(text, verifier)


# The witness's state: one job decides and persists atomically (C2SP tlog-witness requires it).


def add_checkpoint_job(
    request: AddCheckpoint,
    participant: str,
    checkpoint: Checkpoint,
    signer: NoteSigner,
    now: datetime,
) -> Callable[[Connection], bytes | AccordError]:
    """A writer job returning the cosignature lines, or the error to answer with after the
    commit (a split-view alarm must be stored even though the request is refused)."""

    def job(connection: Connection) -> bytes | AccordError:
        if request.old > checkpoint.size:
            return CheckpointInvalid(
                f"old size {request.old} exceeds the checkpoint's size", advice=_FORMAT
            )
        contradiction = _same_size_other_root(connection, participant, checkpoint)
        if contradiction is not None:
            alarm = Alarm(participant, "split_view", request.note, contradiction)
            return _alarm(connection, alarm, now)
        latest = latest_seen(connection, participant)
        if request.old != (latest.size if latest else 0):
            return SizeConflict(latest.size if latest else 0)
        if latest is not None and request.old:
            try:  # RFC 9162 §2.1.4.2
                verify_consistency(
                    latest.size, checkpoint.size, latest.root, checkpoint.root, request.proof
                )
            except ProofInvalid as exc:
                # Not an alarm yet: anyone can pair two genuine checkpoints with a junk proof.
                # The witness asks the log itself (Witnessing.add_checkpoint).
                return exc
        elif request.proof:
            return ProofInvalid(
                "the consistency proof must be empty when old size is 0", advice=_FORMAT
            )
        if latest is None or latest.size != checkpoint.size:
            connection.execute(
                witnessed.insert().values(
                    participant=participant,
                    size=checkpoint.size,
                    root=checkpoint.root,
                    note=request.note,
                    at=now.timestamp(),
                )
            )
        # Not an audit record: co-signing is recorded in ``witnessed``, and a record here
        # would grow every partner's log at each round, which makes new checkpoints to
        # co-sign, without end (ADR 0006).
        return _own_line(cosign(request.note, signer, now), signer)

    return job


def gossip_job(
    note: bytes, participant: str, checkpoint: Checkpoint, now: datetime
) -> Callable[[Connection], SplitView | None]:
    """A writer job comparing a checkpoint another witness saw with our own view: the same
    size with another root is a split view (stored as an alarm and returned)."""

    def job(connection: Connection) -> SplitView | None:
        contradiction = _same_size_other_root(connection, participant, checkpoint)
        if contradiction is None:
            return None
        return _alarm(connection, Alarm(participant, "split_view", note, contradiction), now)

    return job


@dataclass(frozen=True)
class Seen:
    size: int
    root: bytes
    note: bytes


def latest_seen(connection: Connection, participant: str) -> Seen | None:
    """The latest checkpoint of ``participant``'s log this witness co-signed."""
    row = connection.execute(
        select(witnessed.c.size, witnessed.c.root, witnessed.c.note)
        .where(witnessed.c.participant == participant)
        .order_by(witnessed.c.size.desc())
        .limit(1)
    ).first()
    return None if row is None else Seen(row.size, bytes(row.root), bytes(row.note))


def _same_size_other_root(
    connection: Connection, participant: str, checkpoint: Checkpoint
) -> bytes | None:
    row = connection.execute(
        select(witnessed.c.root, witnessed.c.note).where(
            witnessed.c.participant == participant, witnessed.c.size == checkpoint.size
        )
    ).first()
    if row is None or bytes(row.root) == checkpoint.root:
        return None
    return bytes(row.note)


@dataclass(frozen=True)
class Alarm:
    """Two signed checkpoints of one log that cannot both be true."""

    participant: str
    kind: str  # split_view | not_an_extension
    shown: bytes
    earlier: bytes
    detail: str = ""


def _alarm(connection: Connection, alarm: Alarm, now: datetime) -> SplitView:
    participant, kind = alarm.participant, alarm.kind
    message = f"{participant} showed two histories of its audit log ({kind.replace('_', ' ')})"
    if alarm.detail:
        message += f": {alarm.detail}"
    evidence = json.dumps({"earlier": alarm.earlier.decode(), "shown": alarm.shown.decode()})
    connection.execute(
        audit_alarms.insert().values(
            participant=participant,
            kind=kind,
            message=message,
            evidence=evidence,
            raised_at=now.timestamp(),
        )
    )
    log.error("witness alarm", participant=participant, kind=kind, message=message)
    digest = hashlib.sha256(evidence.encode()).hexdigest()
    event = Event(participant, Action.WITNESS_ALARM, f"alarm/{participant}", digest, ())
    record(connection, [event], now)
    return SplitView(
        message,
        advice="Both signed checkpoints are kept as evidence (`accord audit alarms`); tell the "
        "federation stewards.",
    )


def alarm_job(alarm: Alarm, now: datetime) -> Callable[[Connection], SplitView]:
    return lambda connection: _alarm(connection, alarm, now)


def _own_line(note: bytes, signer: NoteSigner) -> bytes:
    """The witness's cosignature line of ``note``: the add-checkpoint answer."""
    for name, raw in signature_lines(note):
        if name == signer.name and raw[:4] == signer.cosignature_key_id:
            return f"\u2014 {name} {base64.b64encode(raw).decode()}\n".encode()
    raise AuditError("the cosignature line is missing")  # cosign() always adds it
