"""Cooperation requests on a node: create and send them, make this State's moves, take the
other State's, and keep both copies folded to the same state (ADR 0008, ADR 0009).

I/O around the pure core: each move is checked by ``fold.propose`` before it is signed, and is
stored, audited and queued for the other State in one transaction, or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from accord.audit.log import record
from accord.audit.models import Action
from accord.audit.models import Event as AuditEvent
from accord.db.schema import deliveries, request_events, request_links, requests
from accord.envelope.core import sha256_hex
from accord.envelope.models import Kind as MessageKind
from accord.envelope.models import Opened, Priority, new_message_id
from accord.errors import (
    EventConflict,
    FieldError,
    NotEntitled,
    OnwardTransferBlocked,
    RegistryInvalid,
    RequestInvalid,
    RequestNotFound,
    RequestNotYetKnown,
    TransitionRefused,
)
from accord.federation.models import DeliveryState
from accord.federation.service import Federation, Handler
from accord.identity.registry import Registry
from accord.requests.catalogs import LANGUAGES
from accord.requests.deadlines import Due, due
from accord.requests.events import Event, Kind, Party, RequestState, Status
from accord.requests.fold import Folded, fold, propose
from accord.requests.machine import WORKFLOW_TYPES, Case
from accord.requests.models import RequestType, Urgency
from accord.requests.pinned import pin, pinned
from accord.requests.records import Request
from accord.requests.render import render
from accord.requests.validate import validate
from accord.requests.wire import (
    event_json,
    events_body,
    read_events,
    read_request,
    record_json,
    request_body,
    sender_party,
)

R = RequestType
MLA_TYPES = frozenset({R.MLA, R.MLA_STORED_DATA, R.MLA_REAL_TIME_TRAFFIC, R.MLA_INTERCEPTION})
# The requested State's moves that decide a request (a linked preservation then closes)
DECISIONS = frozenset({Kind.REFUSE, Kind.EXECUTE, Kind.EXECUTE_PARTIALLY, Kind.END_COLLECTION})
PRIORITY = {Urgency.NORMAL: Priority.ROUTINE, Urgency.URGENT: Priority.URGENT}
# `accord request reply`: the reply's outcome and the move that gives it (§3.1, §3.3 replies)
REPLIES = {
    "executed": Kind.EXECUTE,
    "partially_executed": Kind.EXECUTE_PARTIALLY,
    "refused": Kind.REFUSE,
    "preserved": Kind.CONFIRM_HOLD,
    "postponed": Kind.POSTPONE,
    "conditions": Kind.PROPOSE_CONDITIONS,
}


class Relation:
    FOLLOW_UP = "follow_up"  # preservation -> its follow-up MLA request (BC 29(7))
    TRAFFIC_DISCLOSURE = "traffic_disclosure"  # preservation -> disclosure (UNCC Art. 43)
    THIRD_STATE_PRESERVATION = "third_state_preservation"  # disclosure -> preservation sent on


Proposal = tuple[Request, Event, str]  # a checked event, the request it moves, the other State


@dataclass(frozen=True)
class Summary:
    request_id: str
    type: RequestType
    role: Party  # this node's side
    counterpart: str
    status: Status | None  # None: a one-way communication
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Link:
    request_id: str
    linked_id: str
    relation: str


@dataclass(frozen=True)
class Carrier:
    """A message that carried events of the request, and where its delivery stands."""

    message_id: str
    author: str
    delivery: DeliveryState | None  # None for a message this node received
    last_error: str | None


@dataclass(frozen=True)
class Shown:
    summary: Summary
    request: Request
    folded: Folded | None
    events: tuple[Event, ...]  # in the order the fold applies them
    links: tuple[Link, ...]
    carriers: tuple[Carrier, ...]


@dataclass
class _Plan:
    """Everything one command stores and sends, committed together."""

    events: list[Proposal] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    messages: list[tuple[str, MessageKind, dict[str, Any], Priority]] = field(default_factory=list)


class Requests:
    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.node = federation.node

    def handlers(self) -> dict[MessageKind, Handler]:
        """The message kinds a serving node stores through this service (ADR 0012)."""
        return {MessageKind.REQUEST: self._on_request, MessageKind.REQUEST_EVENTS: self._on_events}

    def registry(self) -> Registry:
        registry = self.federation.directory().document.states_parties
        if registry is None:
            raise RegistryInvalid(
                "the installed directory carries no States Parties registry",
                advice="Ask the stewards for a directory with one (`accord directory registry`).",
            )
        return registry

    # Reading -------------------------------------------------------------------------------

    def summaries(self, limit: int = 500) -> list[Summary]:
        with self.node.read_engine.connect() as connection:
            rows = connection.execute(
                select(requests).order_by(requests.c.updated_at.desc()).limit(limit)
            ).all()
        return [self._summary(row) for row in rows]

    def summary(self, request_id: str) -> Summary:
        with self.node.read_engine.connect() as connection:
            return self._summary(request_row(connection, request_id))

    def show(self, request_id: str) -> Shown:
        with self.node.read_engine.connect() as connection:
            row = request_row(connection, request_id)
            events = _events(connection, request_id)
            links = connection.execute(
                select(request_links).where(
                    (request_links.c.request_id == request_id)
                    | (request_links.c.linked_id == request_id)
                )
            ).all()
            carriers = _carriers(connection, request_id, self.node.id)
            request = validate(json.loads(row.record))
            folded = (
                self._fold(connection, row.registry_sha256, request, events) if row.status else None
            )
        order = {event_id: n for n, event_id in enumerate(folded.order)} if folded else {}
        ordered = sorted(events, key=lambda e: (order.get(e.id, len(order)), e.actor, e.seq))
        return Shown(
            self._summary(row),
            request,
            folded,
            tuple(ordered),
            tuple(Link(r.request_id, r.linked_id, r.relation) for r in links),
            carriers,
        )

    def render(self, request_id: str, lang: str | None = None) -> str:
        """The request, its state and both States' events as a printable HTML document, in
        ``lang`` or else the first language the requested State accepts that Accord has."""
        shown = self.show(request_id)
        request = shown.request
        if lang is None:
            party = self.registry().party(request.requested_state)
            accepted = party.languages if party else ()
            lang = next((code for code in accepted if code in LANGUAGES), "en")
        directory = self.federation.directory()
        return render(
            request,
            shown.folded.state if shown.folded else None,
            shown.events,
            lang=lang,
            parties={p.id: p.name for p in directory.document.participants},
            generated_at=self.node.clock.now(),
        )

    def due(self, now: datetime | None = None) -> list[tuple[Due, Summary]]:
        """What is due or overdue on this node's requests, soonest first."""
        at = now or self.node.clock.now()
        with self.node.read_engine.connect() as connection:
            rows = connection.execute(select(requests).where(requests.c.status.is_not(None))).all()
        summaries = {row.request_id: self._summary(row) for row in rows}
        pairs = []
        for row in rows:
            request = validate(json.loads(row.record))
            pairs.append((request, RequestState.model_validate_json(row.folded)))
        return [(item, summaries[item.request_id]) for item in due(pairs, at)]

    # This State's moves --------------------------------------------------------------------

    def create(self, data: Mapping[str, Any], to: str) -> Summary:
        """Validate a request record, check it may be submitted today, and send it to ``to``;
        stored, audited and queued together, or nothing at all."""
        directory = self.federation.directory()
        me = directory.participant(self.node.id)
        peer = directory.participant(to)
        now = self.node.clock.now()
        request = validate(_completed(data, to, now))
        party = sender_party(request, me.country, peer.country)
        if request.receiving_authority != to:
            raise _addressed(request.receiving_authority, to)
        plan = _Plan()
        events: list[Event] = []
        registry = self.registry() if request.REQUEST_TYPE in WORKFLOW_TYPES else None
        if registry is not None:  # one-way communications have no state to judge
            case = Case(request, registry)
            for kind in (Kind.VALIDATE, Kind.SUBMIT):  # §8.2: DRAFT -> VALIDATED -> SUBMITTED
                events.append(propose(case, events, party, kind, at=now))
        self._links_on_create(request, plan, now)
        body = request_body(request, events)
        plan.messages.insert(0, (to, MessageKind.REQUEST, body, _priority(request)))
        requester, requested = (self.node.id, to) if party is Party.REQUESTING else (to, me.id)
        digest = _sha256(record_json(request))

        def store(connection: Connection, message_ids: Sequence[str]) -> list[AuditEvent]:
            if connection.execute(
                select(requests.c.request_id).where(requests.c.request_id == request.message_id)
            ).first():
                raise RequestInvalid(
                    f"a request {request.message_id} already exists on this node",
                    advice="Give the new request its own message_id, or leave it out.",
                    errors=[FieldError("message_id", "unique", "already used on this node")],
                )
            _insert_request(
                connection,
                request,
                role=party,
                requester=requester,
                requested=requested,
                registry=pin(connection, registry) if registry else None,
                at=now,
            )
            _insert_events(connection, events, self.node.id, message_ids[0], now)
            self._refold(connection, request.message_id, now)
            return [
                AuditEvent(me.id, Action.REQUEST_SENT, request.message_id, digest, (me.id, to)),
                *_audited(events, me.id, (me.id, to)),
            ]

        self._commit(plan, now, store)
        return self.summary(request.message_id)

    def transition(
        self, request_id: str, kind: Kind, payload: Mapping[str, Any] | None = None
    ) -> Summary:
        """Make this State's move ``kind`` on a request and send it to the other State."""
        now = self.node.clock.now()
        plan = _Plan()
        request, event, counterpart = self._propose(request_id, kind, payload or {}, now)
        plan.events.append((request, event, counterpart))
        if kind in DECISIONS and request.REQUEST_TYPE in MLA_TYPES:
            self._decide_follow_up(request, plan, now)
        self._commit(plan, now)
        return self.summary(request_id)

    def reply(self, request_id: str, data: Mapping[str, Any]) -> Summary:
        """The requested State's reply: ``outcome`` names the move, the rest is its payload."""
        outcome = data.get("outcome")
        if outcome not in REPLIES:
            raise RequestInvalid(
                f"a reply's outcome is one of {', '.join(REPLIES)}",
                advice="Set outcome in the reply file.",
                errors=[FieldError("outcome", "invalid_choice", f"not {outcome!r}", "Art. 40")],
            )
        payload = {k: v for k, v in data.items() if k != "outcome"}
        return self.transition(request_id, REPLIES[str(outcome)], payload)

    def forward(self, request_id: str, to: str, note: str = "") -> Summary:
        """Send data received under a request on to ``to``: only with the requested State's
        recorded authorisation (UNCC Art. 36(3); UNTOC 18(19)); a refused attempt is audited."""
        self.federation.directory().participant(to)
        now = self.node.clock.now()
        try:
            request, event, counterpart = self.propose_forward(request_id, to, now)
        except OnwardTransferBlocked:
            me = self.node.id
            refused = AuditEvent(me, Action.REQUEST_FORWARD_REFUSED, request_id, None, (me, to))
            self.node.writer.run(lambda connection: record(connection, [refused], now))
            raise
        with self.node.read_engine.connect() as connection:
            state = RequestState.model_validate_json(request_row(connection, request_id).folded)
        plan = _Plan(events=[(request, event, counterpart)])
        plan.messages.append(
            (to, MessageKind.NOTE, _forwarded(request, state, note), Priority.ROUTINE)
        )
        self._commit(plan, now)
        return self.summary(request_id)

    def propose_forward(
        self, request_id: str, to: str, now: datetime, earlier: Sequence[Proposal] = ()
    ) -> Proposal:
        """This State's move recording that data received under ``request_id`` goes on to
        ``to``, checked after the ``earlier`` moves not yet stored: raises the rule it breaks
        (UNCC Art. 36(3): only with the requested State's authorisation)."""
        return self._propose(request_id, Kind.FORWARD, {"recipient": to}, now, earlier)

    def commit(self, moves: Sequence[Proposal], now: datetime, audit: Sequence[AuditEvent]) -> None:
        """Store, audit and send ``moves`` together with another domain's ``audit`` records,
        in one transaction."""
        self._commit(_Plan(events=list(moves)), now, lambda _connection, _ids: list(audit))

    def _propose(
        self,
        request_id: str,
        kind: Kind,
        payload: Mapping[str, Any],
        now: datetime,
        earlier: Sequence[Proposal] = (),
    ) -> Proposal:
        with self.node.read_engine.connect() as connection:
            row = request_row(connection, request_id)
            events = _events(connection, request_id)
            case = Case(
                validate(json.loads(row.record)), self._registry(connection, row.registry_sha256)
            )
        events += [event for request, event, _ in earlier if request.message_id == request_id]
        request = case.request
        if row.status is None:
            message = f"{request_id} is a one-way communication ({request.type}); it has no moves"
            raise TransitionRefused(
                message,
                advice="Send a new request instead.",
                errors=[FieldError("kind", "one_way_communication", message, request.article())],
            )
        event = propose(case, events, Party(row.role), kind, at=now, payload=payload)
        return request, event, _counterpart(row)

    def _links_on_create(self, request: Request, plan: _Plan, now: datetime) -> None:
        rid = request.message_id
        for link in _named_links(request):
            plan.links.append(link)
            if link.relation == Relation.FOLLOW_UP:  # BC 29(7): the hold waits for it
                move = (Kind.LINK_FOLLOW_UP, {"follow_up_id": rid})
                self._move_if(link.request_id, Status.PRESERVED, move, plan, now)
            else:  # UNCC Art. 43: recorded on the preservation it came from (state unchanged)
                move = (Kind.DISCLOSE_TRAFFIC, {"disclosure_id": rid})
                self._move_if(link.request_id, None, move, plan, now)
        if request.REQUEST_TYPE is R.PRESERVATION:
            with self.node.read_engine.connect() as connection:
                known = connection.execute(
                    select(requests.c.request_id).where(
                        requests.c.request_id.in_(request.related_ids),
                        requests.c.type == R.TRAFFIC_DISCLOSURE.value,
                    )
                ).scalars()
                plan.links += [Link(d, rid, Relation.THIRD_STATE_PRESERVATION) for d in known]

    def _decide_follow_up(self, request: Request, plan: _Plan, now: datetime) -> None:
        """BC 29(7): the hold kept for a follow-up request ends when that request is decided."""
        parent = getattr(request, "linked_preservation_id", None)
        if parent:
            self._move_if(
                parent, Status.PRESERVED_PENDING_DECISION, (Kind.DECIDE_FOLLOW_UP, {}), plan, now
            )

    def _move_if(
        self,
        request_id: str,
        status: Status | None,
        move: tuple[Kind, Mapping[str, Any]],
        plan: _Plan,
        now: datetime,
    ) -> None:
        """Add a move on a linked request held on this node, when it is in ``status`` (any
        status if None); a linked request elsewhere is linked by its own node."""
        with self.node.read_engine.connect() as connection:
            row = connection.execute(
                select(requests.c.status).where(requests.c.request_id == request_id)
            ).first()
        if row is None or row.status is None or (status is not None and row.status != status):
            return
        plan.events.append(self._propose(request_id, *move, now))

    # Committing ----------------------------------------------------------------------------

    def _commit(
        self,
        plan: _Plan,
        now: datetime,
        first: Callable[[Connection, Sequence[str]], list[AuditEvent]] | None = None,
    ) -> None:
        """Sign every message of the plan, then store events, links, messages and audit
        records in one transaction."""
        messages = list(plan.messages)
        for request, event, counterpart in plan.events:
            body = events_body(request.message_id, [event])
            messages.append((counterpart, MessageKind.REQUEST_EVENTS, body, _priority(request)))
        prepared = [self.federation.prepare(*message) for message in messages]
        message_ids = [message_id for _job, message_id in prepared]
        me = self.node.id
        carriers = message_ids[len(plan.messages) :]

        def job(connection: Connection) -> None:
            audit = first(connection, message_ids) if first else []
            for (request, event, counterpart), message_id in zip(
                plan.events, carriers, strict=True
            ):
                _require_next(connection, event)
                _insert_events(connection, [event], me, message_id, now)
                self._refold(connection, request.message_id, now)
                audit += _audited([event], me, (me, counterpart))
            _insert_links(connection, plan.links, now)
            for send, _message_id in prepared:
                send(connection)
            record(connection, audit, now)

        self.node.writer.run(job)
        self.federation.enqueued()

    def _refold(self, connection: Connection, request_id: str, now: datetime) -> Folded | None:
        row = connection.execute(
            select(requests.c.record, requests.c.status, requests.c.registry_sha256).where(
                requests.c.request_id == request_id
            )
        ).first()
        if row is None or row.status is None:
            return None
        request = validate(json.loads(row.record))
        folded = self._fold(
            connection, row.registry_sha256, request, _events(connection, request_id)
        )
        connection.execute(
            update(requests)
            .where(requests.c.request_id == request_id)
            .values(
                status=folded.state.status.value,
                folded=folded.state.model_dump_json(),
                updated_at=now.timestamp(),
            )
        )
        return folded

    def _fold(
        self,
        connection: Connection,
        pinned_to: str | None,
        request: Request,
        events: Iterable[Event],
    ) -> Folded:
        return fold(Case(request, self._registry(connection, pinned_to)), events)

    def _registry(self, connection: Connection, pinned_to: str | None) -> Registry:
        """The registry a request is judged under: the one pinned when this node stored it."""
        return pinned(connection, pinned_to) if pinned_to else self.registry()  # before 0005

    # The other State's messages (writer jobs, in the message's own transaction) ------------

    def _on_request(self, connection: Connection, opened: Opened, at: datetime) -> list[AuditEvent]:
        sender, me = opened.routing.sender, self.node.id
        directory = self.federation.directory()
        request, events = read_request(opened.body)
        their = sender_party(
            request, directory.participant(sender).country, directory.participant(me).country
        )
        if request.receiving_authority != me:
            raise _addressed(request.receiving_authority, me)
        rid = request.message_id
        if connection.execute(
            select(requests.c.request_id).where(requests.c.request_id == rid)
        ).first():
            raise EventConflict(
                f"a request {rid} already exists on this node",
                advice="Request ids are single-use; the sender must create a new request.",
                errors=[FieldError("request.message_id", "unique", "already used on this node")],
            )
        workflow = request.REQUEST_TYPE in WORKFLOW_TYPES
        if not workflow and events:
            raise TransitionRefused(f"a {request.type} is a communication; it carries no events")
        _require_actor(events, their)
        requester, requested = (sender, me) if their is Party.REQUESTING else (me, sender)
        # events that arrived before their request from anyone but its sender are dropped
        connection.execute(
            delete(request_events).where(
                request_events.c.request_id == rid, request_events.c.author != sender
            )
        )
        _insert_request(
            connection,
            request,
            role=their.other,
            requester=requester,
            requested=requested,
            registry=pin(connection, self.registry()) if workflow else None,
            at=at,
        )
        new = _insert_events(connection, events, sender, opened.routing.message_id, at)
        folded = self._refold(connection, rid, at)
        if folded is not None:
            _require_applied(folded, events)
        _insert_links(connection, _named_links(request), at)
        digest = _sha256(record_json(request))
        parties = (sender, me)
        return [
            AuditEvent(sender, Action.REQUEST_RECEIVED, rid, digest, parties),
            *_audited(new, sender, parties),
        ]

    def _on_events(self, connection: Connection, opened: Opened, at: datetime) -> list[AuditEvent]:
        sender, me = opened.routing.sender, self.node.id
        events = read_events(opened.body)
        rid = str(opened.body["request_id"])
        row = connection.execute(select(requests).where(requests.c.request_id == rid)).first()
        if row is None:
            # the request itself may still be on its way; only its requester moves before it
            # arrives, and its events are dropped if another participant sends the request
            _require_actor(events, Party.REQUESTING)
            _require_unclaimed(connection, events, sender)
        else:
            if sender != _counterpart(row):
                raise NotEntitled(
                    f"{sender} is not a party to request {rid}",
                    advice="Only the two States of a request exchange its events.",
                    errors=[
                        FieldError("sender", "party_to_request", f"{sender} is not", "Art. 40")
                    ],
                )
            if row.status is None:
                raise TransitionRefused(f"{rid} is a one-way communication; it has no events")
            _require_actor(events, Party(row.role).other)
        new = _insert_events(connection, events, sender, opened.routing.message_id, at)
        self._refold(connection, rid, at)
        return _audited(new, sender, (sender, me))

    def _summary(self, row: Row[Any]) -> Summary:
        return Summary(
            row.request_id,
            RequestType(row.type),
            Party(row.role),
            _counterpart(row),
            Status(row.status) if row.status else None,
            row.created_at,
            row.updated_at,
        )


