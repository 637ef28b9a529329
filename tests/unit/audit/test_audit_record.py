"""Audit records are RFC 8785 canonical JSON: checked against the independent ``rfc8785``
implementation for every shape a record can take."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from accord.audit.log import canonical_record
from accord.audit.models import Action, Event

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)  # no lone surrogates
events = st.builds(
    Event,
    actor=text,
    action=st.sampled_from(list(Action)),
    object_id=text,
    digest=st.none() | text,
    parties=st.lists(text, max_size=5).map(tuple),
)
moments = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis adds the timezone
    max_value=datetime(9999, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=3))]),
)


@given(index=st.integers(0, 2**53 - 1), event=events, at=moments)
def test_record_bytes_are_rfc8785_canonical(index: int, event: Event, at: datetime) -> None:
    data = canonical_record(index, event, at)
    assert data == rfc8785.dumps(json.loads(data))


def test_record_escapes_control_characters_as_rfc8785_does() -> None:
    event = Event('a"\\\n\x01\u2028é', Action.MESSAGE_READ, "o\t", None, ("z", "a", "z"))
    data = canonical_record(3, event, datetime(2026, 11, 24, 9, 0, 0, 123456, tzinfo=UTC))
    assert data == rfc8785.dumps(json.loads(data))
    assert json.loads(data)["parties"] == ["a", "z"]  # sorted, without duplicates
    assert json.loads(data)["at"] == "2026-11-24T09:00:00.123+00:00"
