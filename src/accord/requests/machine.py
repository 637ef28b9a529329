"""The request state machine of convention-procedures.md §8 as a pure function.

``apply(case, state, event)`` returns the next state or raises a :class:`RequestError` naming
the rule and article broken. Every invariant of §8.4 is checked here, so no service, API or
replica can reach a state the Convention forbids. Time is the event's own ``at``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError

from accord.errors import (
    CollectionPeriodInvalid,
    FieldError,
    NotEntitled,
    OnwardTransferBlocked,
    PreservationRuleBroken,
    RefusalInvalid,
    RequestError,
    TransitionRefused,
    WrittenConfirmationMissing,
)
from accord.fields import Strict
from accord.identity.registry import Registry
from accord.requests.events import (
    PAYLOADS,
    TERMINAL,
    ActiveHold,
    Authorisation,
    CollectionWindow,
    Conditions,
    Disclosure,
    Event,
    FollowUp,
    Hold,
    HoldExtension,
    Kind,
    Note,
    Onward,
    Outcome,
    Party,
    Postponement,
    Refusal,
    Renewal,
    RequestState,
    Status,
)
from accord.requests.grounds import check_refusal
from accord.requests.models import RequestType
from accord.requests.records import Preservation, Request

MIN_HOLD = timedelta(days=60)  # BC 29(7); UNCC Art. 42
S = Status
R = RequestType
COLLECTION_TYPES = frozenset({R.MLA_REAL_TIME_TRAFFIC, R.MLA_INTERCEPTION})
WORKFLOW_TYPES = frozenset(R) - {R.TRAFFIC_DISCLOSURE, R.SPONTANEOUS_INFORMATION}
Updates = dict[str, Any]
P = TypeVar("P", bound=Strict)


@dataclass(frozen=True)
class Case:
    """What the machine reads besides the state: the request record and the registry."""

    request: Request
    registry: Registry


def initial_state(request: Request) -> RequestState:
    """DRAFT, for a request type that has a workflow (§3.2 and §3.7 are one-way notices)."""
    if request.REQUEST_TYPE not in WORKFLOW_TYPES:
        raise TransitionRefused(
            f"a {request.type} is a communication, not a request with a workflow",
            advice="Send it as a message; it has no state to track.",
        )
    return RequestState(request_id=request.message_id)


def apply(case: Case, state: RequestState, event: Event) -> RequestState:
    """The state after ``event``, or the error naming the rule it breaks."""
    move = MOVES[event.kind]
    kind = case.request.REQUEST_TYPE
    if event.request_id != state.request_id:
        _refuse(
            TransitionRefused,
            event,
            "other_request",
            move.article,
            "is for another request",
        )
    if move.only is not None and kind not in move.only:
        _refuse(
            TransitionRefused,
            event,
            "not_for_this_type",
            move.article,
            f"does not apply to a {kind} request",
        )
    if event.actor is not move.party:
        _refuse(
            NotEntitled,
            event,
            "entitled_party",
            move.article,
            f"is for the {move.party} State to make",
        )
    target = move.moves.get(state.status)
    if target is None:
        _refuse(
            TransitionRefused,
            event,
            "not_from_this_state",
            move.article,
            f"is not allowed in {state.status}",
        )
    updates = move.effect(case, state, event) if move.effect else {}
    return state.model_copy(update={"status": target, "since": event.at, **updates})


_REFUSAL_FIELDS = {
    "other_request": "request_id",
    "not_for_this_type": "kind",
    "entitled_party": "actor",
    "not_from_this_state": "kind",
}


def _refuse(
    error: type[RequestError], event: Event, rule: str, article: str, text: str
) -> NoReturn:
    field = _REFUSAL_FIELDS[rule]
    message = f"{event.kind} by the {event.actor} State {text} ({article})"
    raise error(
        message,
        advice="Reload the request's current state; only the moves it allows can be made.",
        errors=[FieldError(field, rule, message, article)],
    )


def _broken(
    error: type[RequestError], where: tuple[str, str, str], text: str, advice: str
) -> RequestError:
    """The error for a broken rule; ``where`` is (field, rule, article)."""
    field, rule, article = where
    message = f"{text} ({article})"
    return error(message, advice=advice, errors=[FieldError(field, rule, message, article)])


def payload(event: Event, model: type[P]) -> P:
    return _parse(event.kind, event.payload, model)


def _parse(kind: Kind, data: Mapping[str, Any], model: type[P]) -> P:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        errors = [
            FieldError(".".join(map(str, d["loc"])) or "payload", d["type"], d["msg"], None)
            for d in exc.errors()
        ]
    raise TransitionRefused(
        f"the {kind} event's payload is invalid",
        advice="Send the fields this event needs, and no others.",
        errors=errors,
    )


def canonical_payload(kind: Kind, data: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as every node reads it after JSON transport (RFC 3339 times, lists)."""
    model = _parse(kind, data, PAYLOADS.get(kind, Note))
    return model.model_dump(mode="json", exclude_none=True)