# Rows ----------------------------------------------------------------------------------------


def request_row(connection: Connection, request_id: str) -> Row[Any]:
    row = connection.execute(select(requests).where(requests.c.request_id == request_id)).first()
    if row is None:
        raise RequestNotFound(
            f"no request {request_id} on this node",
            advice="List the requests with `accord request list`.",
        )
    return row


def _counterpart(row: Row[Any]) -> str:
    return str(row.requested if row.role == Party.REQUESTING else row.requester)


def _events(connection: Connection, request_id: str) -> list[Event]:
    rows = connection.execute(
        select(request_events.c.event).where(request_events.c.request_id == request_id)
    ).scalars()
    return [Event.model_validate_json(text) for text in rows]


def _insert_request(
    connection: Connection,
    request: Request,
    *,
    role: Party,
    requester: str,
    requested: str,
    registry: str | None,  # the pinned registry's digest; None for one-way communications
    at: datetime,
) -> None:
    workflow = request.REQUEST_TYPE in WORKFLOW_TYPES
    connection.execute(
        requests.insert().values(
            request_id=request.message_id,
            type=request.type,
            role=role.value,
            requester=requester,
            requested=requested,
            record=record_json(request),
            created_at=at.timestamp(),
            status=Status.DRAFT.value if workflow else None,
            registry_sha256=registry,
            updated_at=at.timestamp(),
        )
    )


