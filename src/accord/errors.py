"""The one error base of Accord and its tree.

Every error a user can meet derives from :class:`AccordError` and carries a stable machine
``code``, a human message saying what was wrong, and ``advice`` saying what to do. The CLI
prints message and advice; the HTTP API maps the same fields to one JSON shape
(:func:`accord.federation.api.error_body`).

::

    AccordError
    ├── ConfigError               settings or node folder unusable
    ├── NodeError                 node creation, keys, passphrase
    ├── StorageError              database failures (wrapped sqlite/SQLAlchemy errors)
    │   └── BlobStoreError        the object store failed or refused (wrapped botocore/OS errors)
    │       └── BlobMissing       no complete blob under that key
    ├── InputError                a user-supplied value breaks a rule (carries field errors)
    │   ├── RequestInvalid        a cooperation request record breaks its type's rules (§3)
    │   ├── DocumentInvalid       a TOML or JSON file that cannot be read: size, syntax, top level
    │   ├── JsonInvalid           JSON from outside beyond a bound (size, depth, values, numbers)
    │   │                         or malformed; also a ValueError (accord.boundedjson)
    │   │   └── RequestFileInvalid  the same, for a cooperation request file
    │   ├── LanguageNotAvailable  a request rendered in a language with no catalog
    │   ├── StixInvalid           a STIX 2.1 document or object breaks a rule of the spec
    │   └── MispInvalid           a MISP event that cannot be converted
    ├── NotFoundError             no such message, package or request on this node
    ├── OperatorUnauthorized      the operator API called without the node's operator token
    ├── DirectoryError            participant cards and the signed federation directory
    │   └── KeyRetired            signed with a compromised key, not anchored before its rotation
    ├── EnvelopeError             a message that must not be accepted (one subclass per attack)
    │   └── UnknownRecipient      addressed to ids the receiver's directory does not list
    ├── DeliveryError             a peer could not be reached or answered wrongly
    ├── AuditError                the audit log, its proofs, checkpoints and witnesses
    │   ├── ProofInvalid          an inclusion or consistency proof does not hold
    │   ├── CheckpointInvalid     a checkpoint or signed note is malformed or badly signed
    │   ├── SplitView             two checkpoints of one log contradict each other
    │   └── LogCorrupted          stored records no longer match the signed checkpoints
    ├── EvidenceError             an evidence package that cannot be sealed, read or trusted
    │   ├── PackageTampered       a package's bytes, manifest or custody chain were altered
    │   ├── TransferRefused       a node will not take a package offered to it
    │   ├── ChunkRejected         a transferred chunk does not match the signed manifest
    │   ├── TransferIncomplete    completion or a chunk asked for out of order
    │   └── InsufficientStorage   the receiving node has no room for the package
    └── RequestError              a cooperation request's workflow step breaks a rule (§8)
        ├── TransitionRefused     the event is not allowed from the request's current state
        ├── NotEntitled           only the other State may make this transition
        ├── RefusalInvalid        refusal or postponement without grounds/reasons, or a ground
        │                         that is never valid or does not apply (Art. 40, 42)
        ├── PreservationRuleBroken  hold under 60 days, or expiry of a hold pending a decision
        ├── CollectionPeriodInvalid real-time collection or interception outside its
        │                         authorised period (Art. 45, 46)
        ├── WrittenConfirmationMissing  an oral request treated as received unconfirmed
        ├── OnwardTransferBlocked delivered data sent on without the originator's consent
        ├── ConventionNotInForce  legal basis UNCC-* while not in force for both States
        ├── LanguageNotAccepted   the requested State did not notify the request's language
        ├── EventConflict         two different events carry one id (equivocation)
        ├── RequestNotYetKnown    events whose author cannot be told before their request arrives
        └── RegistryInvalid       the States Parties registry contradicts itself
    AlertError                    a CAP 1.2 message that cannot be sent or taken (§ cited)
    ├── AlertInvalid              breaks the OASIS XSD or a rule of the CAP 1.2 text (all listed)
    ├── AlertSignatureInvalid     no XML-DSig, or not by the key the directory lists (§3.3.2.1)
    ├── AlertNotEntitled          an update, cancel or exercise alert from someone not entitled
    ├── AlertChainBroken          references an alert that is cancelled, superseded or unknown
    ├── AlertNotYetKnown          references an alert still on its way (retried, 425)
    ├── AlertExpired              arrives after its own expiry (a replay)
    ├── AlertNotFound             no such alert or exercise on this node
    ├── ExerciseInvalid           an exercise definition or inject that breaks a rule
    └── FeedError                 an external CAP feed that cannot be read or trusted

    ├── RequestError              a cooperation request's workflow step breaks a rule (§8)
    │   ├── TransitionRefused     the event is not allowed from the request's current state
    │   ├── NotEntitled           only the other State may make this transition
    │   ├── RefusalInvalid        refusal or postponement without grounds/reasons, or a ground
    │   │                         that is never valid or does not apply (Art. 40, 42)
    │   ├── PreservationRuleBroken  hold under 60 days, or expiry of a hold pending a decision
    │   ├── CollectionPeriodInvalid real-time collection or interception outside its
    │   │                         authorised period (Art. 45, 46)
    │   ├── WrittenConfirmationMissing  an oral request treated as received unconfirmed
    │   ├── OnwardTransferBlocked delivered data sent on without the originator's consent
    │   ├── ConventionNotInForce  legal basis UNCC-* while not in force for both States
    │   ├── LanguageNotAccepted   the requested State did not notify the request's language
    │   ├── EventConflict         two different events carry one id (equivocation)
    │   ├── RequestNotYetKnown    events whose author cannot be told before their request arrives
    │   └── RegistryInvalid       the States Parties registry contradicts itself
    ├── IntelError                threat intelligence: collections, sharing, sync (ADR 0014)
    │   ├── SharingRefused        a TLP marking or handling code forbids this holder or hop
    │   ├── GrantInvalid          a share grant that is forged, altered or not the object's
    │   ├── CursorInvalid         a TAXII ``next`` forged, altered or for another query
    │   ├── IntelUnauthorized     a TAXII request with no valid token or node signature
    │   ├── IntelForbidden        the asker may not read or write this collection
    │   └── SyncFailed            a partner's sync page that cannot be used
    └── ConsoleError              the operator console: accounts, sessions, four eyes (ADR 0020)
        ├── LoginRefused          wrong name or password, a disabled or a locked account
        ├── ConsoleForbidden      the account's role may not use this page, or no CSRF token
        ├── AccountInvalid        a user name, role, language or password that breaks a rule
        ├── DraftNotFound         no request awaiting approval with this id
        └── FourEyesRefused       the drafter approving their own request, or not a supervisor
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class FieldError:
    """One broken rule: which field, which rule and, where a legal rule applies, the article."""

    field: str
    rule: str
    message: str
    article: str | None = None


@dataclass
class AccordError(Exception):
    """Base of every Accord error; ``message`` says what is wrong, ``advice`` what to do."""

    message: str
    advice: str = ""
    errors: list[FieldError] = field(default_factory=list)

    code = "accord_error"
    http_status = 400

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ConfigError(AccordError):
    code = "config_invalid"


class NodeError(AccordError):
    code = "node_error"


class PassphraseError(NodeError):
    code = "passphrase_wrong"


class StorageError(AccordError):
    code = "storage_error"
    http_status = 503


class BlobStoreError(StorageError):
    """The blob store (a folder or an S3-compatible object store) failed; nothing was stored."""

    code = "blob_store_error"


class BlobMissing(BlobStoreError):
    code = "blob_missing"
    http_status = 404


class InputError(AccordError):
    code = "input_invalid"
    http_status = 422


class OperatorUnauthorized(AccordError):
    """The operator API was called without this node's operator token."""

    code = "operator_token_required"
    http_status = 401
    headers: ClassVar[dict[str, str]] = {"www-authenticate": 'Bearer realm="accord"'}  # RFC 6750 §3


