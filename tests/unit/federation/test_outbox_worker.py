"""The outbox worker against an in-process peer and a fixed clock: backoff and jitter, final and
retryable refusals, receipt checks, the ack/receipt race, and leases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Row, select

from accord.clock import FixedClock
from accord.db.schema import deliveries, incoming, outgoing
from accord.demo.federation import LocalFederation, NodeSpec
from accord.envelope.core import sha256_hex
from accord.envelope.models import Kind
from accord.envelope.receipt import make_receipt, sign_refusal
from accord.federation.models import DeliveryState
from accord.federation.outbox import LEASE_MARGIN, Outbox
from accord.federation.reading import Mailbox
from accord.federation.service import Federation
from accord.federation.transport import PeerResponse, TransportFailure
from accord.identity.models import Role
from accord.node.home import Node

SENDER, RECEIVER = "vn-mps-247", "ru-gp-ca"
SPECS = [
    NodeSpec(SENDER, "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en")),
    NodeSpec(RECEIVER, "Russian Federation CA", "RU", (Role.CENTRAL_AUTHORITY,), ("ru", "en")),
]
REQUEST_TIMEOUT = 2.0
SETTINGS = (
    f"retry_base = 1\nretry_max = 8\nrequest_timeout = {REQUEST_TIMEOUT}\n"
    "delivery_timeout = 3600\noutbox_poll = 0.01\n"
)
LEASE = REQUEST_TIMEOUT + LEASE_MARGIN

Answer = Callable[[bytes], Awaitable[PeerResponse]]


def answer(status: int, body: object) -> PeerResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return PeerResponse(status, raw)


@dataclass
class Peer:
    """A PeerTransport in this process. By default it hands the bytes to the receiver node's
    real ``Federation.receive`` and answers with its signed receipt; ``script`` overrides the
    next answers in order."""

    receiver: Federation
    script: list[Answer] = field(default_factory=list)
    posted: list[bytes] = field(default_factory=list)
    closed: bool = False

    async def post_message(self, base_url: str, wire: bytes) -> PeerResponse:
        assert base_url.startswith("http://127.0.0.1:")
        self.posted.append(wire)
        if self.script:
            return await self.script.pop(0)(wire)
        return self.deliver(wire)

    def deliver(self, wire: bytes) -> PeerResponse:
        return answer(202, {"receipt": self.receiver.receive(wire)})

    async def close(self) -> None:
        self.closed = True


def fixed(response: PeerResponse) -> Answer:
    async def respond(_wire: bytes) -> PeerResponse:
        return response

    return respond


def unreachable(reason: str = "connection refused") -> Answer:
    async def fail(_wire: bytes) -> PeerResponse:
        raise TransportFailure(reason)

    return fail


@dataclass
class Pair:
    clock: FixedClock
    local: LocalFederation
    sender: Node
    receiver: Node
    peer: Peer

    @property
    def federation(self) -> Federation:
        return Federation(self.sender)

    def outbox(self, rng: Callable[[], float] = lambda: 1.0) -> Outbox:
        return Outbox(self.federation, self.peer, rng=rng)

    def send(self, count: int = 1) -> list[str]:
        body = {"subject": "unit", "text": "outbox", "attachments": []}
        return [self.federation.send(RECEIVER, Kind.NOTE, body) for _ in range(count)]

    def now(self) -> float:
        return self.clock.now().timestamp()

    def advance(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    def delivery(self, message_id: str) -> Row[tuple[object, ...]]:
        with self.sender.read_engine.connect() as connection:
            return connection.execute(
                select(deliveries).where(deliveries.c.message_id == message_id)
            ).one()

    def received(self) -> list[Row[tuple[object, ...]]]:
        with self.receiver.read_engine.connect() as connection:
            return list(connection.execute(select(incoming)).all())

    def reopen_sender(self) -> None:
        """As after a crash: a new process opens the same folder."""
        self.sender.close()
        self.sender = self.local.nodes[SENDER].open(self.clock)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    local = LocalFederation.create(
        tmp_path, SPECS, {"pair": (SENDER, RECEIVER)}, settings_toml=SETTINGS
    )
    clock = FixedClock(datetime.now(UTC))
    sender = local.nodes[SENDER].open(clock)
    receiver = local.nodes[RECEIVER].open(clock)
    made = Pair(clock, local, sender, receiver, Peer(Federation(receiver)))
    try:
        yield made
    finally:
        made.sender.close()
        receiver.close()


def test_valid_receipt_marks_delivered(pair: Pair) -> None:
    [message_id] = pair.send()
    asyncio.run(pair.outbox().drain())
    row = pair.delivery(message_id)
    [stored] = pair.received()
    assert row.state == DeliveryState.DELIVERED
    assert row.attempts == 1
    assert row.last_error is None
    assert row.delivered_at == pair.now()
    assert row.receipt == stored.receipt
    assert stored.wire == pair.peer.posted[0]


def test_backoff_doubles_per_attempt_up_to_retry_max(pair: Pair) -> None:
    [message_id] = pair.send()
    outbox = pair.outbox(rng=lambda: 1.0)  # the top of each jitter range
    for attempt, delay in enumerate([1, 2, 4, 8, 8, 8], start=1):
        pair.peer.script.append(unreachable())
        asyncio.run(outbox.drain())
        row = pair.delivery(message_id)
        assert row.state == DeliveryState.RETRYING
        assert row.attempts == attempt
        assert row.last_error == "peer unreachable: connection refused"
        assert row.next_attempt_at - pair.now() == pytest.approx(delay)
        pair.advance(delay - 0.01)  # not yet due: nothing is attempted
        asyncio.run(outbox.drain())
        assert len(pair.peer.posted) == attempt
        pair.advance(0.01)
    asyncio.run(outbox.drain())
    assert pair.delivery(message_id).state == DeliveryState.DELIVERED
    assert len(pair.received()) == 1


def test_jitter_draws_each_delay_from_rng(pair: Pair) -> None:
    [message_id] = pair.send()
    draws = iter([0.25, 0.5, 0.0])
    outbox = pair.outbox(rng=lambda: next(draws))
    for ceiling, draw in [(1, 0.25), (2, 0.5), (4, 0.0)]:
        pair.peer.script.append(unreachable())
        asyncio.run(outbox.drain())
        delay = pair.delivery(message_id).next_attempt_at - pair.now()
        assert delay == pytest.approx(draw * ceiling)
        pair.advance(delay)
    # A draw of 0 makes the next attempt due at once.
    asyncio.run(outbox.drain())
    assert pair.delivery(message_id).state == DeliveryState.DELIVERED


def refusal(
    pair: Pair,
    status: int,
    code: str,
    *,
    bind: Callable[[bytes], str] = sha256_hex,
    key: Ed25519PrivateKey | None = None,
) -> Answer:
    """The receiver's error answer, signed as protocol v1 requires (``key`` to forge it)."""

    async def respond(wire: bytes) -> PeerResponse:
        body = json.dumps({"code": code, "message": "no", "advice": "", "errors": []}).encode()
        signature = sign_refusal(
            body,
            request_sha256=bind(wire),
            signer=RECEIVER,
            key=key or pair.receiver.keys.signing,
        )
        return PeerResponse(status, body, signature)

    return respond


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "envelope_tampered"),
        (409, "message_id_replayed"),
        (413, "payload_too_large"),
        (421, "not_a_recipient"),
        (422, "envelope_malformed"),
    ],
)
def test_final_refusal_fails_with_the_peers_reason(pair: Pair, status: int, code: str) -> None:
    [message_id] = pair.send()
    pair.peer.script.append(refusal(pair, status, code))
    outbox = pair.outbox()
    asyncio.run(outbox.drain())
    row = pair.delivery(message_id)
    assert row.state == DeliveryState.FAILED
    assert row.last_error == f"refused by {RECEIVER}: HTTP {status} {code}: no"
    pair.advance(3600)
    asyncio.run(outbox.drain())
    assert len(pair.peer.posted) == 1  # final: never attempted again
    assert pair.delivery(message_id).state == DeliveryState.FAILED