def _held(connection: Connection, event: Event) -> Row[Any, Any] | None:
    """The stored event with ``event``'s id, and who sent it."""
    return connection.execute(
        select(request_events.c.event, request_events.c.author).where(
            request_events.c.request_id == event.request_id,
            request_events.c.actor == event.actor.value,
            request_events.c.seq == event.seq,
        )
    ).first()


def _insert_events(
    connection: Connection, events: Iterable[Event], author: str, message_id: str, at: datetime
) -> list[Event]:
    """Store the events not yet held; the same id with other content is an equivocation."""
    new = []
    for event in events:
        held = _held(connection, event)
        if held is not None:
            if Event.model_validate_json(held.event) != event:
                raise EventConflict(
                    f"event {event.seq} of the {event.actor} State on {event.request_id} was "
                    "already received with other content",
                    advice="Compare both signed messages with the other State; one of them was "
                    "not produced by its node.",
                    errors=[FieldError("events", "equivocation", "two contents, one event id")],
                )
            continue
        connection.execute(
            request_events.insert().values(
                request_id=event.request_id,
                actor=event.actor.value,
                seq=event.seq,
                kind=event.kind.value,
                author=author,
                event=event_json(event),
                message_id=message_id,
                stored_at=at.timestamp(),
            )
        )
        new.append(event)
    return new