# Guards and effects ------------------------------------------------------------------------


def _legal_basis(case: Case, _: RequestState, event: Event) -> Updates:
    request = case.request
    # §8.4 invariant 9; UNCC Art. 65: in force for both States on the day of submission
    if request.legal_basis.startswith("UNCC-"):
        case.registry.require_in_force(
            request.requesting_state, request.requested_state, event.at.date()
        )
    case.registry.require_language(request.requested_state, request.language)  # UNTOC 18(14)
    return {"submitted_at": event.at} if event.kind is Kind.SUBMIT else {}


def _oral_only(case: Case, _: RequestState, __: Event) -> Updates:
    if case.request.oral_origin is None:
        raise _broken(
            TransitionRefused,
            ("oral_origin", "not_oral", "Art. 40"),
            "only an oral request awaits written confirmation",
            "Acknowledge the request instead.",
        )
    return {}


def _confirmed(_: Case, __: RequestState, event: Event) -> Updates:
    payload(event, Note)
    return {"confirmed_in_writing_at": event.at}


def _acknowledge(case: Case, _: RequestState, __: Event) -> Updates:
    oral = case.request.oral_origin
    # §8.4 invariant 7; UNTOC 18(14): an oral request is confirmed in writing forthwith
    if oral is not None and oral.confirmed_in_writing_at is None:
        raise _broken(
            WrittenConfirmationMissing,
            ("oral_origin", "written_confirmation_required", "Art. 40"),
            "an oral request is received only once confirmed in writing",
            "Move it to AWAITING_WRITTEN_CONFIRMATION and wait for the written request.",
        )
    return {}


def _confidential_only(case: Case, state: RequestState, __: Event) -> Updates:
    request = case.request
    asked = request.confidential or (
        isinstance(request, Preservation) and request.confidential_no_user_notice
    )
    if not asked:
        raise _broken(
            TransitionRefused,
            ("confidentiality", "not_requested", "Art. 40"),
            "the request did not ask for confidentiality",
            "Continue the assessment.",
        )
    return {"notices": (*state.notices, Kind.REPORT_CONFIDENTIALITY_CONFLICT)}


def _refusal(case: Case, _: RequestState, event: Event) -> Updates:
    refusal = payload(event, Refusal)
    check_refusal(
        case.request, case.registry, refusal.grounds, refusal.reasons
    )  # invariants 1, 4, 5
    return {"refusal": refusal}


def _postponement(case: Case, _: RequestState, event: Event) -> Updates:
    postponement = payload(event, Postponement)
    if not postponement.reasons.strip():  # §8.4 invariant 1; BC 27(7)
        raise _broken(
            RefusalInvalid,
            ("reasons", "reasons_required", case.request.article()),
            "a postponement gives reasons",
            "State why execution would interfere with a domestic proceeding.",
        )
    return {"postponement": postponement}


def _conditions(case: Case, _: RequestState, event: Event) -> Updates:
    conditions = payload(event, Conditions).conditions
    if not conditions:
        raise _broken(
            TransitionRefused,
            ("conditions", "conditions_required", "Art. 40"),
            "a proposal names its conditions",
            "List the conditions offered.",
        )
    return {"conditions": conditions}


def _hold(_: Case, __: RequestState, event: Event) -> Updates:
    hold = payload(event, Hold)
    # §8.4 invariant 2; BC 29(7); UNCC Art. 42: at least 60 days to file the follow-up request
    if hold.hold_until - hold.preserved_at < MIN_HOLD:
        raise _broken(
            PreservationRuleBroken,
            ("hold_until", "hold_under_60_days", "Art. 42"),
            f"a hold from {hold.preserved_at:%Y-%m-%d} to {hold.hold_until:%Y-%m-%d}"
            " is shorter than 60 days",
            "Preserve the data for at least 60 days.",
        )
    return {"hold": ActiveHold(preserved_at=hold.preserved_at, until=hold.hold_until)}