@pytest.mark.parametrize("status", [413, 415])
def test_refusal_before_the_body_was_read_binds_the_empty_digest(pair: Pair, status: int) -> None:
    [message_id] = pair.send()
    pair.peer.script.append(refusal(pair, status, "payload_too_large", bind=lambda _wire: ""))
    asyncio.run(pair.outbox().drain())
    assert pair.delivery(message_id).state == DeliveryState.FAILED


def _unsigned(status: int) -> Answer:
    return fixed(answer(status, {"code": "envelope_tampered", "message": "no"}))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda pair: _unsigned(400), "carries no detached signature"),
        (
            lambda pair: refusal(pair, 400, "envelope_tampered", key=Ed25519PrivateKey.generate()),
            "is not signed by its directory key",
        ),
        (
            lambda pair: refusal(pair, 400, "envelope_tampered", bind=lambda _w: "0" * 64),
            "answers another request",
        ),
        (
            lambda pair: refusal(pair, 400, "envelope_tampered", bind=lambda _w: ""),
            "answers another request",  # the empty binding only counts for 413 and 415
        ),
    ],
    ids=["unsigned", "forged", "other-request", "empty-binding-on-400"],
)
def test_refusal_not_signed_for_this_request_is_retried(
    pair: Pair, make: Callable[[Pair], Answer], reason: str
) -> None:
    """Anything on the path could write a 400; only the recipient's signature ends delivery."""
    [message_id] = pair.send()
    pair.peer.script.append(make(pair))
    outbox = pair.outbox()
    asyncio.run(outbox.drain())
    row = pair.delivery(message_id)
    assert row.state == DeliveryState.RETRYING
    assert str(row.last_error).startswith("HTTP 400 envelope_tampered: no (ignored: refusal from")
    assert reason in str(row.last_error)
    pair.advance(1)
    asyncio.run(outbox.drain())
    assert pair.delivery(message_id).state == DeliveryState.DELIVERED
    assert len(pair.received()) == 1


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (answer(403, {"code": "sender_unknown", "message": "m"}), "HTTP 403 sender_unknown: m"),
        (answer(400, {"code": "directory_expired", "message": "m"}), "HTTP 400 directory_expired"),
        (answer(400, {"code": "created_outside_window", "message": "m"}), "HTTP 400 created"),
        (answer(503, {"code": "storage_error", "message": "m"}), "HTTP 503 storage_error: m"),
        (answer(429, {}), "HTTP 429 :"),
        (answer(502, b"<html>bad gateway</html>"), "HTTP 502 :"),
    ],
)
def test_retryable_refusal_is_retried(pair: Pair, response: PeerResponse, reason: str) -> None:
    [message_id] = pair.send()
    pair.peer.script.append(fixed(response))
    outbox = pair.outbox()
    asyncio.run(outbox.drain())
    row = pair.delivery(message_id)
    assert row.state == DeliveryState.RETRYING
    assert str(row.last_error).startswith(reason)
    pair.advance(1)
    asyncio.run(outbox.drain())
    assert pair.delivery(message_id).state == DeliveryState.DELIVERED


