"""The request state machine: one test per invariant of §8.4, plus entitlement and the moves
each type allows. Every refusal must name its rule and article."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from accord.errors import (
    CollectionPeriodInvalid,
    ConventionNotInForce,
    LanguageNotAccepted,
    NotEntitled,
    OnwardTransferBlocked,
    PreservationRuleBroken,
    RefusalInvalid,
    RequestError,
    RequestInvalid,
    TransitionRefused,
    WrittenConfirmationMissing,
)
from accord.requests.events import Event, Kind, Party, RequestState, Status
from accord.requests.machine import Case, apply, initial_state
from accord.requests.models import RequestType
from accord.requests.validate import validate
from conftest import registry

if TYPE_CHECKING:
    from conftest import Example

T0 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)  # in force for VN, RU and ZA
A, B = Party.REQUESTING, Party.REQUESTED
K = Kind
TO_EXECUTION = [(A, K.VALIDATE), (A, K.SUBMIT), (B, K.ACKNOWLEDGE), (B, K.BEGIN_ASSESSMENT),
                (B, K.START_EXECUTION)]  # fmt: skip
TO_CONSULTATION = [*TO_EXECUTION[:-1], (B, K.CONSULT)]


class Run:
    """A request and its state, moved one event at a time."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.state: RequestState = initial_state(case.request)
        self.seq = 0

    def event(self, actor: Party, kind: Kind, at: datetime = T0, **payload: Any) -> Event:
        self.seq += 1
        return Event(
            request_id=self.case.request.message_id, actor=actor, seq=self.seq, seen=0,
            kind=kind, at=at, payload=payload,
        )  # fmt: skip

    def do(self, actor: Party, kind: Kind, at: datetime = T0, **payload: Any) -> Run:
        self.state = apply(self.case, self.state, self.event(actor, kind, at, **payload))
        return self

    def steps(self, steps: list[tuple[Party, Kind]]) -> Run:
        for actor, kind in steps:
            self.do(actor, kind)
        return self

    def refused(self, error: type[RequestError], rule: str, actor: Party, kind: Kind,
                at: datetime = T0, **payload: Any) -> RequestError:  # fmt: skip
        before = self.state
        with pytest.raises(error) as caught:
            self.do(actor, kind, at, **payload)
        assert self.state == before  # a refused event changes nothing
        assert rule in {e.rule for e in caught.value.errors}, caught.value.errors
        assert all(e.article for e in caught.value.errors if e.rule == rule)
        assert caught.value.advice
        return caught.value


@pytest.fixture
def start(example: Example) -> Any:
    def begin(kind: RequestType, ru_reservation: bool = False, **changes: Any) -> Run:
        data = {k: v for k, v in (example(kind) | changes).items() if v is not None}
        return Run(Case(validate(data), registry(ru_reservation=ru_reservation)))

    return begin


# §8.4 invariant 1: a refusal has grounds and reasons; so has a postponement (BC 27(7))


@pytest.mark.parametrize(
    ("payload", "rules"),
    [
        ({"grounds": [], "reasons": "x"}, {"grounds_required"}),
        ({"grounds": ["ESSENTIAL_INTERESTS"], "reasons": "  "}, {"reasons_required"}),
        ({}, {"grounds_required", "reasons_required"}),
    ],
)
def test_a_refusal_needs_grounds_and_reasons(
    start: Any, payload: dict[str, Any], rules: set[str]
) -> None:
    run = start(RequestType.MLA).steps(TO_CONSULTATION)
    error = run.refused(RefusalInvalid, next(iter(rules)), B, K.REFUSE, **payload)
    assert {e.rule for e in error.errors} == rules
    run.do(
        B, K.REFUSE, grounds=["ESSENTIAL_INTERESTS"], reasons="Would reveal a security operation."
    )
    assert run.state.status is Status.REFUSED
    assert run.state.refusal is not None
    assert run.state.refusal.reasons


def test_a_postponement_needs_reasons(start: Any) -> None:
    run = start(RequestType.MLA).steps(TO_CONSULTATION)
    run.refused(RefusalInvalid, "reasons_required", B, K.POSTPONE)
    run.do(B, K.POSTPONE, reasons="A domestic trial on the same servers is under way.")
    assert run.state.status is Status.POSTPONED


# §8.4 invariant 2: a preservation hold lasts at least 60 days


def test_a_hold_shorter_than_60_days_is_rejected(start: Any) -> None:
    run = start(RequestType.PRESERVATION).steps(TO_EXECUTION)
    short = {"preserved_at": T0, "hold_until": T0 + timedelta(days=59, hours=23)}
    error = run.refused(PreservationRuleBroken, "hold_under_60_days", B, K.CONFIRM_HOLD, **short)
    assert "(Art. 42)" in error.message
    run.do(B, K.CONFIRM_HOLD, preserved_at=T0, hold_until=T0 + timedelta(days=60))
    assert run.state.status is Status.PRESERVED


