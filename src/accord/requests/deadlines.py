"""What is due on each request, soonest first: a pure function of the requests, their states
and ``now`` (convention-procedures.md §3, §4.4, §6, §8).

The treaty sets two numbers (the 60-day hold and, for collection, the authorised period); the
rest of its duties are "promptly" or "forthwith". The windows below turn those words into
reminders (marked ``[design]``); they never change a state, they say who owes what by when.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from accord.requests.events import TERMINAL, Party, RequestState, Status
from accord.requests.models import Urgency
from accord.requests.records import Request

A, B = Party.REQUESTING, Party.REQUESTED
WRITTEN_CONFIRMATION_WITHIN = timedelta(hours=72)  # [design] UNTOC 18(14): "forthwith"
URGENT_REPLY_WITHIN = timedelta(days=1)  # [design] ceiling of every window when urgent
# [design] who owes the next move in each waiting state, and within how long
REPLY_WITHIN: dict[Status, tuple[Party, timedelta, str, str]] = {
    Status.SUBMITTED: (B, timedelta(days=2), "acknowledge the request", "Art. 40"),
    Status.UNDER_ASSESSMENT: (B, timedelta(days=30), "decide on execution", "Art. 40"),
    Status.INFO_REQUESTED: (A, timedelta(days=14), "supply the information asked", "Art. 40"),
    Status.CONFIDENTIALITY_CONFLICT: (A, timedelta(days=3), "say whether to proceed", "Art. 40"),
    Status.CONDITIONS_PROPOSED: (
        A,
        timedelta(days=7),
        "accept or decline the conditions",
        "Art. 40",
    ),
    Status.RISK_NOTIFIED: (A, timedelta(days=2), "say whether to keep the hold", "Art. 42"),
}
DONE = TERMINAL | {Status.EXECUTED, Status.PARTIALLY_EXECUTED, Status.DELIVERED_RESTRICTED}


@dataclass(frozen=True)
class Due:
    request_id: str
    what: str
    due_at: datetime
    owed_by: Party
    reason: str
    article: str
    overdue: bool


def due(requests: Iterable[tuple[Request, RequestState]], now: datetime) -> list[Due]:
    """Everything due or overdue on these requests, soonest first."""
    items = [item for request, state in requests for item in _items(request, state, now)]
    return sorted(items, key=lambda item: (item.due_at, item.request_id, item.what))


def _items(request: Request, state: RequestState, now: datetime) -> Iterator[Due]:
    def item(what: str, at: datetime, owed_by: Party, reason: str, article: str) -> Due:
        return Due(state.request_id, what, at, owed_by, reason, article, at < now)

    hold = state.hold
    if state.status is Status.PRESERVED and hold is not None and hold.until is not None:
        # BC 29(7); UNCC Art. 42: the follow-up request must arrive before the hold lapses
        yield item("hold_until", hold.until, A, "send the follow-up MLA request", "Art. 42")
    window = state.authorisation
    if state.status is Status.COLLECTING and window is not None:
        # BC 15(2); §8.4 invariant 10: collection stops at the end of the authorised period
        yield item("collection_end", window.end, B, "stop collection", request.article())
    oral = request.oral_origin
    if oral is not None and state.status is Status.AWAITING_WRITTEN_CONFIRMATION:
        at = oral.date + WRITTEN_CONFIRMATION_WITHIN  # UNTOC 18(14)
        yield item("written_confirmation", at, A, "confirm the oral request in writing", "Art. 40")
    if request.deadline_suggested is not None and state.status not in DONE:
        # UNTOC 18(24): take as full account as possible of a deadline given with reasons
        reason = f"suggested deadline: {request.deadline_reason}"
        yield item("suggested_deadline", request.deadline_suggested, B, reason, "Art. 40")
    postponement = state.postponement
    if state.status is Status.POSTPONED and postponement and postponement.expected_resume:
        resume = postponement.expected_resume
        yield item("expected_resume", resume, B, "resume or explain the delay", "Art. 40")
    if state.status in REPLY_WITHIN and state.since is not None:
        owed_by, within, reason, article = REPLY_WITHIN[state.status]
        if request.urgency is not Urgency.NORMAL:
            within = min(within, URGENT_REPLY_WITHIN)
        yield item("reply", state.since + within, owed_by, reason, article)