class JsonInvalid(InputError, ValueError):
    """JSON from outside that is malformed or beyond a bound of ``accord.boundedjson``."""

    code = "json_invalid"


class NotFoundError(AccordError):
    code = "not_found"
    http_status = 404


# Directory ---------------------------------------------------------------------------------


class DirectoryError(AccordError):
    code = "directory_invalid"


class CardInvalid(DirectoryError):
    code = "card_invalid"


class DirectoryUnsigned(DirectoryError):
    code = "directory_unsigned"


class DirectoryThresholdNotMet(DirectoryError):
    code = "directory_threshold_not_met"


class DirectoryExpired(DirectoryError):
    code = "directory_expired"


class DirectoryRollback(DirectoryError):
    code = "directory_rollback"


class UnknownParticipant(DirectoryError):
    code = "unknown_participant"


class KeyRetired(DirectoryError):
    """Signed with a key its participant retired as compromised, and not proven to have been
    signed before the rotation (ADR 0018)."""

    code = "key_retired"
    http_status = 403


# Envelope ----------------------------------------------------------------------------------


class EnvelopeError(AccordError):
    code = "envelope_invalid"


class EnvelopeMalformed(EnvelopeError):
    code = "envelope_malformed"


class EnvelopeTampered(EnvelopeError):
    code = "envelope_tampered"


