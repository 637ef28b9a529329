"""States, events and their payloads for the request state machine (convention-procedures.md
§8.1-8.2). An event is what one State signs and sends; see ADR 0008 for its numbering."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, Field

from accord.fields import Strict
from accord.requests.grounds import RefusalGround
from accord.requests.models import MAX_ITEMS, Id


class Party(StrEnum):
    """Which side of a request an event's author is on; only one side may make each move."""

    REQUESTING = "requesting"
    REQUESTED = "requested"

    @property
    def other(self) -> Party:
        return Party.REQUESTED if self is Party.REQUESTING else Party.REQUESTING


class Status(StrEnum):
    DRAFT = "DRAFT"
    VALIDATED = "VALIDATED"
    SUBMITTED = "SUBMITTED"
    RECEIVED = "RECEIVED"
    AWAITING_WRITTEN_CONFIRMATION = "AWAITING_WRITTEN_CONFIRMATION"
    UNDER_ASSESSMENT = "UNDER_ASSESSMENT"
    INFO_REQUESTED = "INFO_REQUESTED"
    CONFIDENTIALITY_CONFLICT = "CONFIDENTIALITY_CONFLICT"
    CONSULTATION = "CONSULTATION"
    CONDITIONS_PROPOSED = "CONDITIONS_PROPOSED"
    POSTPONED = "POSTPONED"
    IN_EXECUTION = "IN_EXECUTION"
    PRESERVED = "PRESERVED"
    PRESERVED_PENDING_DECISION = "PRESERVED_PENDING_DECISION"
    RISK_NOTIFIED = "RISK_NOTIFIED"
    COLLECTING = "COLLECTING"
    EXECUTED = "EXECUTED"
    PARTIALLY_EXECUTED = "PARTIALLY_EXECUTED"
    DELIVERED_RESTRICTED = "DELIVERED_RESTRICTED"
    REFUSED = "REFUSED"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"
    CLOSED = "CLOSED"


TERMINAL = frozenset({Status.REFUSED, Status.WITHDRAWN, Status.EXPIRED, Status.CLOSED})


class Kind(StrEnum):
    """Every event of §8.2, named for what its author does."""

    VALIDATE = "validate"
    SUBMIT = "submit"
    AWAIT_WRITTEN_CONFIRMATION = "await_written_confirmation"
    CONFIRM_IN_WRITING = "confirm_in_writing"
    ACKNOWLEDGE = "acknowledge"
    BEGIN_ASSESSMENT = "begin_assessment"
    REQUEST_INFO = "request_info"
    SUPPLY_INFO = "supply_info"
    REPORT_CONFIDENTIALITY_CONFLICT = "report_confidentiality_conflict"
    PROCEED = "proceed"
    CONSULT = "consult"
    PROPOSE_CONDITIONS = "propose_conditions"
    ACCEPT_CONDITIONS = "accept_conditions"
    DECLINE_CONDITIONS = "decline_conditions"
    REFUSE = "refuse"
    POSTPONE = "postpone"
    RESUME = "resume"
    START_EXECUTION = "start_execution"
    CONFIRM_HOLD = "confirm_hold"
    EXTEND_HOLD = "extend_hold"
    NOTIFY_RISK = "notify_risk"
    LINK_FOLLOW_UP = "link_follow_up"
    EXPIRE = "expire"
    DECIDE_FOLLOW_UP = "decide_follow_up"
    DISCLOSE_TRAFFIC = "disclose_traffic"
    AUTHORISE_COLLECTION = "authorise_collection"
    RENEW_AUTHORISATION = "renew_authorisation"
    RECORD_COLLECTION = "record_collection"
    END_COLLECTION = "end_collection"
    EXECUTE = "execute"
    EXECUTE_PARTIALLY = "execute_partially"
    NOTIFY_DELAY = "notify_delay"
    INGEST = "ingest"
    AUTHORISE_ONWARD = "authorise_onward"
    FORWARD = "forward"
    CLOSE = "close"
    WITHDRAW = "withdraw"


EventId = tuple[Party, int]


class Event(Strict):
    """One State's signed step in a request's life.

    ``seq`` numbers the author's own events (1, 2, ...); ``seen`` is how many of the other
    State's events the author had received, without gaps, when it made this one. The pair is a
    two-party vector clock: replicas order events by it, and an event waits until what its
    author had seen has arrived (ADR 0008).
    """

    request_id: Id
    actor: Party
    seq: int = Field(ge=1)
    seen: int = Field(ge=0)
    kind: Kind
    at: AwareDatetime
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def id(self) -> EventId:
        return (self.actor, self.seq)


