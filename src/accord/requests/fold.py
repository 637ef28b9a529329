"""Both nodes' copy of a request's state: a deterministic fold over the set of its events.

Events arrive late, twice or out of order; each node keeps the set it has received and folds
it. The fold deduplicates by event id, holds back an event until what its author had seen
has arrived, orders the rest by their two-party vector clock (a causal order, ties broken by
party), and applies them one by one. An event that breaks a rule at its place in that order
(two moves made at once by the two States) is kept as a rejection, the same on both nodes.
See ADR 0008.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accord.errors import EventConflict, RequestError
from accord.requests.events import Event, EventId, Kind, Party, RequestState, Status
from accord.requests.machine import Case, apply, canonical_payload, initial_state

# Concurrent moves with the same clock sum: the requesting State's first. Withdrawal is its
# right at any time (UNTOC 18(24)), and a request withdrawn needs no further execution.
_RANK = {Party.REQUESTING: 0, Party.REQUESTED: 1}


@dataclass(frozen=True)
class Rejection:
    event: EventId
    code: str
    message: str


@dataclass(frozen=True)
class Folded:
    state: RequestState
    trail: tuple[tuple[EventId, Status], ...]  # each applied event and the status after it
    rejected: tuple[Rejection, ...]
    pending: tuple[EventId, ...]  # waiting for an event their author had seen
    received: Mapping[Party, int]  # per party, how many events arrived without a gap
    order: tuple[EventId, ...]  # the ready events (applied or rejected), in fold order

    @property
    def applied(self) -> tuple[EventId, ...]:
        return tuple(event_id for event_id, _ in self.trail)


def fold(case: Case, events: Iterable[Event]) -> Folded:
    """The state both nodes reach from the same set of events, whatever their order."""
    unique = _deduplicate(events)
    received = {party: _prefix(unique, party) for party in Party}
    ready = sorted(
        (e for e in unique.values() if _is_ready(e, received)),
        key=lambda e: (e.seq + e.seen, _RANK[e.actor]),
    )
    state = initial_state(case.request)
    trail: list[tuple[EventId, Status]] = []
    rejected: list[Rejection] = []
    for event in ready:
        try:
            state = apply(case, state, event)
        except RequestError as error:
            rejected.append(Rejection(event.id, error.code, error.message))
        else:
            trail.append((event.id, state.status))
    waiting = sorted(set(unique) - {e.id for e in ready}, key=lambda i: (_RANK[i[0]], i[1]))
    order = tuple(e.id for e in ready)
    return Folded(state, tuple(trail), tuple(rejected), tuple(waiting), received, order)


def propose(
    case: Case,
    events: Iterable[Event],
    actor: Party,
    kind: Kind,
    *,
    at: datetime,
    payload: Mapping[str, Any] | None = None,
) -> Event:
    """The next event ``actor`` may sign and send, checked against the current state: raises
    the rule it breaks instead of producing an event the other node would reject."""
    known = list(events)
    folded = fold(case, known)
    own = max((e.seq for e in known if e.actor is actor), default=0)
    event = Event(
        request_id=case.request.message_id,
        actor=actor,
        seq=own + 1,
        seen=folded.received[actor.other],
        kind=kind,
        at=at,
        payload=canonical_payload(kind, payload or {}),
    )
    apply(case, folded.state, event)
    return event


def _deduplicate(events: Iterable[Event]) -> dict[EventId, Event]:
    unique: dict[EventId, Event] = {}
    for event in events:
        known = unique.setdefault(event.id, event)
        if known != event:
            # one author, one number, two contents: equivocation, never a network accident
            raise EventConflict(
                f"two different events claim to be event {event.seq} of the {event.actor} State",
                advice="Stop processing this request and compare both signed events with the"
                " other State; one of them was not produced by its node.",
            )
    return unique


def _prefix(unique: Mapping[EventId, Event], party: Party) -> int:
    count = 0
    while (party, count + 1) in unique:
        count += 1
    return count


def _is_ready(event: Event, received: Mapping[Party, int]) -> bool:
    return event.seq <= received[event.actor] and event.seen <= received[event.actor.other]