# §8.4 invariant 3: once the follow-up request arrives, the hold has no expiry


def test_a_hold_with_a_pending_follow_up_has_no_expiry(start: Any) -> None:
    run = start(RequestType.PRESERVATION).steps(TO_EXECUTION)
    run.do(B, K.CONFIRM_HOLD, preserved_at=T0, hold_until=T0 + timedelta(days=90))
    run.do(A, K.LINK_FOLLOW_UP, T0 + timedelta(days=80), follow_up_id="vn-2026-0044")
    assert run.state.status is Status.PRESERVED_PENDING_DECISION
    assert run.state.hold is not None
    assert run.state.hold.until is None
    years_later = T0 + timedelta(days=3650)
    run.refused(PreservationRuleBroken, "pending_decision_no_expiry", B, K.EXPIRE, years_later)
    run.do(B, K.DECIDE_FOLLOW_UP, years_later)
    assert run.state.status is Status.CLOSED


def test_a_hold_expires_only_after_hold_until_and_cannot_be_linked_then(start: Any) -> None:
    run = start(RequestType.PRESERVATION).steps(TO_EXECUTION)
    until = T0 + timedelta(days=60)
    run.do(B, K.CONFIRM_HOLD, preserved_at=T0, hold_until=until)
    run.refused(PreservationRuleBroken, "hold_still_running", B, K.EXPIRE, until)
    late = until + timedelta(seconds=1)
    run.refused(PreservationRuleBroken, "hold_lapsed", A, K.LINK_FOLLOW_UP, late, follow_up_id="x")
    run.do(B, K.EXPIRE, late)
    assert run.state.status is Status.EXPIRED


# §8.4 invariant 4: no dual criminality refuses preservation only under a reservation, and
# never for a core offence


@pytest.mark.parametrize(
    ("reserved", "articles", "rule"),
    [(False, [13], "dual_criminality_not_reserved"), (True, [7, 8], "core_offence")],
)
def test_dual_criminality_refuses_preservation_only_under_reservation_outside_core(
    start: Any, reserved: bool, articles: list[int], rule: str
) -> None:
    run = start(RequestType.PRESERVATION, reserved, offence_articles=articles)
    run.steps(TO_CONSULTATION)
    refusal = {"grounds": ["NO_DUAL_CRIMINALITY"], "reasons": "Not an offence in RU."}
    error = run.refused(RefusalInvalid, rule, B, K.REFUSE, **refusal)
    assert error.errors[0].article == "Art. 42"


def test_dual_criminality_refusal_of_preservation_with_the_reservation(start: Any) -> None:
    run = start(RequestType.PRESERVATION, True, offence_articles=[13]).steps(TO_CONSULTATION)
    run.do(B, K.REFUSE, grounds=["NO_DUAL_CRIMINALITY"], reasons="Not an offence in RU.")
    assert run.state.status is Status.REFUSED


# §8.4 invariant 5: bank secrecy and fiscal-only grounds are never valid


@pytest.mark.parametrize("ground", ["BANK_SECRECY", "FISCAL_ONLY"])
@pytest.mark.parametrize("kind", [RequestType.MLA, RequestType.EXTRADITION])
def test_bank_secrecy_and_fiscal_grounds_are_never_valid(
    start: Any, ground: str, kind: RequestType
) -> None:
    run = start(kind).steps(TO_CONSULTATION)
    refusal = {"grounds": ["ESSENTIAL_INTERESTS", ground], "reasons": "Banking law."}
    error = run.refused(RefusalInvalid, "ground_never_valid", B, K.REFUSE, **refusal)
    assert "never" in error.message


def test_a_ground_that_does_not_apply_to_the_type_is_refused(start: Any) -> None:
    run = start(RequestType.PRESERVATION).steps(TO_CONSULTATION)
    run.refused(RefusalInvalid, "ground_not_applicable", B, K.REFUSE, grounds=["NONCONFORMING"],
                reasons="Form.")  # fmt: skip


# §8.4 invariant 6: an MLA request without facts only to serve documents


def test_an_mla_request_without_facts_exists_only_to_serve_documents(example: Example) -> None:
    data = example(RequestType.MLA)
    del data["facts_summary"]
    with pytest.raises(RequestInvalid):
        validate(data)
    from accord.requests.records import Mla  # noqa: PLC0415 - the model itself, not validate

    with pytest.raises(ValueError, match="facts_summary is required"):
        Mla.model_validate(data)
    record = validate(data | {"assistance_types": ["service_of_documents"]})
    assert initial_state(record).status is Status.DRAFT


