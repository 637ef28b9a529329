"""Four eyes for formal requests (ADR 0020): an MLA request, an extradition request or a
request to transfer a sentenced person is kept as a draft until a supervisor other than its
drafter approves it; the approval is signed with the node's key and audited, then the request
is sent. ACCORD_CONSOLE_APPROVAL_TYPES may add types. Other request types are sent when
composed, as ``accord request new`` sends them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, select, update

from accord.audit.log import record
from accord.audit.models import Action
from accord.audit.models import Event as AuditEvent
from accord.config import Settings
from accord.db.schema import request_drafts, requests
from accord.envelope.core import sha256_hex
from accord.envelope.models import new_message_id
from accord.errors import ConfigError, DraftNotFound, FieldError, FourEyesRefused
from accord.evidence.signing import sign_claims
from accord.requests.models import RequestType
from accord.requests.service import Requests, Summary
from accord.requests.validate import validate
from accord.requests.wire import record_json
from accord.web.accounts import Role, User

APPROVAL_TYP = "accord-request-approval+jws"
AWAITING, APPROVED, REJECTED = "awaiting", "approved", "rejected"


@dataclass(frozen=True)
class Draft:
    id: str
    type: RequestType
    recipient: str
    request_id: str
    drafter: str
    created_at: float
    state: str
    decided_by: str | None
    reason: str | None
    approval: str | None
    record: dict[str, Any]
    sha256: str  # of the record's JSON, which the approval signs


def approval_types(settings: Settings) -> frozenset[RequestType]:
    """The types this node keeps for a supervisor (ACCORD_CONSOLE_APPROVAL_TYPES); a name
    that is no request type is a configuration error, never ignored."""
    names = settings.console_approval_types
    unknown = [name for name in names if name not in set(RequestType)]
    if unknown:
        raise ConfigError(
            f"console_approval_types names no request type: {', '.join(unknown)}",
            advice=f"Use request types: {', '.join(RequestType)}.",
        )
    return frozenset(RequestType(name) for name in names)


def needs_approval(settings: Settings, kind: RequestType) -> bool:
    return kind in approval_types(settings)


def submit(service: Requests, data: dict[str, Any], to: str, drafter: User) -> Draft:
    """Validate a formal request and keep it for a supervisor; nothing is sent yet."""
    node = service.node
    now = node.clock.now()
    completed = {"message_id": new_message_id(now), "receiving_authority": to, **data}
    request = validate(completed)
    text = record_json(request)
    draft_id = str(uuid.uuid4())
    digest = sha256_hex(text.encode())

    def job(connection: Connection) -> None:
        connection.execute(
            request_drafts.insert().values(
                id=draft_id,
                type=request.type,
                recipient=to,
                record=text,
                sha256=digest,
                drafter=drafter.name,
                created_at=now.timestamp(),
                state=AWAITING,
            )
        )
        _audit(
            connection, node.id, Action.REQUEST_DRAFTED, request.message_id, digest=digest, at=now
        )

    node.writer.run(job)
    return get(service, draft_id)


def approve(service: Requests, draft_id: str, approver: User) -> Summary:
    """Sign the approval, send the request, and record both; the drafter cannot approve."""
    node = service.node
    draft = _decidable(service, draft_id, approver)
    now = node.clock.now()
    claims = {
        "draft": draft.id,
        "request_id": draft.request_id,
        "record_sha256": draft.sha256,
        "drafter": draft.drafter,
        "approved_by": approver.name,
        "approved_at": now.isoformat(),
        "node": node.id,
    }
    token = sign_claims(claims, APPROVAL_TYP, node.id, node.keys.signing).decode("ascii")
    with node.read_engine.connect() as connection:
        sent = connection.execute(
            select(requests.c.request_id).where(requests.c.request_id == draft.request_id)
        ).first()
    if sent is None:  # an approval cut short after sending resumes here, not twice
        service.create(draft.record, draft.recipient)

    def job(connection: Connection) -> None:
        connection.execute(
            update(request_drafts)
            .where(request_drafts.c.id == draft.id)
            .values(
                state=APPROVED,
                decided_by=approver.name,
                decided_at=now.timestamp(),
                approval=token,
                request_id=draft.request_id,
            )
        )
        digest = sha256_hex(token.encode())
        _audit(
            connection, node.id, Action.REQUEST_APPROVED, draft.request_id, digest=digest, at=now
        )

    node.writer.run(job)
    return service.summary(draft.request_id)


def reject(service: Requests, draft_id: str, approver: User, reason: str) -> Draft:
    node = service.node
    draft = _decidable(service, draft_id, approver)
    if not reason.strip():
        raise FourEyesRefused(
            "a rejection says why",
            advice="Give the reason, so the drafter can correct the request.",
            errors=[FieldError("reason", "required", "the reason for the rejection")],
        )
    now = node.clock.now()

    def job(connection: Connection) -> None:
        connection.execute(
            update(request_drafts)
            .where(request_drafts.c.id == draft.id)
            .values(
                state=REJECTED, decided_by=approver.name, decided_at=now.timestamp(), reason=reason
            )
        )
        digest = sha256_hex(reason.encode())
        _audit(
            connection, node.id, Action.REQUEST_REJECTED, draft.request_id, digest=digest, at=now
        )

    node.writer.run(job)
    return get(service, draft.id)


def get(service: Requests, draft_id: str) -> Draft:
    with service.node.read_engine.connect() as connection:
        row = connection.execute(
            select(request_drafts).where(request_drafts.c.id == draft_id)
        ).first()
    if row is None:
        raise DraftNotFound(
            f"no request draft {draft_id!r} on this node",
            advice="The drafts awaiting approval are listed at /console/approvals.",
        )
    return _draft(row)


def awaiting(service: Requests, limit: int) -> list[Draft]:
    with service.node.read_engine.connect() as connection:
        rows = connection.execute(
            select(request_drafts)
            .where(request_drafts.c.state == AWAITING)
            .order_by(request_drafts.c.created_at, request_drafts.c.id)
            .limit(limit)
        ).all()
    return [_draft(row) for row in rows]


def _decidable(service: Requests, draft_id: str, approver: User) -> Draft:
    draft = get(service, draft_id)
    if approver.role is not Role.SUPERVISOR:
        raise FourEyesRefused(
            f"{approver.name} is not a supervisor",
            advice="A supervisor of this node approves or rejects formal requests.",
        )
    if approver.name == draft.drafter:
        raise FourEyesRefused(
            "the drafter of a formal request cannot approve or reject it",
            advice="Ask another supervisor to decide on it (four eyes).",
        )
    if draft.state != AWAITING:
        raise FourEyesRefused(
            f"this draft is already {draft.state}",
            advice="Only a draft awaiting approval can be decided.",
        )
    return draft


def _audit(
    connection: Connection, me: str, action: Action, request_id: str, *, digest: str, at: Any
) -> None:
    record(connection, [AuditEvent(me, action, request_id, digest, (me,))], at)


def _draft(row: Row[Any]) -> Draft:
    data = json.loads(row.record)
    return Draft(
        id=row.id,
        type=RequestType(row.type),
        recipient=row.recipient,
        request_id=str(data["message_id"]),
        drafter=row.drafter,
        created_at=row.created_at,
        state=row.state,
        decided_by=row.decided_by,
        reason=row.reason,
        approval=row.approval,
        record=data,
        sha256=row.sha256,
    )
