"""What the audit log records: an event's actor, action, object and the digest of the content
concerned, never the content itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from accord.audit.note import Checkpoint

RECORD_VERSION = 1


class Action(StrEnum):
    """Every state-changing action of a node, and every read of content."""

    MESSAGE_SENT = "message.sent"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_READ = "message.read"
    RECEIPT_STORED = "receipt.stored"
    DELIVERY_FAILED = "delivery.failed"
    MESSAGE_ACKNOWLEDGED = "message.acknowledged"
    DIRECTORY_INSTALLED = "directory.installed"
    KEY_ROTATED = "key.rotated"  # ADR 0018: a new generation of this node's keys
    WITNESS_ALARM = "witness.alarm"
    EVIDENCE_SEALED = "evidence.sealed"
    EVIDENCE_EXTRACTED = "evidence.extracted"
    EVIDENCE_OPENED = "evidence.opened"  # decrypted and checked, no file written
    EVIDENCE_EXPORTED = "evidence.exported"  # a verified copy written outside the node
    EVIDENCE_DISPOSED = "evidence.disposed"  # the files deleted, the chain kept
    EVIDENCE_SENT = "evidence.sent"
    EVIDENCE_RECEIVED = "evidence.received"
    EVIDENCE_DELIVERED = "evidence.delivered"  # the recipient's package receipt is stored
    EVIDENCE_FORWARD_REFUSED = "evidence.forward_refused"  # UNCC Art. 36: blocked and recorded
    EVIDENCE_INCOMING_EXPIRED = "evidence.incoming_expired"  # an abandoned transfer, discarded
    REQUEST_SENT = "request.sent"
    REQUEST_RECEIVED = "request.received"
    REQUEST_EVENT = "request.event"  # a step of a request, made here or by the other State
    REQUEST_FORWARD_REFUSED = "request.forward_refused"  # UNCC Art. 36: blocked and recorded
    ALERT_SENT = "alert.sent"  # a CAP alert, update or cancel this node signed and queued
    ALERT_RECEIVED = "alert.received"  # verified and stored (or relayed from a feed)
    ALERT_READ = "alert.read"  # an operator read an alert's content
    ALERT_ACKNOWLEDGED = "alert.acknowledged"  # a CAP Ack (or Error) sent or received
    ALERT_INGESTED = "alert.ingested"  # taken from an external CAP feed, origin verified
    ALERT_FEED_ADDED = "alert.feed_added"  # a CAP feed subscription and its pinned key
    EXERCISE_CREATED = "exercise.created"
    EXERCISE_CHANGED = "exercise.changed"  # an inject added, or the exercise started
    EXERCISE_REPORTED = "exercise.reported"  # an after-action report written
    INTEL_ADDED = "intel.added"  # STIX objects stored in a collection (TAXII, CLI, MISP)
    INTEL_DELETED = "intel.deleted"
    INTEL_READ = "intel.read"  # a page of objects, manifest or versions served
    INTEL_WITHHELD = "intel.withheld"  # objects a reader asked for and its markings forbid
    INTEL_SHARED = "intel.shared"  # objects sent to participants with a grant
    INTEL_RECEIVED = "intel.received"  # objects a partner shared, stored
    INTEL_SHARE_REFUSED = "intel.share_refused"  # a hop a marking forbids: blocked, recorded
    INTEL_SYNCED = "intel.synced"  # a page of a partner's collection stored
    INTEL_TOKEN_CREATED = "intel.token_created"  # noqa: S105 - an action, not a secret
    INTEL_TOKEN_REVOKED = "intel.token_revoked"  # noqa: S105 - an action, not a secret

    CONSOLE_LOGIN = "console.login"  # ADR 0020: an operator logged in to the console
    CONSOLE_LOGIN_FAILED = "console.login_failed"
    CONSOLE_LOCKED = "console.locked"  # too many failures in a row: the account is locked
    CONSOLE_LOGOUT = "console.logout"
    CONSOLE_ACCOUNT = "console.account"  # an account added, disabled, reset or its role changed
    REQUEST_DRAFTED = "request.drafted"  # a formal request awaiting a supervisor (four eyes)
    REQUEST_APPROVED = "request.approved"  # signed approval; the request is then sent
    REQUEST_REJECTED = "request.rejected"


@dataclass(frozen=True)
class Event:
    """One action to record. ``parties`` are the participants entitled to see the record
    (and its inclusion proof); the local operator sees every record."""

    actor: str
    action: Action
    object_id: str
    digest: str | None
    parties: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """A stored record: its index in the tree, its canonical bytes and who may see it."""

    index: int
    record: bytes
    parties: tuple[str, ...]


@dataclass(frozen=True)
class InclusionProof:
    """RFC 9162 §2.1.3: entry ``index`` is in the tree the checkpoint signs."""

    index: int
    size: int
    record: bytes
    hashes: tuple[bytes, ...]
    checkpoint: bytes  # the signed note


@dataclass(frozen=True)
class ConsistencyProof:
    """RFC 9162 §2.1.4: the tree at ``new`` extends the tree at ``old``."""

    old: bytes  # signed checkpoint notes
    new: bytes
    hashes: tuple[bytes, ...]


@dataclass(frozen=True)
class Published:
    checkpoint: Checkpoint
    note: bytes
    at: datetime


@dataclass(frozen=True)
class RaisedAlarm:
    participant: str
    kind: str
    message: str
    evidence: str  # JSON: the two contradicting signed notes
    raised_at: datetime