# §8.4 invariant 7: an oral request waits for its written confirmation


def test_an_oral_request_is_received_only_once_confirmed_in_writing(start: Any) -> None:
    run = start(RequestType.PRESERVATION, oral_origin={"date": "2027-02-01T08:00:00Z"})
    run.steps([(A, K.VALIDATE), (A, K.SUBMIT)])
    run.refused(WrittenConfirmationMissing, "written_confirmation_required", B, K.ACKNOWLEDGE)
    run.do(B, K.AWAIT_WRITTEN_CONFIRMATION)
    assert run.state.status is Status.AWAITING_WRITTEN_CONFIRMATION
    run.do(A, K.CONFIRM_IN_WRITING, T0 + timedelta(hours=5))
    assert run.state.status is Status.RECEIVED
    assert run.state.confirmed_in_writing_at == T0 + timedelta(hours=5)


def test_a_written_request_does_not_wait_for_confirmation(start: Any) -> None:
    run = start(RequestType.MLA).steps([(A, K.VALIDATE), (A, K.SUBMIT)])
    run.refused(TransitionRefused, "not_oral", B, K.AWAIT_WRITTEN_CONFIRMATION)


# §8.4 invariant 8: delivered data goes on only with the originator's authorisation


def test_delivered_data_cannot_be_forwarded_without_authorisation(start: Any) -> None:
    run = start(RequestType.MLA).steps([*TO_EXECUTION, (B, K.EXECUTE), (A, K.INGEST)])
    assert run.state.status is Status.DELIVERED_RESTRICTED
    error = run.refused(OnwardTransferBlocked, "onward_authorisation_required", A, K.FORWARD,
                        recipient="za-doj-ca")  # fmt: skip
    assert error.errors[0].article == "Art. 36"
    run.do(B, K.AUTHORISE_ONWARD, recipient="za-doj-ca")
    run.do(A, K.FORWARD, recipient="za-doj-ca")
    assert run.state.forwarded_to == ("za-doj-ca",)


# §8.4 invariant 9: UNCC-* only while the Convention is in force for both States


def test_a_convention_request_is_refused_before_entry_into_force_for_one_state(
    start: Any,
) -> None:
    run = start(RequestType.MLA)
    before = datetime(2027, 1, 18, 23, 0, tzinfo=UTC)
    error = run.refused(ConventionNotInForce, "not_in_force", A, K.VALIDATE, before)
    assert "RU" in error.message
    assert error.errors[0].article == "Art. 65"
    run.do(A, K.VALIDATE, datetime(2027, 1, 19, 1, 0, tzinfo=UTC))
    assert run.state.status is Status.VALIDATED


def test_another_legal_basis_does_not_need_the_convention_in_force(start: Any) -> None:
    run = start(RequestType.MLA, legal_basis="treaty:VN-RU MLA Treaty 1998")
    run.do(A, K.VALIDATE, datetime(2026, 6, 1, tzinfo=UTC))
    assert run.state.status is Status.VALIDATED


def test_a_language_the_requested_state_did_not_notify_is_refused(start: Any) -> None:
    run = start(RequestType.MLA, language="vi")
    run.refused(LanguageNotAccepted, "language_not_accepted", A, K.VALIDATE)


# §8.4 invariant 10: real-time collection and interception need an authorised period and stop


@pytest.mark.parametrize("kind", [RequestType.MLA_REAL_TIME_TRAFFIC, RequestType.MLA_INTERCEPTION])
def test_collection_needs_an_authorised_period_and_stops_at_its_end(
    start: Any, kind: RequestType
) -> None:
    run = start(kind).steps(TO_EXECUTION)
    run.refused(CollectionPeriodInvalid, "authorisation_required", B, K.EXECUTE)
    end = T0 + timedelta(days=30)
    run.refused(CollectionPeriodInvalid, "period_invalid", B, K.AUTHORISE_COLLECTION,
                reference="order 1", authorised_from=end, authorised_until=T0)  # fmt: skip
    run.do(B, K.AUTHORISE_COLLECTION, reference="order 1", authorised_from=T0, authorised_until=end)
    run.do(B, K.RECORD_COLLECTION, end)
    after = end + timedelta(minutes=1)
    run.refused(CollectionPeriodInvalid, "outside_authorised_period", B, K.RECORD_COLLECTION, after)
    run.refused(CollectionPeriodInvalid, "outside_authorised_period", B, K.RENEW_AUTHORISATION,
                after, authorised_until=end + timedelta(days=30))  # fmt: skip
    run.do(B, K.END_COLLECTION, after)
    assert run.state.status is Status.EXECUTED
    assert run.state.batches_collected == 1