def _wrong_key(pair: Pair, wire: bytes) -> str:
    """A well-formed receipt for these bytes, signed by a key that is not the receiver's."""
    return _receipt(pair, wire, key=Ed25519PrivateKey.generate())


def _other_bytes(pair: Pair, wire: bytes) -> str:
    """The receiver's genuine signature, over other bytes than those sent."""
    return _receipt(pair, wire, sha256=sha256_hex(wire + b" "))


def _other_message(pair: Pair, wire: bytes) -> str:
    return _receipt(pair, wire, message_id="01a20000-0000-7000-8000-000000000000")


def _receipt(
    pair: Pair,
    wire: bytes,
    *,
    key: Ed25519PrivateKey | None = None,
    sha256: str | None = None,
    message_id: str | None = None,
) -> str:
    with pair.sender.read_engine.connect() as connection:
        sent_id = connection.execute(
            select(outgoing.c.message_id).where(outgoing.c.sha256 == sha256_hex(wire))
        ).scalar_one()
    return make_receipt(
        message_id=message_id or sent_id,
        sha256=sha256 or sha256_hex(wire),
        sender=SENDER,
        receiver=RECEIVER,
        received_at=pair.clock.now(),
        key=key or pair.receiver.keys.signing,
    ).token


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (_wrong_key, "does not verify with the directory key"),
        (_other_bytes, "states a different sha256"),
        (_other_message, "states a different message_id"),
        (lambda _pair, _wire: "not a jws", "does not verify"),
    ],
)
def test_invalid_receipt_is_retried_not_delivered(
    pair: Pair, forge: Callable[[Pair, bytes], str], reason: str
) -> None:
    [message_id] = pair.send()

    async def forged(wire: bytes) -> PeerResponse:
        return answer(202, {"receipt": forge(pair, wire)})

    pair.peer.script.append(forged)
    outbox = pair.outbox()
    asyncio.run(outbox.drain())
    row = pair.delivery(message_id)
    assert row.state == DeliveryState.RETRYING
    assert row.receipt is None
    assert row.delivered_at is None
    assert reason in str(row.last_error)
    pair.advance(1)
    asyncio.run(outbox.drain())
    assert pair.delivery(message_id).state == DeliveryState.DELIVERED


