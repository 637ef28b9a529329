"""What the console's pages read, a page at a time by key (ADR 0020): each list is ordered
by a time and its primary key, and the next page starts after the last row's pair; no query
counts or skips rows, so a page costs the same at any size of the tables.

Only routing columns are read (sender, kind, time, delivery state): listing never decrypts.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, and_, or_, select

from accord.db.schema import (
    alerts,
    audit_alarms,
    audit_checkpoints,
    audit_records,
    deliveries,
    evidence_inbound,
    evidence_outbound,
    incoming,
    outgoing,
    requests,
)
from accord.errors import FieldError, InputError, NotFoundError
from accord.federation.models import DeliveryState
from accord.jose import b64url_decode
from accord.node.home import Node
from accord.requests.deadlines import DONE, Due, due
from accord.requests.events import Party, RequestState, Status
from accord.requests.validate import validate

FINISHED = tuple(status.value for status in DONE)  # no deadline runs any more
OPEN = frozenset(status.value for status in Status if status not in DONE)
# the requested State's answer: a decision, or a hold confirmed (a preservation's answer)
ANSWERED = (*FINISHED, Status.PRESERVED.value, Status.PRESERVED_PENDING_DECISION.value)


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next: str | None  # the key of the following page, None on the last one


@dataclass(frozen=True)
class Filters:
    type: str | None = None
    status: str | None = None
    role: str | None = None
    counterpart: str | None = None


def requests_page(node: Node, filters: Filters, after: str | None, size: int) -> Page:
    query = select(requests).where(*_request_filters(filters))
    return _page(node, query, requests.c.updated_at, requests.c.request_id, after, size)


def inbox_page(node: Node, after: str | None, size: int) -> Page:
    query = select(
        incoming.c.message_id,
        incoming.c.sender,
        incoming.c.kind,
        incoming.c.priority,
        incoming.c.received_at,
        incoming.c.opened_at,
        incoming.c.ack_message_id,
    )
    return _page(node, query, incoming.c.received_at, incoming.c.message_id, after, size)


def outbox_page(node: Node, after: str | None, size: int) -> Page:
    """Sent messages with each recipient's delivery state."""
    query = select(
        outgoing.c.message_id,
        outgoing.c.address,
        outgoing.c.kind,
        outgoing.c.priority,
        outgoing.c.created_at,
    )
    page = _page(node, query, outgoing.c.created_at, outgoing.c.message_id, after, size)
    ids = [row.message_id for row in page.rows]
    with node.read_engine.connect() as connection:
        states = connection.execute(
            select(deliveries).where(deliveries.c.message_id.in_(ids))
        ).all()
    by_message: dict[str, list[Any]] = {}
    for state in states:
        by_message.setdefault(state.message_id, []).append(state)
    rows = [(row, by_message.get(row.message_id, [])) for row in page.rows]
    return Page(rows, page.next)


def troubled_deliveries(node: Node, now: datetime, silent_after: float, limit: int) -> list[Any]:
    """Failed deliveries, and those still without a receipt ``silent_after`` seconds on."""
    silent = and_(
        deliveries.c.state.in_([DeliveryState.RETRYING.value, DeliveryState.QUEUED.value]),
        deliveries.c.updated_at < now.timestamp() - silent_after,
    )
    query = (
        select(deliveries.c.message_id, deliveries.c.recipient, deliveries.c.state)
        .add_columns(deliveries.c.last_error, deliveries.c.updated_at)
        .where(or_(deliveries.c.state == DeliveryState.FAILED.value, silent))
        .order_by(deliveries.c.updated_at.desc())
        .limit(limit)
    )
    with node.read_engine.connect() as connection:
        return list(connection.execute(query).all())


def unacknowledged(node: Node, limit: int) -> list[Any]:
    """Requests received here that nobody acknowledged yet (Art. 40), oldest first."""
    query = (
        select(requests)
        .where(
            requests.c.role == Party.REQUESTED.value, requests.c.status == Status.SUBMITTED.value
        )
        .order_by(requests.c.updated_at, requests.c.request_id)
        .limit(limit)
    )
    with node.read_engine.connect() as connection:
        return list(connection.execute(query).all())


def alerts_page(node: Node, after: str | None, size: int) -> Page:
    """Every CAP message stored here (sent, received, ingested), newest first; routing
    columns only: the XML is not parsed to list it."""
    query = select(
        alerts.c.sender,
        alerts.c.identifier,
        alerts.c.sent_at,
        alerts.c.status,
        alerts.c.msg_type,
        alerts.c.scope,
        alerts.c.direction,
        alerts.c.state,
        alerts.c.exercise_id,
    )
    return _page(node, query, alerts.c.sent_at, alerts.c.identifier, after, size)