def test_a_renewal_extends_the_period_and_keeps_its_history(start: Any) -> None:
    run = start(RequestType.MLA_INTERCEPTION).steps(TO_EXECUTION)
    end = T0 + timedelta(days=30)
    run.do(B, K.AUTHORISE_COLLECTION, reference="order 1", authorised_from=T0, authorised_until=end)
    run.do(B, K.RENEW_AUTHORISATION, end, authorised_until=end + timedelta(days=30))
    run.do(B, K.RECORD_COLLECTION, end + timedelta(days=29))
    assert run.state.authorisation is not None
    assert run.state.authorisation.renewals == (end,)


# Entitlement and the shape of the machine


@pytest.mark.parametrize(
    ("actor", "kind", "steps"),
    [
        (A, K.REFUSE, TO_CONSULTATION),
        (A, K.ACKNOWLEDGE, TO_EXECUTION[:2]),
        (B, K.WITHDRAW, TO_EXECUTION[:2]),
        (B, K.SUBMIT, TO_EXECUTION[:1]),
        (A, K.EXECUTE, TO_EXECUTION),
    ],
)
def test_only_the_entitled_state_makes_a_transition(
    start: Any, actor: Party, kind: Kind, steps: list[tuple[Party, Kind]]
) -> None:
    run = start(RequestType.MLA).steps(steps)
    error = run.refused(NotEntitled, "entitled_party", actor, kind, grounds=[], reasons="")
    assert error.http_status == 403


def test_a_move_not_allowed_from_the_current_state_is_refused(start: Any) -> None:
    run = start(RequestType.MLA).steps(TO_EXECUTION[:2])
    run.refused(TransitionRefused, "not_from_this_state", B, K.START_EXECUTION)


def test_preservation_moves_do_not_apply_to_other_types(start: Any) -> None:
    run = start(RequestType.MLA).steps(TO_EXECUTION)
    run.refused(TransitionRefused, "not_for_this_type", B, K.CONFIRM_HOLD, preserved_at=T0,
                hold_until=T0 + timedelta(days=90))  # fmt: skip


def test_preservation_is_executed_by_a_hold_not_by_execute(start: Any) -> None:
    run = start(RequestType.PRESERVATION).steps(TO_EXECUTION)
    run.refused(TransitionRefused, "hold_required", B, K.EXECUTE)


def test_partial_execution_names_what_was_not_done_and_why(start: Any) -> None:
    run = start(RequestType.MLA_STORED_DATA).steps(TO_EXECUTION)
    run.refused(TransitionRefused, "partial_needs_items_and_reasons", B, K.EXECUTE_PARTIALLY)
    run.do(B, K.EXECUTE_PARTIALLY, not_executed_items=["content"], reasons="Deleted before order.")
    assert run.state.status is Status.PARTIALLY_EXECUTED


def test_a_payload_with_unknown_fields_is_refused(start: Any) -> None:
    run = start(RequestType.MLA).steps(TO_CONSULTATION)
    with pytest.raises(TransitionRefused, match="payload is invalid"):
        run.do(B, K.REFUSE, grounds=["NONCONFORMING"], reasons="x", secret="y")


def test_conditions_accepted_bind_the_requester(start: Any) -> None:
    run = start(RequestType.MLA).steps(TO_CONSULTATION)
    run.refused(TransitionRefused, "conditions_required", B, K.PROPOSE_CONDITIONS)
    run.do(B, K.PROPOSE_CONDITIONS, conditions=["use only in case VN-C50-2026-117"])
    run.do(A, K.ACCEPT_CONDITIONS)
    assert run.state.status is Status.IN_EXECUTION
    assert run.state.conditions_accepted


def test_withdrawal_ends_any_request_not_yet_executed(start: Any) -> None:
    run = start(RequestType.PRESERVATION).steps(TO_EXECUTION)
    run.do(B, K.CONFIRM_HOLD, preserved_at=T0, hold_until=T0 + timedelta(days=60))
    run.do(A, K.WITHDRAW)
    assert run.state.status is Status.WITHDRAWN
    run.refused(TransitionRefused, "not_from_this_state", A, K.WITHDRAW)


@pytest.mark.parametrize(
    "kind", [RequestType.TRAFFIC_DISCLOSURE, RequestType.SPONTANEOUS_INFORMATION]
)
def test_one_way_communications_have_no_workflow(example: Example, kind: RequestType) -> None:
    with pytest.raises(TransitionRefused, match="not a request with a workflow"):
        initial_state(validate(example(kind)))
