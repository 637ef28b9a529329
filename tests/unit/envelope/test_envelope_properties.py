"""Property tests of seal/open: round trips for random bodies, recipients and priorities, and
no single-byte change to an envelope ever opens."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.envelope.core import open_envelope, open_stored, read_routing, seal
from accord.envelope.models import Kind, Opened, Priority, Routing, new_message_id
from accord.errors import AccordError, NotARecipient, OutsideTimeWindow
from accord.identity.models import encryption_kid
from accord.jose import b64url_decode, dump

if TYPE_CHECKING:
    from tests.conftest import World

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MAX_BYTES = 256 * 1024
MAX_AGE = 3600.0
SKEW = 300.0
IDS = ("vn-mps-247", "ru-gp-ca", "za-doj-ca", "kr-spo-ca", "br-mpf-ca")

# The world is only read, never changed, so one instance per test function serves every example.
CRYPTO = settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
MANY = settings(CRYPTO, max_examples=200)  # a byte change is cheap to check: look at many

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)
bodies = st.dictionaries(st.text(max_size=20), json_values, max_size=6)
priorities = st.sampled_from(list(Priority))
kinds = st.sampled_from(list(Kind))


@pytest.fixture
def crowd(world: World) -> World:
    """Five participants, so recipient subsets vary."""
    return type(world)(ids=IDS)


@st.composite
def addressing(draw: st.DrawFn) -> tuple[str, tuple[str, ...], bool]:
    """A sender, a non-empty ordered subset of the others, and whether it keeps a copy."""
    sender = draw(st.sampled_from(IDS))
    others = [p for p in IDS if p != sender]
    to = draw(st.lists(st.sampled_from(others), min_size=1, max_size=len(others), unique=True))
    return sender, tuple(to), draw(st.booleans())


def seal_for(
    world: World,
    routing: Routing,
    body: dict[str, Any],
    *,
    kind: Kind = Kind.NOTE,
    keep_copy: bool = False,
) -> bytes:
    holders = (*routing.recipients, routing.sender) if keep_copy else routing.recipients
    return seal(
        routing=routing,
        kind=kind,
        body=body,
        signing_key=world.keys[routing.sender].signing,
        recipient_keys={p: world.directory.encryption_key(p) for p in holders},
        max_bytes=MAX_BYTES,
    )


def open_for(world: World, wire: bytes, me: str, now: datetime = T0) -> Opened:
    return open_envelope(
        wire,
        me=me,
        my_key=world.keys[me].encryption,
        directory=world.directory,
        now=now,
        max_age=MAX_AGE,
        skew=SKEW,
        max_bytes=MAX_BYTES,
    )


def stored_for(world: World, wire: bytes, me: str, sender: str) -> Opened:
    return open_stored(
        wire,
        me=me,
        my_key=world.keys[me].encryption,
        sender_key=world.directory.signing_key(sender),
        max_bytes=MAX_BYTES,
    )


@CRYPTO
@given(body=bodies, who=addressing(), priority=priorities, kind=kinds)
def test_every_recipient_opens_what_was_sealed(
    crowd: World,
    body: dict[str, Any],
    who: tuple[str, tuple[str, ...], bool],
    priority: Priority,
    kind: Kind,
) -> None:
    sender, to, keep_copy = who
    routing = Routing(new_message_id(T0), sender, to, T0, priority)
    wire = seal_for(crowd, routing, body, kind=kind, keep_copy=keep_copy)
    for me in to:
        opened = open_for(crowd, wire, me)
        assert opened.body == body
        assert opened.kind is kind
        assert opened.routing == routing
    outsiders = [p for p in IDS if p not in to and p != sender]
    for outsider in outsiders:
        with pytest.raises(NotARecipient):
            open_for(crowd, wire, outsider)
        with pytest.raises(NotARecipient):
            stored_for(crowd, wire, outsider, sender)
    if keep_copy:
        assert stored_for(crowd, wire, sender, sender).body == body
    else:
        with pytest.raises(NotARecipient):
            stored_for(crowd, wire, sender, sender)


@CRYPTO
@given(
    body=bodies,
    who=addressing(),
    priority=priorities,
    created=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis adds the timezone below
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=3.5))]
        ),
    ),
)
def test_routing_survives_the_wire_and_is_signed(
    crowd: World,
    body: dict[str, Any],
    who: tuple[str, tuple[str, ...], bool],
    priority: Priority,
    created: datetime,
) -> None:
    """The header routing parses back to the routing sealed, and the sender's JWS carries the
    same routing: what opening compares."""
    sender, to, _ = who
    routing = Routing(new_message_id(created), sender, to, created, priority)
    wire = seal_for(crowd, routing, body)
    assert read_routing(wire, max_bytes=MAX_BYTES) == routing
    opened = stored_for(crowd, wire, to[0], sender)
    claims = json.loads(b64url_decode(opened.signed.split(b".")[1].decode()))
    assert (claims["id"], claims["from"], tuple(claims["to"])) == (routing.message_id, sender, to)
    assert claims["priority"] == priority.value
    assert claims["v"] == 1
    assert claims["body"] == body


@st.composite
def byte_change(draw: st.DrawFn, length: int) -> tuple[int, int]:
    index = draw(st.integers(min_value=0, max_value=length - 1))
    return index, draw(st.integers(min_value=1, max_value=255))


def changed(wire: bytes, index: int, delta: int) -> bytes:
    data = bytearray(wire)
    data[index] = (data[index] + delta) % 256  # delta in 1..255: always another byte
    return bytes(data)


@MANY
@given(body=bodies, data=st.data())
def test_any_single_byte_change_is_rejected(
    world: World, body: dict[str, Any], data: st.DataObject
) -> None:
    """An envelope with one recipient entry: no byte of it can change and still open."""
    routing = Routing(new_message_id(T0), "vn-mps-247", ("ru-gp-ca",), T0, Priority.ROUTINE)
    wire = seal_for(world, routing, body)
    assert open_for(world, wire, "ru-gp-ca").body == body
    index, delta = data.draw(byte_change(len(wire)), label="change")
    with pytest.raises(AccordError):
        open_for(world, changed(wire, index, delta), "ru-gp-ca")


@MANY
@given(who=addressing(), data=st.data())
def test_byte_change_outside_other_recipients_entries_is_rejected(
    crowd: World, who: tuple[str, tuple[str, ...], bool], data: st.DataObject
) -> None:
    """With several recipients, every byte a recipient relies on is authenticated for it: the
    shared parts and its own entry. (Other recipients' entries are, per RFC 7516, unprotected
    per-recipient data that only their owners can check.)"""
    sender, to, keep_copy = who
    routing = Routing(new_message_id(T0), sender, to, T0, Priority.URGENT)
    wire = seal_for(crowd, routing, {"text": "x"}, keep_copy=keep_copy)
    me = data.draw(st.sampled_from(to), label="me")
    others = [
        entry
        for entry in json.loads(wire)["recipients"]
        if entry["header"]["kid"] != encryption_kid(me)
    ]
    spans = []
    for entry in others:
        start = wire.find(dump(entry))
        assert start >= 0
        spans.append(range(start, start + len(dump(entry))))
    allowed = [i for i in range(len(wire)) if not any(i in span for span in spans)]
    index = data.draw(st.sampled_from(allowed), label="index")
    delta = data.draw(st.integers(min_value=1, max_value=255), label="delta")
    with pytest.raises(AccordError):
        open_for(crowd, changed(wire, index, delta), me)


@CRYPTO
@given(minutes=st.integers(min_value=-24 * 60, max_value=24 * 60))
def test_time_window_accepts_exactly_the_window(world: World, minutes: int) -> None:
    routing = Routing(new_message_id(T0), "vn-mps-247", ("ru-gp-ca",), T0, Priority.FLASH)
    wire = seal_for(world, routing, {"text": "clock"})
    now = T0 + timedelta(minutes=minutes)
    if -SKEW <= minutes * 60 <= MAX_AGE:
        assert open_for(world, wire, "ru-gp-ca", now).routing.created == T0
    else:
        with pytest.raises(OutsideTimeWindow, match=r"created at|claims creation at"):
            open_for(world, wire, "ru-gp-ca", now)
