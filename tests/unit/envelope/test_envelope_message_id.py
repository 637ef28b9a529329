"""Message ids are UUIDv7 (RFC 9562 §5.7): 48-bit Unix milliseconds, version 7, variant 10,
74 random bits; so they sort by creation time across milliseconds."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from accord.envelope.models import UUID7, new_message_id
from accord.errors import NodeError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

moments = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis adds the timezone
    max_value=datetime(9000, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=5))]),
)


def unix_millis(moment: datetime) -> int:
    """Exact integer milliseconds since the epoch (no float rounding)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def fixed(byte: int) -> Callable[[int], bytes]:
    def random(count: int) -> bytes:
        assert count == 10  # 80 bits drawn, 74 used
        return bytes([byte]) * count

    return random


@settings(max_examples=200)
@given(moment=moments, random=st.binary(min_size=10, max_size=10))
def test_message_id_follows_the_rfc_9562_layout(moment: datetime, random: bytes) -> None:
    text = new_message_id(moment, random=lambda n: random[:n])
    value = uuid.UUID(text)
    assert str(value) == text  # canonical lowercase 8-4-4-4-12 form
    assert UUID7.match(text)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122  # the variant bits are 10
    assert value.int >> 80 == unix_millis(moment)  # unix_ts_ms, big-endian, first 48 bits


def test_message_id_places_the_random_bits_around_version_and_variant() -> None:
    ones = uuid.UUID(new_message_id(EPOCH, random=fixed(0xFF)))
    zeros = uuid.UUID(new_message_id(EPOCH, random=fixed(0x00)))
    assert str(ones) == "00000000-0000-7fff-bfff-ffffffffffff"
    assert str(zeros) == "00000000-0000-7000-8000-000000000000"


def test_message_id_embeds_the_millisecond_not_the_microsecond() -> None:
    moment = datetime(2039, 3, 10, 20, 51, 6, 220000, tzinfo=UTC)  # where float rounding errs
    same_ms = moment + timedelta(microseconds=999)
    first = uuid.UUID(new_message_id(moment)).int >> 80
    assert first == unix_millis(moment) == uuid.UUID(new_message_id(same_ms)).int >> 80
    assert first % 1000 == 220


def test_message_ids_are_random_within_a_millisecond() -> None:
    ids = {new_message_id(T0) for _ in range(100)}
    assert len(ids) == 100
    assert {i[:13] for i in ids} == {new_message_id(T0)[:13]}  # same 48-bit timestamp prefix


@settings(max_examples=200)
@given(
    earlier=moments,
    gap=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3650)),
)
def test_message_ids_sort_by_time_across_milliseconds(earlier: datetime, gap: timedelta) -> None:
    later = earlier + gap
    assume(unix_millis(later) != unix_millis(earlier))
    # Worst case for ordering: all random bits set early, all clear late.
    first = new_message_id(earlier, random=fixed(0xFF))
    second = new_message_id(later, random=fixed(0x00))
    assert first < second  # the text sorts like the integer: fixed-width lowercase hex
    assert uuid.UUID(first).int < uuid.UUID(second).int


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1970, 1, 1, 6, tzinfo=timezone(timedelta(hours=7))),
    ],
    ids=["before-1970", "before-1970-in-utc"],
)
def test_a_clock_before_1970_is_an_error_not_a_wrapped_id(moment: datetime) -> None:
    with pytest.raises(NodeError, match="outside what a UUIDv7 can hold"):
        new_message_id(moment)
