"""Both nodes agree: the fold over a request's events is idempotent, waits for what an event's
author had seen, and gives one state whatever the arrival order. Hypothesis drives random
histories through the machine and checks no forbidden state is ever reached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st

from accord.errors import EventConflict, NotEntitled, RequestError
from accord.identity.registry import Reservation
from accord.requests.events import TERMINAL, Event, Kind, Party, RequestState, Status
from accord.requests.fold import fold, propose
from accord.requests.grounds import NEVER_VALID
from accord.requests.machine import COLLECTION_TYPES, MOVES, Case, apply, initial_state
from accord.requests.models import RequestType
from accord.requests.records import Preservation
from accord.requests.validate import load, validate
from conftest import EXAMPLES, registry

A, B = Party.REQUESTING, Party.REQUESTED
START = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)  # before the Convention binds RU (2027-01-19)
DAY = timedelta(days=1)


def case(kind: RequestType, reserved: bool = False, **changes: Any) -> Case:
    data = load(EXAMPLES / f"{kind}.toml") | changes
    return Case(validate(data), registry(ru_reservation=reserved))


CASES = [
    case(RequestType.PRESERVATION),
    case(RequestType.PRESERVATION, True, oral_origin={"date": "2027-01-14T08:00:00Z"}),
    case(RequestType.MLA, confidentiality={"request_fact_and_substance": True}),
    case(RequestType.MLA_STORED_DATA),
    case(RequestType.MLA_REAL_TIME_TRAFFIC),
    case(RequestType.MLA_INTERCEPTION),
    case(RequestType.EXTRADITION),
    case(RequestType.JOINT_INVESTIGATION),
]


def payloads(kind: Kind, at: datetime) -> list[dict[str, Any]]:
    """Valid and invalid payloads for ``kind``: the machine must sort them out."""
    days = lambda n: at + n * DAY  # noqa: E731
    pools: dict[Kind, list[dict[str, Any]]] = {
        Kind.REFUSE: [{"grounds": g, "reasons": r}
                      for g in ([], ["ESSENTIAL_INTERESTS"], ["BANK_SECRECY"],
                                ["NO_DUAL_CRIMINALITY"], ["FISCAL_ONLY", "ESSENTIAL_INTERESTS"],
                                ["NONCONFORMING"])
                      for r in ("", "reasons")],
        Kind.POSTPONE: [{"reasons": ""}, {"reasons": "a domestic trial"}],
        Kind.PROPOSE_CONDITIONS: [{"conditions": []}, {"conditions": ["use only in this case"]}],
        Kind.CONFIRM_HOLD: [{"preserved_at": at, "hold_until": days(n)} for n in (30, 59, 60, 90)],
        Kind.EXTEND_HOLD: [{"hold_until": days(n)} for n in (1, 120)],
        Kind.LINK_FOLLOW_UP: [{"follow_up_id": "vn-2026-0044"}],
        Kind.DISCLOSE_TRAFFIC: [{"disclosure_id": "ru-2026-0043-d1"}],
        Kind.AUTHORISE_COLLECTION: [{"reference": "order", "authorised_from": at,
                                     "authorised_until": days(n)} for n in (-1, 10, 30)],
        Kind.RENEW_AUTHORISATION: [{"authorised_until": days(n)} for n in (-1, 40)],
        Kind.EXECUTE_PARTIALLY: [{}, {"not_executed_items": ["content"], "reasons": "deleted"}],
        Kind.AUTHORISE_ONWARD: [{"recipient": r} for r in ("za-doj-ca", "bg-gdnp-le")],
        Kind.FORWARD: [{"recipient": r} for r in ("za-doj-ca", "bg-gdnp-le")],
    }  # fmt: skip
    return pools.get(kind, [{}])


def forbidden(case: Case, state: RequestState) -> list[str]:
    """The oracle: states §8.4 forbids, written from the spec, not from the machine."""
    request, status, found = case.request, state.status, []
    kind = request.REQUEST_TYPE
    refusal = state.refusal
    if status is Status.REFUSED and (
        refusal is None or not refusal.grounds or not refusal.reasons.strip()
        or any(g in NEVER_VALID for g in refusal.grounds)
    ):  # fmt: skip
        found.append("refused without valid grounds and reasons")
    if status is Status.POSTPONED and (
        state.postponement is None or not state.postponement.reasons
    ):
        found.append("postponed without reasons")
    if kind in COLLECTION_TYPES and status in {Status.COLLECTING, Status.EXECUTED}:
        if state.authorisation is None:
            found.append("collection without an authorised period")
    elif status is Status.COLLECTING:
        found.append("collection for a type that does not collect")
    oral = request.oral_origin is not None
    if oral and status is Status.RECEIVED and state.confirmed_in_writing_at is None:
        found.append("oral request received unconfirmed")
    if not set(state.forwarded_to) <= set(state.onward_authorised):
        found.append("forwarded without authorisation")
    starts = [
        case.registry.entry_into_force_for(s)
        for s in (request.requesting_state, request.requested_state)
    ]
    if state.submitted_at is not None and any(
        d is None or state.submitted_at.date() < d for d in starts
    ):
        found.append("submitted before the Convention bound both States")
    return found + forbidden_for_preservation(case, state)


def forbidden_for_preservation(case: Case, state: RequestState) -> list[str]:
    request, hold, found = case.request, state.hold, []
    if state.status is Status.PRESERVED and (
        hold is None or hold.until is None or hold.until - hold.preserved_at < 60 * DAY
    ):
        found.append("hold under 60 days")
    if state.status is Status.PRESERVED_PENDING_DECISION and (
        hold is None or hold.until is not None
    ):
        found.append("pending hold with an expiry")
    preservation_only = {Status.PRESERVED, Status.PRESERVED_PENDING_DECISION, Status.RISK_NOTIFIED}
    if state.status in preservation_only and not isinstance(request, Preservation):
        found.append("preservation state for another type")
    if not isinstance(request, Preservation):
        return found
    if state.status in {Status.EXECUTED, Status.COLLECTING}:
        found.append("preservation executed without a hold")
    if state.refusal is None:
        return found
    reserved = case.registry.has_reservation("RU", Reservation.PRESERVATION_DUAL_CRIMINALITY)
    no_dual = "NO_DUAL_CRIMINALITY" in state.refusal.grounds
    if no_dual and (not reserved or request.core_offence):
        found.append("dual criminality refusal without reservation")
    return found


def candidates(state: RequestState, party: Party | None = None) -> list[Kind]:
    """Kinds that could move this state, so random histories get deep (withdrawal, possible
    from almost anywhere, would end most of them early: it is drawn separately)."""
    moves = [
        k
        for k, m in MOVES.items()
        if state.status in m.moves and k is not Kind.WITHDRAW and party in (None, m.party)
    ]
    return moves or list(Kind)


def next_kind(data: st.DataObject, state: RequestState, party: Party | None = None) -> Kind:
    # hypothesis favours the first choices: mostly moves the state allows
    source = data.draw(st.sampled_from(["allowed"] * 10 + ["any", "withdraw"]))
    if source == "withdraw":
        return Kind.WITHDRAW
    return data.draw(
        st.sampled_from(candidates(state, party) if source == "allowed" else list(Kind))
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_events_never_reach_a_forbidden_state(data: st.DataObject) -> None:
    chosen = data.draw(st.sampled_from(CASES))
    state, at = initial_state(chosen.request), START
    for seq in range(1, data.draw(st.integers(1, 40)) + 1):
        at += data.draw(
            st.sampled_from([timedelta(0), timedelta(hours=5), DAY, 30 * DAY, 61 * DAY])
        )
        kind = next_kind(data, state)
        entitled = data.draw(st.sampled_from([True, True, True, False]))
        actor = MOVES[kind].party if entitled else MOVES[kind].party.other
        event = Event(
            request_id=state.request_id, actor=actor, seq=seq, seen=0, kind=kind, at=at,
            payload=data.draw(st.sampled_from(payloads(kind, at))),
        )  # fmt: skip
        try:
            after = apply(chosen, state, event)
        except RequestError:
            continue
        assert state.status not in TERMINAL, f"{kind} left terminal {state.status}"
        assert forbidden(chosen, after) == [], (kind, after)
        state = after
    tally(f"{chosen.request.type} reached {state.status}")


class Node:
    def __init__(self, party: Party) -> None:
        self.party = party
        self.events: list[Event] = []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_two_nodes_receiving_the_same_events_in_any_order_agree(data: st.DataObject) -> None:
    chosen = data.draw(st.sampled_from(CASES))
    nodes = {party: Node(party) for party in Party}
    in_flight: dict[Party, list[Event]] = {A: [], B: []}  # events on their way to that party
    at = START
    for _ in range(data.draw(st.integers(1, 80))):
        action = data.draw(
            st.sampled_from(["propose", "propose", "deliver", "deliver", "duplicate"])
        )
        party = data.draw(st.sampled_from(list(Party)))
        node = nodes[party]
        if action == "propose":
            at += data.draw(st.sampled_from([timedelta(0), timedelta(hours=5), 3 * DAY, 61 * DAY]))
            state = fold(chosen, node.events).state
            kind = next_kind(data, state, party)
            body = data.draw(st.sampled_from(payloads(kind, at)))
            try:
                sent = propose(chosen, node.events, party, kind, at=at, payload=body)
            except RequestError:
                continue
            node.events.append(sent)
            in_flight[party.other].append(sent)
        elif action == "deliver" and in_flight[party]:
            index = data.draw(st.integers(0, len(in_flight[party]) - 1))
            node.events.append(in_flight[party].pop(index))  # any order
        elif action == "duplicate" and nodes[party.other].events:
            mine = [e for e in nodes[party.other].events if e.actor is party.other]
            if mine:
                in_flight[party].append(data.draw(st.sampled_from(mine)))
    for party in Party:
        nodes[party].events += in_flight[party]
    first, second = (fold(chosen, nodes[party].events) for party in Party)
    assert first == second
    tally(f"{chosen.request.type} ended {first.state.status}")  # --hypothesis-show-statistics
    tally(f"rejections: {bool(first.rejected)}")
    assert first.pending == ()
    assert forbidden(chosen, first.state) == []
    shuffled = data.draw(st.permutations([*nodes[A].events, *nodes[A].events[:3]]))
    assert fold(chosen, shuffled) == first


# Worked examples of the fold ---------------------------------------------------------------

MLA = CASES[2]
T = datetime(2027, 2, 1, tzinfo=UTC)


def ev(actor: Party, seq: int, seen: int, kind: Kind, **payload: Any) -> Event:
    return Event(request_id=MLA.request.message_id, actor=actor, seq=seq, seen=seen, kind=kind,
                 at=T, payload=payload)  # fmt: skip


HISTORY = [ev(A, 1, 0, Kind.VALIDATE), ev(A, 2, 0, Kind.SUBMIT), ev(B, 1, 2, Kind.ACKNOWLEDGE)]


def test_duplicates_change_nothing() -> None:
    assert fold(MLA, HISTORY * 3) == fold(MLA, HISTORY)
    assert fold(MLA, HISTORY).state.status is Status.RECEIVED


def test_an_event_waits_for_what_its_author_had_seen() -> None:
    early = fold(MLA, [HISTORY[2]])  # the acknowledgement overtook the request
    assert early.pending == ((B, 1),)
    assert early.state.status is Status.DRAFT
    assert early.rejected == ()
    partial = fold(MLA, [HISTORY[2], HISTORY[0]])
    assert partial.pending == ((B, 1),)
    assert partial.state.status is Status.VALIDATED
    complete = fold(MLA, [HISTORY[2], HISTORY[1], HISTORY[0]])
    assert complete.pending == ()
    assert complete.applied == ((A, 1), (A, 2), (B, 1))


def test_crossing_moves_resolve_the_same_way_on_both_nodes() -> None:
    withdraw = ev(A, 3, 1, Kind.WITHDRAW)  # sent before A saw B's triage
    triage = ev(B, 2, 2, Kind.BEGIN_ASSESSMENT)  # sent before B saw the withdrawal
    at_requesting = fold(MLA, [*HISTORY, withdraw, triage])
    at_requested = fold(MLA, [triage, *reversed(HISTORY), withdraw])
    assert at_requesting == at_requested
    assert at_requesting.state.status is Status.WITHDRAWN
    assert [r.event for r in at_requesting.rejected] == [(B, 2)]
    assert at_requesting.rejected[0].code == "transition_refused"


def test_two_events_with_one_id_and_different_content_are_an_equivocation() -> None:
    forged = ev(A, 2, 0, Kind.WITHDRAW)
    with pytest.raises(EventConflict, match="event 2 of the requesting State"):
        fold(MLA, [*HISTORY, forged])


def test_a_proposal_is_checked_before_it_is_signed() -> None:
    with pytest.raises(NotEntitled):
        propose(MLA, HISTORY, A, Kind.BEGIN_ASSESSMENT, at=T)
    event = propose(MLA, HISTORY, B, Kind.BEGIN_ASSESSMENT, at=T)
    assert (event.seq, event.seen) == (2, 2)


def test_a_proposal_carries_its_payload_as_json_reads_it() -> None:
    at_execution = [*HISTORY, ev(B, 2, 2, Kind.BEGIN_ASSESSMENT), ev(B, 3, 2, Kind.CONSULT)]
    event = propose(MLA, at_execution, B, Kind.POSTPONE, at=T,
                    payload={"reasons": "trial", "expected_resume": T + DAY})  # fmt: skip
    assert event.payload == {"reasons": "trial", "expected_resume": "2027-02-02T00:00:00Z"}
    assert fold(MLA, [*at_execution, event]).state.status is Status.POSTPONED
