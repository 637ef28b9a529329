"""What is due, soonest first, with who owes it and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from accord.requests.deadlines import due
from accord.requests.events import (
    ActiveHold,
    CollectionWindow,
    Party,
    Postponement,
    RequestState,
    Status,
)
from accord.requests.models import RequestType
from accord.requests.validate import validate

if TYPE_CHECKING:
    from conftest import Example

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_items_are_sorted_soonest_first_and_overdue_is_flagged(example: Example) -> None:
    preservation = validate(example(RequestType.PRESERVATION))
    held = RequestState(
        request_id="vn-2026-0042", status=Status.PRESERVED, since=NOW - 10 * DAY,
        hold=ActiveHold(preserved_at=NOW - 10 * DAY, until=NOW + 80 * DAY),
    )  # fmt: skip
    collection = validate(example(RequestType.MLA_INTERCEPTION))
    collecting = RequestState(
        request_id="vn-2026-0046", status=Status.COLLECTING, since=NOW - 5 * DAY,
        authorisation=CollectionWindow(reference="o", start=NOW - 5 * DAY, end=NOW - DAY),
    )  # fmt: skip
    mla = validate(example(RequestType.MLA))  # suggested deadline 2026-09-30, long past
    info = RequestState(request_id="vn-2026-0040", status=Status.INFO_REQUESTED, since=NOW)
    items = due([(preservation, held), (collection, collecting), (mla, info)], NOW)
    assert [(i.request_id, i.what, i.overdue) for i in items] == [
        ("vn-2026-0040", "suggested_deadline", True),
        ("vn-2026-0046", "collection_end", True),
        ("vn-2026-0040", "reply", False),
        ("vn-2026-0042", "hold_until", False),
    ]
    hold = items[-1]
    assert hold.owed_by is Party.REQUESTING
    assert hold.article == "Art. 42"
    assert "follow-up MLA" in hold.reason
    assert items[0].reason.endswith("in pre-trial detention until 31 October 2026.")
    assert items[2].due_at == NOW + 14 * DAY


def test_a_hold_pending_a_decision_has_no_due_date(example: Example) -> None:
    preservation = validate(example(RequestType.PRESERVATION))
    pending = RequestState(
        request_id="vn-2026-0042", status=Status.PRESERVED_PENDING_DECISION, since=NOW,
        hold=ActiveHold(preserved_at=NOW - 70 * DAY, until=None),
    )  # fmt: skip
    assert due([(preservation, pending)], NOW + 3650 * DAY) == []


def test_written_confirmation_is_owed_after_an_urgent_oral_request(example: Example) -> None:
    said = NOW - 4 * DAY
    oral = validate(example(RequestType.PRESERVATION) | {"oral_origin": {"date": said}})
    waiting = RequestState(
        request_id="vn-2026-0042", status=Status.AWAITING_WRITTEN_CONFIRMATION, since=said
    )
    (item,) = [i for i in due([(oral, waiting)], NOW) if i.what == "written_confirmation"]
    assert item.due_at == said + timedelta(hours=72)
    assert item.overdue
    assert item.owed_by is Party.REQUESTING


def test_an_urgent_request_is_answered_within_a_day(example: Example) -> None:
    urgent = validate(example(RequestType.PRESERVATION))  # urgency = "urgent"
    submitted = RequestState(request_id="vn-2026-0042", status=Status.SUBMITTED, since=NOW)
    (reply,) = due([(urgent, submitted)], NOW)
    assert (reply.what, reply.due_at, reply.owed_by) == ("reply", NOW + DAY, Party.REQUESTED)


def test_a_postponement_is_due_back_when_execution_should_resume(example: Example) -> None:
    no_deadline = {"deadline_suggested": None, "deadline_reason": None}
    mla = validate(example(RequestType.MLA) | no_deadline)
    postponed = RequestState(
        request_id="vn-2026-0040", status=Status.POSTPONED, since=NOW,
        postponement=Postponement(reasons="trial", expected_resume=NOW + 30 * DAY),
    )  # fmt: skip
    assert [(i.what, i.due_at) for i in due([(mla, postponed)], NOW)] == [
        ("expected_resume", NOW + 30 * DAY)
    ]


def test_finished_requests_owe_nothing(example: Example) -> None:
    mla = validate(example(RequestType.MLA))
    for status in (Status.EXECUTED, Status.REFUSED, Status.WITHDRAWN, Status.CLOSED):
        state = RequestState(request_id="vn-2026-0040", status=status, since=NOW)
        assert due([(mla, state)], NOW) == []