def _require_unclaimed(connection: Connection, events: Iterable[Event], sender: str) -> None:
    """Before its request arrives, an event id held from another participant says nothing of
    who the requester is: refusing this one as an equivocation (409, final) would let a third
    participant block the requester's events, so it is asked to come again once the request
    has arrived (and the other participant's events are dropped)."""
    for event in events:
        held = _held(connection, event)
        if held is not None and held.author != sender:
            raise RequestNotYetKnown(
                f"request {event.request_id} has not arrived and event {event.seq} of its "
                f"requesting State was already sent by another participant",
                advice="Send the events again after the request itself (the outbox retries).",
                errors=[FieldError("events", "request_not_yet_known", "sent by two participants")],
            )


def _require_next(connection: Connection, event: Event) -> None:
    # another process of this node (PostgreSQL, ADR 0021) may be moving the same request:
    # its row lock makes this move wait for that commit, then see its event below
    connection.execute(
        select(requests.c.request_id)
        .where(requests.c.request_id == event.request_id)
        .with_for_update()
    )
    held = connection.execute(
        select(request_events.c.seq).where(
            request_events.c.request_id == event.request_id,
            request_events.c.actor == event.actor.value,
            request_events.c.seq >= event.seq,
        )
    ).first()
    if held is not None:
        raise TransitionRefused(
            f"another move on {event.request_id} was recorded while this one was prepared",
            advice="Look at the request again (`accord request show`) and repeat the command.",
        )