def _hold_running(state: RequestState, event: Event, what: str) -> ActiveHold:
    hold = state.hold
    if hold is None or hold.until is None or event.at > hold.until:
        raise _broken(
            PreservationRuleBroken,
            ("hold_until", "hold_lapsed", "Art. 42"),
            f"the hold lapsed before it could {what}",
            "Send a new preservation request.",
        )
    return hold


def _extend(_: Case, state: RequestState, event: Event) -> Updates:
    hold = _hold_running(state, event, "be extended")
    until = payload(event, HoldExtension).hold_until
    if hold.until is not None and until <= hold.until:
        raise _broken(
            PreservationRuleBroken,
            ("hold_until", "not_an_extension", "Art. 42"),
            "an extension ends later than the hold",
            "Give a later hold_until.",
        )
    return {"hold": hold.model_copy(update={"until": until})}


def _link(_: Case, state: RequestState, event: Event) -> Updates:
    hold = _hold_running(state, event, "be linked to a follow-up request")
    # §8.4 invariant 3; BC 29(7): kept until the follow-up request is decided, with no expiry
    return {
        "hold": hold.model_copy(update={"until": None}),
        "follow_up_id": payload(event, FollowUp).follow_up_id,
    }


def _expire(_: Case, state: RequestState, event: Event) -> Updates:
    hold = state.hold
    if state.status is S.PRESERVED_PENDING_DECISION or hold is None or hold.until is None:
        raise _broken(
            PreservationRuleBroken,
            ("hold_until", "pending_decision_no_expiry", "Art. 42"),
            "a hold whose follow-up request awaits a decision does not expire",
            "Keep the data until the follow-up request is decided.",
        )
    if event.at <= hold.until:
        raise _broken(
            PreservationRuleBroken,
            ("hold_until", "hold_still_running", "Art. 42"),
            f"the hold runs until {hold.until:%Y-%m-%d %H:%M}",
            "Wait until hold_until has passed.",
        )
    return {}


def _disclose(_: Case, state: RequestState, event: Event) -> Updates:
    return {"disclosures": (*state.disclosures, payload(event, Disclosure).disclosure_id)}


def _authorise(case: Case, _: RequestState, event: Event) -> Updates:
    window = payload(event, Authorisation)
    article = case.request.article()
    # §8.4 invariant 10; BC 15(2): limited in duration
    if window.authorised_until <= window.authorised_from or event.at > window.authorised_until:
        raise _broken(
            CollectionPeriodInvalid,
            ("authorised_until", "period_invalid", article),
            "the authorised period must end after it starts and after now",
            "Record the domestic authorisation's real period.",
        )
    return {
        "authorisation": CollectionWindow(
            reference=window.reference, start=window.authorised_from, end=window.authorised_until
        )
    }


def _within_period(case: Case, state: RequestState, event: Event) -> CollectionWindow:
    window = state.authorisation
    if window is None or not window.start <= event.at <= window.end:
        raise _broken(
            CollectionPeriodInvalid,
            ("authorised_until", "outside_authorised_period", case.request.article()),
            "collection outside the authorised period is forbidden",
            "Stop collecting; renew the authorisation first.",
        )
    return window


def _renew(case: Case, state: RequestState, event: Event) -> Updates:
    window = _within_period(case, state, event)
    until = payload(event, Renewal).authorised_until
    if until <= window.end:
        raise _broken(
            CollectionPeriodInvalid,
            ("authorised_until", "not_a_renewal", case.request.article()),
            "a renewal ends later than the period",
            "Give a later authorised_until.",
        )
    return {
        "authorisation": window.model_copy(
            update={"end": until, "renewals": (*window.renewals, window.end)}
        )
    }


def _collect(case: Case, state: RequestState, event: Event) -> Updates:
    _within_period(case, state, event)  # §8.4 invariant 10: a hard error after the end
    return {"batches_collected": state.batches_collected + 1}


