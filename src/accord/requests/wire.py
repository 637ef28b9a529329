"""What request messages carry (protocol v1, kinds ``request`` and ``request-events``), and the
checks a node makes on them before it stores anything. Pure: mappings in, records out.

A ``request`` message holds the record and the requesting State's first events (validate,
submit); a ``request-events`` message holds later events of one request, by either State. The
envelope's signature makes the sender the author of every event it carries (ADR 0009).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from accord.errors import FieldError, InputError, RequestInvalid
from accord.requests.events import Event, Party
from accord.requests.models import RequestType
from accord.requests.records import Request
from accord.requests.validate import validate

MAX_EVENTS_PER_MESSAGE = 100
ADVICE = "The sending node must send a record and events made by `accord request`."
# Who sends a one-way communication: a traffic disclosure goes back from the requested State
# of the preservation it is part of (UNCC Art. 43); the rest go from the requesting State.
SENT_BY_REQUESTED = frozenset({RequestType.TRAFFIC_DISCLOSURE})


def record_json(request: Request) -> str:
    """The record as it travels and is stored; ``validate`` reads it back unchanged."""
    return json.dumps(request.model_dump(mode="json", exclude_none=True), ensure_ascii=False)


def event_json(event: Event) -> str:
    return json.dumps(event.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)


def request_body(request: Request, events: Sequence[Event]) -> dict[str, Any]:
    return {"request": json.loads(record_json(request)), "events": _events_out(events)}


def events_body(request_id: str, events: Sequence[Event]) -> dict[str, Any]:
    return {"request_id": request_id, "events": _events_out(events)}


def _events_out(events: Sequence[Event]) -> list[Any]:
    return [json.loads(event_json(event)) for event in events]


def read_request(body: Mapping[str, Any]) -> tuple[Request, list[Event]]:
    """The record and events of a ``request`` message, or the error naming each bad field."""
    record = body.get("request")
    if not isinstance(record, dict):
        raise _invalid("request", "required", "a request message carries its record")
    try:
        request = validate(record)
    except RequestInvalid as error:
        raise RequestInvalid(
            f"the request record is invalid: {error.message}",
            advice=ADVICE,
            errors=[_prefixed("request", e) for e in error.errors],
        ) from error
    return request, read_events(body, request.message_id)


def read_events(body: Mapping[str, Any], request_id: str | None = None) -> list[Event]:
    """The events a message carries, all of request ``request_id`` (or the body's own)."""
    wanted = request_id if request_id is not None else body.get("request_id")
    if not isinstance(wanted, str):
        raise _invalid("request_id", "required", "events name their request")
    raw = body.get("events")
    if not isinstance(raw, list) or len(raw) > MAX_EVENTS_PER_MESSAGE:
        raise _invalid(
            "events", "list_of_events", f"a list of at most {MAX_EVENTS_PER_MESSAGE} events"
        )
    events = []
    for index, item in enumerate(raw):
        try:
            event = Event.model_validate(item)
        except ValidationError as exc:
            errors = [
                FieldError(
                    ".".join(["events", str(index), *map(str, d["loc"])]), d["type"], d["msg"]
                )
                for d in exc.errors()
            ]
            raise InputError(f"event {index} is malformed", advice=ADVICE, errors=errors) from exc
        if event.request_id != wanted:
            raise _invalid(
                f"events.{index}.request_id",
                "same_request",
                f"event {index} is for another request",
            )
        events.append(event)
    return events


def sender_party(request: Request, sender_country: str, recipient_country: str) -> Party:
    """Which side the sender of ``request`` is on, checked against the States it names: the
    signed directory's countries for the sender and the recipient must be the record's."""
    by_requested = request.REQUEST_TYPE in SENT_BY_REQUESTED
    party = Party.REQUESTED if by_requested else Party.REQUESTING
    sender_field, recipient_field = (
        ("requested_state", "requesting_state")
        if by_requested
        else ("requesting_state", "requested_state")
    )
    errors = [
        FieldError(
            name,
            "country_of_participant",
            f"{name} is {getattr(request, name)} but the {who} is a participant of {country}",
            "Art. 40",
        )
        for name, who, country in (
            (sender_field, "sender", sender_country),
            (recipient_field, "recipient", recipient_country),
        )
        if getattr(request, name) != country
    ]
    if errors:
        raise RequestInvalid(
            "the request names other States than its sender's and recipient's",
            advice="Address the request to a participant of the requested State.",
            errors=errors,
        )
    return party


def _prefixed(prefix: str, error: FieldError) -> FieldError:
    return FieldError(f"{prefix}.{error.field}", error.rule, error.message, error.article)


def _invalid(field: str, rule: str, message: str) -> InputError:
    return InputError(message, advice=ADVICE, errors=[FieldError(field, rule, message)])