def _insert_links(connection: Connection, links: Iterable[Link], at: datetime) -> None:
    for link in links:
        exists = connection.execute(
            select(request_links.c.at).where(
                request_links.c.request_id == link.request_id,
                request_links.c.linked_id == link.linked_id,
                request_links.c.relation == link.relation,
            )
        ).first()
        if exists is None:
            connection.execute(
                request_links.insert().values(
                    request_id=link.request_id,
                    linked_id=link.linked_id,
                    relation=link.relation,
                    at=at.timestamp(),
                )
            )


def _named_links(request: Request) -> list[Link]:
    """The requests a record names: the preservation a follow-up MLA continues (BC 29(7)),
    the preservation a traffic disclosure comes from (UNCC Art. 43)."""
    rid = request.message_id
    links = []
    parent = getattr(request, "linked_preservation_id", None)
    if request.REQUEST_TYPE in MLA_TYPES and parent:
        links.append(Link(parent, rid, Relation.FOLLOW_UP))
    disclosed = getattr(request, "parent_preservation_id", None)
    if request.REQUEST_TYPE is R.TRAFFIC_DISCLOSURE and disclosed:
        links.append(Link(disclosed, rid, Relation.TRAFFIC_DISCLOSURE))
    return links


def _carriers(connection: Connection, request_id: str, me: str) -> tuple[Carrier, ...]:
    rows = connection.execute(
        select(
            request_events.c.message_id,
            request_events.c.author,
            deliveries.c.state,
            deliveries.c.last_error,
        )
        .outerjoin(deliveries, deliveries.c.message_id == request_events.c.message_id)
        .where(request_events.c.request_id == request_id)
        .distinct()
    ).all()
    return tuple(
        Carrier(
            row.message_id,
            row.author,
            DeliveryState(row.state) if row.state and row.author == me else None,
            row.last_error,
        )
        for row in rows
    )


