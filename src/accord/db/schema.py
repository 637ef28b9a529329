"""Tables (SQLAlchemy Core). Changes go through an Alembic migration in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()
# A 64-bit integer: SQLite's INTEGER already is one; PostgreSQL's is 32 bits (migration 0010).
Int64 = Integer().with_variant(BigInteger(), "postgresql")

directories = Table(
    "directories",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("federation", String(64), nullable=False),
    Column("signed", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("installed_at", Float, nullable=False),
)

stewards = Table(
    "stewards",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("steward_set", Text, nullable=False),  # JSON StewardSet pinned at first install
    Column("pinned_at", Float, nullable=False),
)

# Messages this node created: the exact envelope bytes, retried as they are.
outgoing = Table(
    "outgoing",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("address", String(64), nullable=False),  # as typed: a participant or a group
    Column("kind", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("wire", LargeBinary, nullable=False),
)

# One row per (message, recipient): the delivery state machine of protocol v1.
deliveries = Table(
    "deliveries",
    metadata,
    Column("message_id", String(36), ForeignKey("outgoing.message_id"), primary_key=True),
    Column("recipient", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text),
    Column("receipt", Text),
    Column("sent_at", Float),
    Column("delivered_at", Float),
    Column("acknowledged_at", Float),
    Column("ack", Text),  # the recipient's signed ack (inner JWS)
    Column("updated_at", Float, nullable=False),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
)

# Messages received: stored as received (still encrypted to this node), with our receipt.
incoming = Table(
    "incoming",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("sender", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("wire", LargeBinary, nullable=False),
    Column("receipt", Text, nullable=False),
    Column("opened_at", Float),
    Column("ack_message_id", String(36)),
    Index("ix_incoming_received", "received_at"),
)

# The audit log (RFC 9162 Merkle tree): one canonical record per leaf, in index order.
audit_records = Table(
    "audit_records",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(48), nullable=False),
    Column("object_id", String(128), nullable=False),
    Column("parties", Text, nullable=False),  # JSON list: who may see this record
    Column("record", LargeBinary, nullable=False),  # RFC 8785 canonical JSON: the leaf input
    Column("leaf", LargeBinary, nullable=False),  # RFC 9162 §2.1.1 leaf hash of ``record``
    Index("ix_audit_records_object", "object_id"),
)

# Hashes of complete subtrees of 2**level leaves (level >= 1), written as they complete, so a
# proof at any size reads O(log n) rows.
audit_nodes = Table(
    "audit_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

# This node's signed checkpoints (C2SP tlog-checkpoint), and witnesses' cosignatures of them.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("at", Float, nullable=False),
)

audit_cosignatures = Table(
    "audit_cosignatures",
    metadata,
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("witness", String(64), primary_key=True),
    Column("note", LargeBinary, nullable=False),  # the checkpoint with the witness's line
    Column("at", Float, nullable=False),
)

# As a witness: the checkpoints other nodes showed us, newest per node, and alarms raised.
witnessed = Table(
    "witnessed",
    metadata,
    Column("participant", String(64), primary_key=True),
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("at", Float, nullable=False),
)

audit_alarms = Table(
    "audit_alarms",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("participant", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON: the contradicting signed notes
    Column("raised_at", Float, nullable=False),
)

# Evidence packages this node sends: one row per (package, recipient), driven by the courier.
evidence_outbound = Table(
    "evidence_outbound",
    metadata,
    Column("package_id", String(64), primary_key=True),
    Column("recipient", String(64), primary_key=True),
    Column("path", Text, nullable=False),  # the package folder on this node
    Column("manifest_sha256", String(64), nullable=False),
    Column("offer", LargeBinary, nullable=False),  # the Offer JSON, fixed when sending began
    Column("state", String(16), nullable=False),
    Column("chunks_total", Integer, nullable=False),
    Column("chunks_confirmed", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text),
    Column("receipt", Text),  # the recipient's signed package receipt
    Column("created_at", Float, nullable=False),
    Column("progress_at", Float, nullable=False),  # the last time a chunk was confirmed
    Column("updated_at", Float, nullable=False),
    Index("ix_evidence_outbound_due", "state", "next_attempt_at"),
)

# Evidence packages offered to this node, and the chunks it holds durably.
evidence_inbound = Table(
    "evidence_inbound",
    metadata,
    Column("package_id", String(64), primary_key=True),
    Column("sender", String(64), nullable=False),
    Column("manifest_sha256", String(64), nullable=False),
    Column("custody", Text, nullable=False),  # the offered chain, one compact JWS per line
    Column("state", String(16), nullable=False),
    Column("chunks_total", Integer, nullable=False),
    Column("bytes_total", Int64, nullable=False),
    Column("offered_at", Float, nullable=False),
    Column("active_at", Float),  # the last offer or chunk: an abandoned transfer expires
    Column("completed_at", Float),
    Column("receipt", Text),
)

evidence_chunks = Table(
    "evidence_chunks",
    metadata,
    Column("package_id", String(64), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

# The files of every package this node received, by plaintext SHA-256: what sealing screens
# against so data received under a use limitation is not sealed for others (UNCC Art. 36).
evidence_received_files = Table(
    "evidence_received_files",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("package_id", String(64), primary_key=True),
    Column("origin", String(64), nullable=False),  # the sealing participant
    Column("recipients", Text, nullable=False),  # JSON: whom the origin sealed it for
    Column("request_id", String(128)),  # the request the manifest names, if any
    Column("limitations", Text, nullable=False),  # JSON: the manifest's use limitations
    sqlite_with_rowid=False,
)

# The States Parties registries requests were judged under, kept once each (ADR 0009).
registries = Table(
    "registries",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("body", Text, nullable=False),
)

# Cooperation requests this node sent or received (ADR 0008): the record as validated, this
# node's side, and the state folded from the events (a cache: the events are the truth).
requests = Table(
    "requests",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("type", String(40), nullable=False),
    Column("role", String(16), nullable=False),  # requesting | requested (this node's side)
    Column("requester", String(64), nullable=False),
    Column("requested", String(64), nullable=False),
    Column("record", Text, nullable=False),  # the record's JSON, as the requester signed it
    Column("created_at", Float, nullable=False),
    Column("status", String(40)),  # None for one-way communications (§3.2, §3.7)
    Column("folded", Text),  # JSON: the folded RequestState (a cache of the events' fold)
    Column("registry_sha256", String(64)),  # the registry it is judged under (None: before 0005)
    Column("updated_at", Float, nullable=False),
    Index("ix_requests_updated", "updated_at"),
)

# Every event of a request, whoever made it; events may arrive before their request.
request_events = Table(
    "request_events",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("actor", String(16), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(40), nullable=False),
    Column("author", String(64), nullable=False),  # the participant whose message carried it
    Column("event", Text, nullable=False),  # the event's JSON
    Column("message_id", String(36), nullable=False),  # the signed message that carried it
    Column("stored_at", Float, nullable=False),
    sqlite_with_rowid=False,
)

# Links between requests: a preservation and its follow-up MLA request (BC 29(7)); a traffic
# disclosure and the preservation sent to the third State it names (UNCC Art. 43).
request_links = Table(
    "request_links",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("linked_id", String(128), primary_key=True),
    Column("relation", String(32), primary_key=True),
    Column("at", Float, nullable=False),
    sqlite_with_rowid=False,
)

# Alerts (CAP 1.2, ADR 0013) ---------------------------------------------------------------------

# Every CAP alert, update and cancel this node sent, received or took from a feed: the signed
# bytes exactly as signed, and the state of its chain (a cache of the messages' references).
alerts = Table(
    "alerts",
    metadata,
    Column("sender", String(255), primary_key=True),  # CAP <sender>
    Column("identifier", String(255), primary_key=True),  # CAP <identifier>
    Column("sent", String(32), nullable=False),  # CAP <sent> as written (references repeat it)
    Column("sent_at", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("msg_type", String(16), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("direction", String(16), nullable=False),  # sent | received | ingested
    Column("origin", String(64), nullable=False),  # the participant whose node vouches for it
    Column("feed", Text),  # the external feed it came from (ingested or relayed)
    Column("exercise_id", String(64)),
    Column("expires_at", Float),  # the latest <expires>; None: the node's default lifetime
    Column("state", String(16), nullable=False),  # active | superseded | cancelled | cancel
    Column("superseded_by", String(255)),  # the identifier of the update or cancel
    Column("xml", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("stored_at", Float, nullable=False),
    Index("ix_alerts_view", "status", "state"),
    Index("ix_alerts_exercise", "exercise_id"),
    sqlite_with_rowid=False,
)

# Whom this node sent each of its alerts to, why, and in which envelope (its delivery state is
# the envelope's, in `deliveries`).
alert_recipients = Table(
    "alert_recipients",
    metadata,
    Column("sender", String(255), primary_key=True),
    Column("identifier", String(255), primary_key=True),
    Column("recipient", String(64), primary_key=True),
    Column("message_id", String(36), nullable=False),
    Column("reason", Text, nullable=False),
    Column("queued_at", Float, nullable=False),
    sqlite_with_rowid=False,
)

# CAP Ack and Error messages about an alert: received from its recipients (on the sender's
# node) or sent by this node (on a recipient's node).
alert_acks = Table(
    "alert_acks",
    metadata,
    Column("sender", String(255), primary_key=True),  # of the acknowledged alert
    Column("identifier", String(255), primary_key=True),
    Column("participant", String(64), primary_key=True),  # who acknowledged
    Column("msg_type", String(16), nullable=False),  # Ack | Error
    Column("ack_identifier", String(255), nullable=False),
    Column("acked_at", Float, nullable=False),  # the Ack's <sent>
    Column("note", Text),  # the Ack's <note>: who, and what was done
    Column("received_at", Float, nullable=False),
    Column("xml", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

# Joint exercises this node directs or takes part in.
exercises = Table(
    "exercises",
    metadata,
    Column("exercise_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("director", String(64), nullable=False),
    Column("participants", Text, nullable=False),  # JSON list of participant ids
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("scenario", Text, nullable=False),
    Column("started_at", Float),  # when the director announced it (None: planned)
    Column("created_at", Float, nullable=False),
)

# The injects of an exercise this node directs: scheduled in advance, sent when due.
exercise_injects = Table(
    "exercise_injects",
    metadata,
    Column("exercise_id", String(64), primary_key=True),
    Column("inject_id", String(64), primary_key=True),
    Column("due_at", Float, nullable=False),
    Column("composition", Text, nullable=False),  # JSON: the alert to compose (CAP fields)
    Column("sent_identifier", String(255)),  # the CAP identifier once sent
    Column("sent_at", Float),
    Index("ix_exercise_injects_due", "sent_at", "due_at"),
    sqlite_with_rowid=False,
)

# External CAP Atom feeds this node pulls, the key their alerts must be signed with, and the
# address it redistributes them to.
alert_feeds = Table(
    "alert_feeds",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("key_pem", Text),  # the pinned public key; None only with trust_unsigned
    Column("trust_unsigned", Integer, nullable=False),
    Column("address", String(64), nullable=False),
    Column("interval", Float, nullable=False),
    Column("pulled_at", Float),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
)

# Threat intelligence (ADR 0014) --------------------------------------------------------------

# TAXII collections this node serves: who may read and write each (participants or groups)
intel_collections = Table(
    "intel_collections",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("alias", String(64), unique=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("readers", Text, nullable=False),  # JSON list of participant or group names
    Column("writers", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Every version of every STIX object, as received (``raw``); one row per (collection, object,
# version). ``date_added`` (microseconds) is unique on the node and only grows, so it alone
# orders a collection (TAXII 2.1 §3.3); ``vkey`` is the version as a sortable timestamp.
intel_objects = Table(
    "intel_objects",
    metadata,
    Column("collection", String(36), primary_key=True),
    Column("stix_id", String(300), primary_key=True),
    Column("vkey", String(32), primary_key=True),  # '' for an object without versions
    Column("version", String(40), nullable=False),  # modified (or created) as written
    Column("date_added", Int64, nullable=False),
    Column("type", String(250), nullable=False),
    Column("is_last", Integer, nullable=False),
    Column("is_first", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("origin", String(64), nullable=False),  # the participant who granted it here
    Column("tlp", Integer),  # markings.Tlp; None: no TLP marking
    Column("handling", Text, nullable=False),  # JSON list of Art. 47 handling codes
    Column("unknown", Integer, nullable=False),  # carries a marking this node cannot read
    Column("labels", Text, nullable=False),  # JSON list, for subscriptions' label filter
    Column("grant_sha256", String(64)),  # the originator's grant (None: this node's own)
    Index("ix_intel_objects_added", "collection", "date_added"),
    Index("ix_intel_objects_last", "collection", "is_last", "date_added"),
    Index("ix_intel_objects_type", "collection", "type", "is_last", "date_added"),
    sqlite_with_rowid=False,
)

# Originators' signed share grants (policy.Grant), once each
intel_grants = Table(
    "intel_grants",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("origin", String(64), nullable=False),
    Column("token", Text, nullable=False),
    Column("stored_at", Float, nullable=False),
)

# TAXII 2.1 §4.3 status resources of Add Objects, kept ACCORD_INTEL_STATUS_RETENTION seconds
intel_status = Table(
    "intel_status",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("asker", String(128), nullable=False),
    Column("collection", String(36), nullable=False),
    Column("document", Text, nullable=False),  # the status resource's JSON
    Column("created_at", Float, nullable=False),
    Index("ix_intel_status_created", "created_at"),
)

# Local tools' API tokens: only the SHA-256 of each token is kept
intel_tokens = Table(
    "intel_tokens",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("read", Text, nullable=False),  # JSON list of collection ids or aliases, or ["*"]
    Column("write", Text, nullable=False),
    Column("red", Integer, nullable=False),  # may read TLP:RED objects
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

# Subscriptions to partners' collections, with the cursor of the last page stored
intel_subscriptions = Table(
    "intel_subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("partner", String(64), nullable=False),
    Column("collection", String(64), nullable=False),  # the partner's collection id or alias
    Column("into", String(36), nullable=False),  # the local collection it fills
    Column("filter", Text, nullable=False),  # JSON: types, labels, markings, added_after
    Column("cursor", Text),  # the partner's ``next`` after the last stored page
    Column("synced", Integer, nullable=False),  # objects stored so far
    Column("updated_at", Float, nullable=False),
)


# Operator console (ADR 0020) ----------------------------------------------------------------

# Console accounts: argon2id password hashes, one role each
console_users = Table(
    "console_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # operator | supervisor | auditor | administrator
    Column("password", Text),  # argon2id PHC string; None: OIDC login only
    Column("language", String(8), nullable=False),
    Column("disabled", Integer, nullable=False),
    Column("failures", Integer, nullable=False),  # wrong passwords in a row
    Column("locked_until", Float),
    Column("oidc_subject", String(255), unique=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Server-side sessions: only the SHA-256 of the cookie's session id is kept
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("user", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_console_sessions_user", "user"),
)

# Formal requests awaiting a supervisor's approval before they are sent (four eyes)
request_drafts = Table(
    "request_drafts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("type", String(40), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("record", Text, nullable=False),  # the validated record's JSON
    Column("sha256", String(64), nullable=False),  # of that JSON: what the approval signs
    Column("drafter", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("state", String(16), nullable=False),  # awaiting | approved | rejected
    Column("decided_by", String(64)),
    Column("decided_at", Float),
    Column("reason", Text),
    Column("approval", Text),  # compact JWS by the node key over the decision
    Column("request_id", String(128)),  # the request sent on approval
    Index("ix_request_drafts_state", "state", "created_at"),
)

# The console's pages are read by key, newest first, with the primary key breaking ties
Index("ix_console_requests_page", requests.c.updated_at, requests.c.request_id)
Index("ix_console_requests_status", requests.c.status, requests.c.role, requests.c.updated_at)
Index("ix_console_outgoing_page", outgoing.c.created_at, outgoing.c.message_id)
Index("ix_console_incoming_page", incoming.c.received_at, incoming.c.message_id)