def _execute(case: Case, _: RequestState, event: Event) -> Updates:
    kind = case.request.REQUEST_TYPE
    if kind in COLLECTION_TYPES:  # §8.4 invariant 10: no collection without an authorised period
        raise _broken(
            CollectionPeriodInvalid,
            ("authorised_until", "authorisation_required", case.request.article()),
            "real-time collection runs only within an authorised period",
            "Record the authorisation (authorise_collection) first.",
        )
    if kind is R.PRESERVATION:
        raise _broken(
            TransitionRefused,
            ("kind", "hold_required", "Art. 42"),
            "a preservation request is executed by confirming the hold",
            "Send confirm_hold with the hold's dates.",
        )
    outcome = payload(event, Outcome)
    partial = event.kind is Kind.EXECUTE_PARTIALLY
    if partial and (not outcome.not_executed_items or not outcome.reasons.strip()):
        raise _broken(  # BC 27(6)-(7)
            TransitionRefused,
            ("not_executed_items", "partial_needs_items_and_reasons", case.request.article()),
            "partial execution names what was not done and why",
            "List the items not executed and give reasons.",
        )
    return {
        "executed_items": outcome.executed_items,
        "not_executed_items": outcome.not_executed_items,
        "use_limitations": outcome.use_limitations,
        "evidence_packages": outcome.evidence_packages,
    }


def _notice(_: Case, state: RequestState, event: Event) -> Updates:
    payload(event, Note)
    return {"notices": (*state.notices, event.kind)}


def _onward(_: Case, state: RequestState, event: Event) -> Updates:
    recipient = payload(event, Onward).recipient
    return {"onward_authorised": (*state.onward_authorised, recipient)}


def _forward(_: Case, state: RequestState, event: Event) -> Updates:
    recipient = payload(event, Onward).recipient
    # §8.4 invariant 8; UNCC Art. 36(3); UNTOC 18(19): prior authorisation of the originator
    if recipient not in state.onward_authorised:
        raise _broken(
            OnwardTransferBlocked,
            ("recipient", "onward_authorisation_required", "Art. 36"),
            f"data received under this request cannot go to {recipient}"
            " without the requested State's authorisation",
            "Ask the State that supplied the data to authorise this transfer first.",
        )
    return {"forwarded_to": (*state.forwarded_to, recipient)}


def _accept(_: Case, __: RequestState, event: Event) -> Updates:
    payload(event, Note)
    return {"conditions_accepted": True}


def _plain(_: Case, __: RequestState, event: Event) -> Updates:
    payload(event, Note)
    return {}


# The table of §8.2 -------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    party: Party
    moves: Mapping[Status, Status]
    article: str
    effect: Callable[[Case, RequestState, Event], Updates] | None = _plain
    only: frozenset[RequestType] | None = None


def _same(*states: Status) -> dict[Status, Status]:
    return {state: state for state in states}