def active_alerts(node: Node, now: datetime, limit: int) -> list[Any]:
    live = or_(alerts.c.expires_at.is_(None), alerts.c.expires_at > now.timestamp())
    query = (
        select(alerts.c.sender, alerts.c.identifier, alerts.c.msg_type, alerts.c.status)
        .add_columns(alerts.c.sent_at, alerts.c.direction)
        .where(alerts.c.state == "active", live)
        .order_by(alerts.c.sent_at.desc())
        .limit(limit)
    )
    with node.read_engine.connect() as connection:
        return list(connection.execute(query).all())


class OpenRequests:
    """What is due on the requests whose deadlines may still run, worked out once per change
    of a request (``deadlines.due``, kept per request). Each look reads only the requests
    changed since the last one, by the index on their change time: validating a record costs
    about 0.1 ms and its deadlines 40 us, so 10,000 open requests would take 1.4 s a look.
    Which deadlines a request has does not depend on ``now``; only whether each is overdue,
    which the page decides."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._items: dict[str, list[Due]] = {}
        self._seen: set[tuple[str, float]] = set()  # changes at the high-water mark
        self._mark = float("-inf")
        self._sorted: list[Due] = []
        self._lock = threading.Lock()  # pages are rendered in worker threads

    def due(self, now: datetime, limit: int) -> list[Due]:
        """The first ``limit`` items due, soonest first."""
        with self._lock:
            if self._catch_up(now):
                items = [item for listed in self._items.values() for item in listed]
                self._sorted = sorted(items, key=lambda i: (i.due_at, i.request_id, i.what))
            return self._sorted[:limit]

    def _catch_up(self, now: datetime) -> bool:
        columns = (requests.c.request_id, requests.c.updated_at, requests.c.status)
        with self._node.read_engine.connect() as connection:
            changed = [
                row
                for row in connection.execute(
                    select(*columns).where(requests.c.updated_at >= self._mark)
                )
                if (row.request_id, row.updated_at) not in self._seen
            ]
            still_open = [row.request_id for row in changed if row.status in OPEN]
            for row in changed:
                self._items.pop(row.request_id, None)
            for start in range(0, len(still_open), 500):
                for row in connection.execute(
                    select(requests.c.request_id, requests.c.record, requests.c.folded).where(
                        requests.c.request_id.in_(still_open[start : start + 500])
                    )
                ):
                    request = validate(json.loads(row.record))
                    state = RequestState.model_validate_json(row.folded)
                    self._items[row.request_id] = due([(request, state)], now)
        if changed:
            self._mark = max(row.updated_at for row in changed)
            self._seen = {
                (r.request_id, r.updated_at) for r in changed if r.updated_at == self._mark
            }
        return bool(changed)


def checkpoints(node: Node, limit: int) -> list[Any]:
    query = select(audit_checkpoints).order_by(audit_checkpoints.c.size.desc()).limit(limit)
    with node.read_engine.connect() as connection:
        return list(connection.execute(query).all())


def turnaround(node: Node) -> list[tuple[str, str, float]]:
    """(partner, request type, seconds from submission to the status after it) of every
    request this node sent that was answered."""
    query = select(requests.c.requested, requests.c.type, requests.c.folded).where(
        requests.c.role == Party.REQUESTING.value, requests.c.status.in_(ANSWERED)
    )
    with node.read_engine.connect() as connection:
        rows = connection.execute(query).all()
    result = []
    for row in rows:
        state = json.loads(row.folded)
        submitted, since = state.get("submitted_at"), state.get("since")
        if submitted and since:
            seconds = (
                datetime.fromisoformat(since) - datetime.fromisoformat(submitted)
            ).total_seconds()
            result.append((row.requested, row.type, seconds))
    return result


def delivery_latency(node: Node, since: float) -> list[tuple[str, str, float]]:
    """(day, "", seconds from queueing to the receipt) of every delivery since ``since``."""
    query = (
        select(outgoing.c.created_at, deliveries.c.delivered_at)
        .join(deliveries, deliveries.c.message_id == outgoing.c.message_id)
        .where(outgoing.c.created_at >= since, deliveries.c.delivered_at.is_not(None))
    )
    with node.read_engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        (
            datetime.fromtimestamp(row.created_at, UTC).date().isoformat(),
            "",
            row.delivered_at - row.created_at,
        )
        for row in rows
    ]


def audit_entries(node: Node, before: int | None, size: int) -> tuple[list[Any], int | None]:
    """A page of the audit log's entries, newest first, by index; the next page's key."""
    query = select(
        audit_records.c.idx,
        audit_records.c.at,
        audit_records.c.actor,
        audit_records.c.action,
        audit_records.c.object_id,
    )
    if before is not None:
        query = query.where(audit_records.c.idx < before)
    with node.read_engine.connect() as connection:
        rows = list(connection.execute(query.order_by(audit_records.c.idx.desc()).limit(size + 1)))
    return rows[:size], rows[size - 1].idx if len(rows) > size else None


# Keyset pagination -----------------------------------------------------------------------


def _page(  # noqa: PLR0917 - the query, its two key columns, the key and the size
    node: Node, query: Select[Any], at: Column[Any], key: Column[Any], after: str | None, size: int
) -> Page:
    if after is not None:
        moment, last = _key(after)
        query = query.where(or_(at < moment, and_(at == moment, key < last)))
    query = query.order_by(at.desc(), key.desc()).limit(size + 1)
    with node.read_engine.connect() as connection:
        rows = list(connection.execute(query).all())
    more = len(rows) > size
    rows = rows[:size]
    following = _encode(getattr(rows[-1], at.name), getattr(rows[-1], key.name)) if more else None
    return Page(rows, following)


def _encode(moment: float, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([moment, key]).encode()).decode().rstrip("=")


def _key(text: str) -> tuple[float, str]:
    try:
        moment, key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return float(moment), str(key)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InputError(
            "the page key is not one this console made",
            advice="Follow the page links instead of editing the address.",
            errors=[FieldError("after", "invalid", "not a page key")],
        ) from exc


def _request_filters(filters: Filters) -> Sequence[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.type:
        conditions.append(requests.c.type == filters.type)
    if filters.status:
        conditions.append(requests.c.status == filters.status)
    if filters.role:
        conditions.append(requests.c.role == filters.role)
    if filters.counterpart:
        party = filters.counterpart
        conditions.append(or_(requests.c.requester == party, requests.c.requested == party))
    return conditions


@dataclass(frozen=True)
class Package:
    package_id: str
    direction: str  # sent | received
    party: str  # the recipient or the sender
    state: str
    at: float
    custody: list[dict[str, Any]]  # the chain's records, oldest first (received packages)


def evidence_packages(node: Node, limit: int) -> list[Package]:
    """Evidence packages sent and received, newest first, with the custody chain each
    received package came with (its records were verified when it was offered)."""
    with node.read_engine.connect() as connection:
        sent = connection.execute(
            select(evidence_outbound).order_by(evidence_outbound.c.created_at.desc()).limit(limit)
        ).all()
        received = connection.execute(
            select(evidence_inbound).order_by(evidence_inbound.c.offered_at.desc()).limit(limit)
        ).all()
    packages = [
        Package(row.package_id, "sent", row.recipient, row.state, row.created_at, [])
        for row in sent
    ]
    packages += [
        Package(
            row.package_id, "received", row.sender, row.state, row.offered_at, _chain(row.custody)
        )
        for row in received
    ]
    return sorted(packages, key=lambda p: p.at, reverse=True)[:limit]


def package_folder(node: Node, package_id: str) -> Path:
    """Where this node keeps a package it sent or received; NotFoundError otherwise (the same
    answer for an id held by another node)."""
    with node.read_engine.connect() as connection:
        sent = connection.execute(
            select(evidence_outbound.c.path).where(evidence_outbound.c.package_id == package_id)
        ).first()
        received = connection.execute(
            select(evidence_inbound.c.state).where(evidence_inbound.c.package_id == package_id)
        ).first()
    if sent is not None:
        return Path(sent.path)
    if received is not None:
        return node.home / "evidence" / "received" / package_id  # evidence.inbound.received
    raise NotFoundError(
        f"no evidence package {package_id} on this node",
        advice="Open a package from the evidence page.",
    )


def alarms(node: Node, limit: int) -> list[Any]:
    query = select(audit_alarms).order_by(audit_alarms.c.raised_at.desc()).limit(limit)
    with node.read_engine.connect() as connection:
        return list(connection.execute(query).all())


def _chain(text: str) -> list[dict[str, Any]]:
    records = []
    for token in text.split():
        try:
            records.append(json.loads(b64url_decode(token.split(".")[1])))
        except (ValueError, IndexError):
            records.append({"event": "unreadable"})
    return records