# Payloads ----------------------------------------------------------------------------------


class Note(Strict):
    note: str | None = Field(default=None, max_length=20_000)


class Refusal(Strict):
    grounds: tuple[RefusalGround, ...] = Field(default=(), max_length=len(RefusalGround))
    reasons: str = Field(default="", max_length=20_000)


class Postponement(Strict):
    reasons: str = Field(default="", max_length=20_000)
    expected_resume: AwareDatetime | None = None


class Conditions(Strict):
    conditions: tuple[str, ...] = Field(default=(), max_length=MAX_ITEMS)


class Hold(Strict):
    preserved_at: AwareDatetime
    hold_until: AwareDatetime


class HoldExtension(Strict):
    hold_until: AwareDatetime


class FollowUp(Strict):
    follow_up_id: Id


class Disclosure(Strict):
    disclosure_id: Id


class Authorisation(Strict):
    reference: str = Field(min_length=1, max_length=1000)
    authorised_from: AwareDatetime
    authorised_until: AwareDatetime


class Renewal(Strict):
    authorised_until: AwareDatetime


class Outcome(Strict):
    """The requested State's reply on execution (§3.3 reply record): what was and was not done,
    the evidence packages delivered, and the limits on their use that travel with them."""

    executed_items: tuple[str, ...] = Field(default=(), max_length=MAX_ITEMS)
    not_executed_items: tuple[str, ...] = Field(default=(), max_length=MAX_ITEMS)
    reasons: str = Field(default="", max_length=20_000)
    # UNTOC 18(19); BC 28(2); UNCC Art. 36: not used beyond, nor sent on without consent
    use_limitations: tuple[str, ...] = Field(default=(), max_length=MAX_ITEMS)
    evidence_packages: tuple[Id, ...] = Field(default=(), max_length=MAX_ITEMS)
    note: str | None = Field(default=None, max_length=20_000)


class Onward(Strict):
    recipient: Id


PAYLOADS: dict[Kind, type[Strict]] = {
    Kind.REFUSE: Refusal,
    Kind.POSTPONE: Postponement,
    Kind.PROPOSE_CONDITIONS: Conditions,
    Kind.CONFIRM_HOLD: Hold,
    Kind.EXTEND_HOLD: HoldExtension,
    Kind.LINK_FOLLOW_UP: FollowUp,
    Kind.DISCLOSE_TRAFFIC: Disclosure,
    Kind.AUTHORISE_COLLECTION: Authorisation,
    Kind.RENEW_AUTHORISATION: Renewal,
    Kind.EXECUTE: Outcome,
    Kind.EXECUTE_PARTIALLY: Outcome,
    Kind.AUTHORISE_ONWARD: Onward,
    Kind.FORWARD: Onward,
}


# The state both nodes agree on -------------------------------------------------------------


class ActiveHold(Strict):
    preserved_at: datetime
    until: datetime | None  # None: a follow-up request is pending, no expiry (BC 29(7))


class CollectionWindow(Strict):
    reference: str
    start: datetime
    end: datetime
    renewals: tuple[datetime, ...] = ()


class RequestState(Strict):
    """Where a request stands, as folded from its events."""

    request_id: str
    status: Status = Status.DRAFT
    since: datetime | None = None  # when the current status began (the event's time)
    submitted_at: datetime | None = None
    confirmed_in_writing_at: datetime | None = None
    refusal: Refusal | None = None
    postponement: Postponement | None = None
    conditions: tuple[str, ...] = ()
    conditions_accepted: bool = False  # BC 28(3); UNTOC 18(26): accepted conditions bind
    hold: ActiveHold | None = None
    follow_up_id: str | None = None
    disclosures: tuple[str, ...] = ()
    authorisation: CollectionWindow | None = None
    batches_collected: int = 0
    executed_items: tuple[str, ...] = ()
    not_executed_items: tuple[str, ...] = ()
    use_limitations: tuple[str, ...] = ()  # UNTOC 18(19); UNCC Art. 36: bind the requester
    evidence_packages: tuple[str, ...] = ()
    notices: tuple[Kind, ...] = ()  # duty-to-inform notices sent (§4.4)
    onward_authorised: tuple[str, ...] = ()
    forwarded_to: tuple[str, ...] = ()