A, B = Party.REQUESTING, Party.REQUESTED
PRESERVATION = frozenset({R.PRESERVATION})
AFTER_EXECUTION = {S.EXECUTED, S.PARTIALLY_EXECUTED, S.DELIVERED_RESTRICTED}
WITHDRAWABLE = {s: S.WITHDRAWN for s in S if s not in TERMINAL | AFTER_EXECUTION}
MOVES: dict[Kind, Move] = {
    Kind.VALIDATE: Move(A, {S.DRAFT: S.VALIDATED}, "Art. 65", _legal_basis),
    Kind.SUBMIT: Move(A, {S.VALIDATED: S.SUBMITTED}, "Art. 65", _legal_basis),
    Kind.AWAIT_WRITTEN_CONFIRMATION: Move(
        B, {S.SUBMITTED: S.AWAITING_WRITTEN_CONFIRMATION}, "Art. 40", _oral_only
    ),
    Kind.CONFIRM_IN_WRITING: Move(
        A, {S.AWAITING_WRITTEN_CONFIRMATION: S.RECEIVED}, "Art. 40", _confirmed
    ),
    Kind.ACKNOWLEDGE: Move(B, {S.SUBMITTED: S.RECEIVED}, "Art. 40", _acknowledge),
    Kind.BEGIN_ASSESSMENT: Move(B, {S.RECEIVED: S.UNDER_ASSESSMENT}, "Art. 40"),
    Kind.REQUEST_INFO: Move(B, {S.UNDER_ASSESSMENT: S.INFO_REQUESTED}, "Art. 40", _notice),
    Kind.SUPPLY_INFO: Move(A, {S.INFO_REQUESTED: S.UNDER_ASSESSMENT}, "Art. 40"),
    Kind.REPORT_CONFIDENTIALITY_CONFLICT: Move(
        B, {S.UNDER_ASSESSMENT: S.CONFIDENTIALITY_CONFLICT}, "Art. 40", _confidential_only
    ),
    # From RISK_NOTIFIED the requester's "proceed" returns to execution: the requested State
    # then confirms the hold with its dates (ADR 0008; §8.2 says PRESERVED directly)
    Kind.PROCEED: Move(
        A,
        {S.CONFIDENTIALITY_CONFLICT: S.UNDER_ASSESSMENT, S.RISK_NOTIFIED: S.IN_EXECUTION},
        "Art. 40",
    ),
    Kind.CONSULT: Move(B, {S.UNDER_ASSESSMENT: S.CONSULTATION}, "Art. 40"),
    Kind.PROPOSE_CONDITIONS: Move(
        B, {S.CONSULTATION: S.CONDITIONS_PROPOSED}, "Art. 40", _conditions
    ),
    Kind.ACCEPT_CONDITIONS: Move(A, {S.CONDITIONS_PROPOSED: S.IN_EXECUTION}, "Art. 40", _accept),
    Kind.DECLINE_CONDITIONS: Move(A, {S.CONDITIONS_PROPOSED: S.WITHDRAWN}, "Art. 40"),
    Kind.REFUSE: Move(B, {S.CONSULTATION: S.REFUSED}, "Art. 40", _refusal),
    Kind.POSTPONE: Move(B, {S.CONSULTATION: S.POSTPONED}, "Art. 40", _postponement),
    Kind.RESUME: Move(B, {S.POSTPONED: S.IN_EXECUTION}, "Art. 40"),
    Kind.START_EXECUTION: Move(B, {S.UNDER_ASSESSMENT: S.IN_EXECUTION}, "Art. 40"),
    Kind.CONFIRM_HOLD: Move(B, {S.IN_EXECUTION: S.PRESERVED}, "Art. 42", _hold, PRESERVATION),
    Kind.EXTEND_HOLD: Move(B, _same(S.PRESERVED), "Art. 42", _extend, PRESERVATION),
    Kind.NOTIFY_RISK: Move(B, {S.IN_EXECUTION: S.RISK_NOTIFIED}, "Art. 42", _notice, PRESERVATION),
    Kind.LINK_FOLLOW_UP: Move(
        A, {S.PRESERVED: S.PRESERVED_PENDING_DECISION}, "Art. 42", _link, PRESERVATION
    ),
    Kind.EXPIRE: Move(
        B,
        {S.PRESERVED: S.EXPIRED, S.PRESERVED_PENDING_DECISION: S.EXPIRED},
        "Art. 42",
        _expire,
        PRESERVATION,
    ),
    Kind.DECIDE_FOLLOW_UP: Move(
        B, {S.PRESERVED_PENDING_DECISION: S.CLOSED}, "Art. 42", _plain, PRESERVATION
    ),
    Kind.DISCLOSE_TRAFFIC: Move(
        B, _same(S.PRESERVED, S.PRESERVED_PENDING_DECISION), "Art. 43", _disclose, PRESERVATION
    ),
    Kind.AUTHORISE_COLLECTION: Move(
        B, {S.IN_EXECUTION: S.COLLECTING}, "Art. 45", _authorise, COLLECTION_TYPES
    ),
    Kind.RENEW_AUTHORISATION: Move(B, _same(S.COLLECTING), "Art. 45", _renew, COLLECTION_TYPES),
    Kind.RECORD_COLLECTION: Move(B, _same(S.COLLECTING), "Art. 45", _collect, COLLECTION_TYPES),
    Kind.END_COLLECTION: Move(B, {S.COLLECTING: S.EXECUTED}, "Art. 45", _plain, COLLECTION_TYPES),
    Kind.EXECUTE: Move(B, {S.IN_EXECUTION: S.EXECUTED}, "Art. 40", _execute),
    Kind.EXECUTE_PARTIALLY: Move(B, {S.IN_EXECUTION: S.PARTIALLY_EXECUTED}, "Art. 40", _execute),
    Kind.NOTIFY_DELAY: Move(B, _same(S.IN_EXECUTION, S.COLLECTING), "Art. 40", _notice),
    Kind.INGEST: Move(
        A,
        {S.EXECUTED: S.DELIVERED_RESTRICTED, S.PARTIALLY_EXECUTED: S.DELIVERED_RESTRICTED},
        "Art. 40",
    ),
    Kind.AUTHORISE_ONWARD: Move(B, _same(S.DELIVERED_RESTRICTED), "Art. 36", _onward),
    Kind.FORWARD: Move(A, _same(S.DELIVERED_RESTRICTED), "Art. 36", _forward),
    Kind.CLOSE: Move(A, dict.fromkeys(AFTER_EXECUTION, S.CLOSED), "Art. 40"),
    Kind.WITHDRAW: Move(A, WITHDRAWABLE, "Art. 40"),
}