# Checks --------------------------------------------------------------------------------------


def _completed(data: Mapping[str, Any], to: str, now: datetime) -> dict[str, Any]:
    """A record file may leave out its id and addressee; ``request new`` fills them in."""
    completed = dict(data)
    completed.setdefault("message_id", new_message_id(now))
    completed.setdefault("receiving_authority", to)
    return completed


def _addressed(named: str, to: str) -> RequestInvalid:
    message = f"the record names {named} as receiving authority, not {to}"
    return RequestInvalid(
        message,
        advice="Send the request to the authority it names, or correct receiving_authority.",
        errors=[FieldError("receiving_authority", "addressee", message, "Art. 40")],
    )


def _require_actor(events: Sequence[Event], party: Party) -> None:
    for index, event in enumerate(events):
        if event.actor is not party:
            message = f"event {index} is a move of the {event.actor} State, not the sender's"
            raise NotEntitled(
                message,
                advice="A node sends only its own State's moves.",
                errors=[FieldError(f"events.{index}.actor", "entitled_party", message, "Art. 40")],
            )


def _require_applied(folded: Folded, events: Sequence[Event]) -> None:
    """A new request's first events must hold here too (in force, language: §8.4 inv. 9)."""
    for rejection in folded.rejected:
        if rejection.event in {event.id for event in events}:
            raise TransitionRefused(
                f"this node does not accept the request: {rejection.message}",
                advice="Check the request against the registry both States use.",
                errors=[FieldError("events", rejection.code, rejection.message)],
            )


def _audited(events: Iterable[Event], actor: str, parties: tuple[str, ...]) -> list[AuditEvent]:
    return [
        AuditEvent(
            actor, Action.REQUEST_EVENT, event.request_id, _sha256(event_json(event)), parties
        )
        for event in events
    ]


def _priority(request: Request) -> Priority:
    return PRIORITY.get(request.urgency, Priority.FLASH)


def _sha256(text: str) -> str:
    return sha256_hex(text.encode())


def _forwarded(request: Request, state: RequestState, note: str) -> dict[str, Any]:
    lines = [
        f"Forwarded with the authorisation of {request.requested_state} (UNCC Art. 36(3)).",
        f"Request {request.message_id} ({request.type}, case {request.case_ref}).",
    ]
    lines += [f"Executed: {item}" for item in state.executed_items]
    lines += [f"Use limitation: {item}" for item in state.use_limitations]
    lines += [f"Evidence package: {item}" for item in state.evidence_packages]
    if note:
        lines.append(note)
    return {
        "subject": f"Forwarded: {request.type} {request.message_id}",
        "text": "\n".join(lines),
        "attachments": [],
    }