def test_receipt_without_a_receipt_field_is_retried(pair: Pair) -> None:
    [message_id] = pair.send()
    pair.peer.script.append(fixed(answer(202, {"accepted": True})))
    asyncio.run(pair.outbox().drain())
    row = pair.delivery(message_id)
    assert row.state == DeliveryState.RETRYING
    assert "receipt" in str(row.last_error)


def test_ack_that_overtakes_the_receipt_is_not_overwritten(pair: Pair) -> None:
    [message_id] = pair.send()

    async def receive_then_ack(wire: bytes) -> PeerResponse:
        """The receiver stores the message and its operator acknowledges it; the ack reaches
        the sender before the HTTP answer carrying the receipt does."""
        response = pair.peer.deliver(wire)
        receiver = Federation(pair.receiver)
        ack_id = Mailbox(receiver).acknowledge(message_id)
        with pair.receiver.read_engine.connect() as connection:
            ack_wire = connection.execute(
                select(outgoing.c.wire).where(outgoing.c.message_id == ack_id)
            ).scalar_one()
        pair.federation.receive(ack_wire)
        assert pair.delivery(message_id).state == DeliveryState.ACKNOWLEDGED
        return response

    pair.peer.script.append(receive_then_ack)
    asyncio.run(pair.outbox().drain())
    row = pair.delivery(message_id)
    assert row.state == DeliveryState.ACKNOWLEDGED  # the late receipt did not demote it
    assert row.ack is not None
    assert row.acknowledged_at == pair.now()


def test_claimed_delivery_whose_lease_expired_is_claimed_again(pair: Pair) -> None:
    [message_id] = pair.send()
    started = asyncio.Event()

    async def hang(_wire: bytes) -> PeerResponse:
        started.set()
        await asyncio.Event().wait()  # never answers: the process dies in this request
        raise AssertionError("unreachable")

    async def die_mid_request() -> None:
        task = asyncio.create_task(pair.outbox().drain())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    pair.peer.script.append(hang)
    asyncio.run(die_mid_request())
    row = pair.delivery(message_id)
    assert row.state == DeliveryState.SENT
    assert row.attempts == 1
    assert row.next_attempt_at == pytest.approx(pair.now() + LEASE)

    pair.reopen_sender()  # a restarted process
    pair.advance(LEASE - 0.01)
    asyncio.run(pair.outbox().drain())
    assert len(pair.peer.posted) == 1  # the lease still holds
    assert pair.delivery(message_id).state == DeliveryState.SENT
    pair.advance(0.01)
    asyncio.run(pair.outbox().drain())
    row = pair.delivery(message_id)
    assert row.state == DeliveryState.DELIVERED
    assert row.attempts == 2
    assert len(pair.received()) == 1