class WrongSigner(EnvelopeError):
    code = "signature_key_mismatch"


class UnknownSender(EnvelopeError):
    code = "sender_unknown"
    http_status = 403


class UnknownRecipient(EnvelopeError):
    """An envelope addressed to ids the receiver's directory does not list (ADR 0016)."""

    code = "recipient_unknown"


class NotARecipient(EnvelopeError):
    code = "not_a_recipient"
    http_status = 421


class OutsideTimeWindow(EnvelopeError):
    code = "created_outside_window"


class ReplayedMessage(EnvelopeError):
    code = "message_id_replayed"
    http_status = 409


class PayloadTooLarge(EnvelopeError):
    code = "payload_too_large"
    http_status = 413


# Delivery ----------------------------------------------------------------------------------


class DeliveryError(AccordError):
    code = "delivery_failed"
    http_status = 502


class ReceiptInvalid(DeliveryError):
    code = "receipt_invalid"


# Audit -------------------------------------------------------------------------------------


class AuditError(AccordError):
    code = "audit_error"


class ProofInvalid(AuditError):
    code = "proof_invalid"
    http_status = 422  # C2SP tlog-witness: a consistency proof that does not verify


class CheckpointInvalid(AuditError):
    code = "checkpoint_invalid"


class SplitView(AuditError):
    code = "split_view"
    http_status = 409


class LogCorrupted(AuditError):
    code = "log_corrupted"
    http_status = 500


# Evidence ----------------------------------------------------------------------------------


class EvidenceError(AccordError):
    code = "evidence_error"


class PackageTampered(EvidenceError):
    code = "package_tampered"
    http_status = 422


class PackageDisposed(EvidenceError):
    """The holder recorded the package's disposal and deleted its files."""

    code = "evidence_disposed"
    http_status = 410


class TransferRefused(EvidenceError):
    """A receiving node will not take this package (not a recipient, conflicting offer)."""

    code = "evidence_transfer_refused"
    http_status = 409


class ChunkRejected(EvidenceError):
    """A chunk whose bytes are not the ones the signed manifest names: it is not kept."""

    code = "evidence_chunk_rejected"
    http_status = 422


class TransferIncomplete(EvidenceError):
    """Completion asked for before every chunk is held, or a chunk before the offer."""

    code = "evidence_transfer_incomplete"
    http_status = 409


class InsufficientStorage(EvidenceError):
    code = "insufficient_storage"
    http_status = 507  # RFC 4918 §11.5


# Cooperation request records -----------------------------------------------------------------


class RequestInvalid(InputError):
    """Every broken field rule of a request record at once, in ``errors``."""

    code = "request_invalid"


class DocumentInvalid(InputError):
    code = "document_invalid"


class RequestFileInvalid(DocumentInvalid):
    code = "request_file_invalid"


class RequestNotFound(NotFoundError):
    code = "request_not_found"


class LanguageNotAvailable(InputError):
    """A request cannot be rendered in this language: Accord has no catalog for it."""

    code = "language_not_available"


# Cooperation requests ----------------------------------------------------------------------


class RequestError(AccordError):
    code = "request_error"
    http_status = 409


class TransitionRefused(RequestError):
    code = "transition_refused"


class NotEntitled(RequestError):
    code = "not_entitled"
    http_status = 403


class RefusalInvalid(RequestError):
    code = "refusal_invalid"
    http_status = 422


class PreservationRuleBroken(RequestError):
    code = "preservation_rule_broken"
    http_status = 422


class CollectionPeriodInvalid(RequestError):
    code = "collection_period_invalid"
    http_status = 422


class WrittenConfirmationMissing(RequestError):
    code = "written_confirmation_missing"


class OnwardTransferBlocked(RequestError):
    code = "onward_transfer_blocked"
    http_status = 403


class ConventionNotInForce(RequestError):
    code = "convention_not_in_force"
    http_status = 422


class LanguageNotAccepted(RequestError):
    code = "language_not_accepted"
    http_status = 422


class EventConflict(RequestError):
    code = "event_conflict"


class RequestNotYetKnown(RequestError):
    """Two participants sent one event id of a request that has not arrived: which of them
    is its requester is not known yet, so the later one is asked to come again (425 is a
    status the outbox retries) instead of being refused for good."""

    code = "request_not_yet_known"
    http_status = 425


class RegistryInvalid(RequestError):
    code = "registry_invalid"
    http_status = 422


# Alerts (CAP 1.2) ------------------------------------------------------------------------------


class AlertError(AccordError):
    code = "alert_error"
    http_status = 409


class AlertInvalid(AlertError):
    """Every problem at once, each naming the element and the CAP 1.2 section, in ``errors``."""

    code = "alert_invalid"
    http_status = 422


class AlertSignatureInvalid(AlertError):
    code = "alert_signature_invalid"
    http_status = 422


class AlertNotEntitled(AlertError):
    code = "alert_not_entitled"
    http_status = 403


class AlertChainBroken(AlertError):
    code = "alert_chain_broken"


class AlertNotYetKnown(AlertError):
    """An update or cancel whose referenced alert the sender says it sent here and which has
    not arrived (its delivery may be retrying): asked to come again (425 is retried)."""

    code = "alert_not_yet_known"
    http_status = 425


class AlertExpired(AlertError):
    code = "alert_expired"
    http_status = 422


class AlertNotFound(AlertError):
    code = "alert_not_found"
    http_status = 404


class ExerciseInvalid(AlertError):
    code = "exercise_invalid"
    http_status = 422


class FeedError(AlertError):
    code = "alert_feed_error"


# Threat intelligence -------------------------------------------------------------------------


class StixInvalid(InputError):
    """Every broken rule of a STIX document, each naming the object id and property."""

    code = "stix_invalid"


class MispInvalid(InputError):
    code = "misp_invalid"


class IntelError(AccordError):
    code = "intel_error"


class SharingRefused(IntelError):
    """A marking (TLP 2.0, an Art. 47 handling code) forbids this holder or this hop."""

    code = "sharing_refused"
    http_status = 403


class GrantInvalid(IntelError):
    code = "grant_invalid"
    http_status = 422


class CursorInvalid(IntelError):
    code = "cursor_invalid"
    http_status = 400


class IntelUnauthorized(IntelError):
    code = "intel_unauthorized"
    http_status = 401


class IntelForbidden(IntelError):
    code = "intel_forbidden"
    http_status = 403


class SyncFailed(IntelError):
    code = "sync_failed"
    http_status = 502


class ConsoleError(AccordError):
    code = "console_error"


class LoginRefused(ConsoleError):
    """Said the same way for a wrong name, a wrong password and a disabled account, so the
    answer does not tell which accounts exist; a locked account is named as locked."""

    code = "login_refused"
    http_status = 401


class ConsoleForbidden(ConsoleError):
    code = "console_forbidden"
    http_status = 403


class AccountInvalid(InputError):
    code = "account_invalid"


class DraftNotFound(NotFoundError):
    code = "draft_not_found"


class FourEyesRefused(ConsoleError):
    code = "four_eyes_refused"
    http_status = 403