def test_delivery_timeout_turns_a_retry_into_a_failure(pair: Pair) -> None:
    [message_id] = pair.send()
    pair.advance(3600 - 0.5)
    pair.peer.script.append(unreachable("connection reset"))
    asyncio.run(pair.outbox(rng=lambda: 1.0).drain())  # next attempt would fall past the limit
    row = pair.delivery(message_id)
    assert row.state == DeliveryState.FAILED
    assert row.last_error == (
        "no valid receipt within 3600 s of creation; last error: peer unreachable: connection reset"
    )


def test_due_delivery_past_the_timeout_fails_without_an_attempt(pair: Pair) -> None:
    [message_id] = pair.send()
    pair.peer.script.append(unreachable())
    asyncio.run(pair.outbox(rng=lambda: 0.0).drain())
    pair.advance(3601)
    asyncio.run(pair.outbox().drain())
    row = pair.delivery(message_id)
    assert row.state == DeliveryState.FAILED
    assert len(pair.peer.posted) == 1
    assert str(row.last_error).endswith("last error: peer unreachable: connection refused")


def test_worker_never_runs_two_attempts_of_one_delivery_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one slot per peer, a claimed delivery may wait for the slot longer than its lease;
    the worker must not claim it again while it still holds it."""
    local = LocalFederation.create(
        tmp_path,
        SPECS,
        {"pair": (SENDER, RECEIVER)},
        settings_toml=SETTINGS + "outbox_concurrency = 1\n",
    )
    clock = FixedClock(datetime.now(UTC))
    sender, receiver = local.nodes[SENDER].open(clock), local.nodes[RECEIVER].open(clock)
    try:
        peer = Peer(Federation(receiver))
        federation = Federation(sender)
        body = {"subject": "unit", "text": "slots", "attachments": []}
        ids = [federation.send(RECEIVER, Kind.NOTE, body) for _ in range(2)]
        outbox = Outbox(federation, peer)
        asyncio.run(_run_past_the_lease(outbox, peer, clock, monkeypatch))
        with sender.read_engine.connect() as connection:
            rows = connection.execute(select(deliveries)).all()
        assert {row.state for row in rows} == {DeliveryState.DELIVERED.value}
        assert len(peer.posted) == len(ids)  # one request per message, none twice
        assert [row.attempts for row in rows] == [1, 1]
    finally:
        sender.close()
        receiver.close()


async def _run_past_the_lease(
    outbox: Outbox, peer: Peer, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run the worker: the first delivery hangs in its request (holding the only slot) while
    the second waits for the slot; move time past both leases and let the worker poll again."""
    release, in_request, polled = asyncio.Event(), asyncio.Event(), asyncio.Event()
    claims = {"count": 0, "target": -1}
    claim_job = outbox._claim_job

    def counted(*args: object, **kwargs: object) -> object:
        claims["count"] += 1
        if claims["count"] == claims["target"]:
            polled.set()
        return claim_job(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "_claim_job", counted)

    async def slow(wire: bytes) -> PeerResponse:
        in_request.set()
        await release.wait()
        return peer.deliver(wire)

    peer.script.extend([slow] * 4)
    stop = asyncio.Event()
    worker = asyncio.create_task(outbox.run(stop))
    try:
        await asyncio.wait_for(in_request.wait(), timeout=30)
        clock.advance(timedelta(seconds=LEASE + 1))
        claims["target"] = claims["count"] + 1  # one more poll, with both leases expired
        outbox.wake()
        await asyncio.wait_for(polled.wait(), timeout=30)
    finally:
        release.set()
        stop.set()  # the worker finishes what it holds, then returns
        await asyncio.wait_for(worker, timeout=30)
