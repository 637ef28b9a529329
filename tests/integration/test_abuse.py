"""A node under abuse (ADR 0017) keeps answering health checks and its valid peers.

Abusers come from other loopback addresses (127.0.0.2, .3, .4), as they would from other
hosts: a request flood, slowloris connections trickling header bytes, a body sent one byte
a second, and more connections than one address may hold. Meanwhile the test asks for the
node's health from 127.0.0.1 every 50 ms, and vn-mps-247's running node delivers messages to
it: every health check answers 200 and every message arrives once.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from accord.demo.federation import LocalFederation, LocalNode
from accord.envelope.models import Kind
from accord.federation.service import Federation

from .helpers import DEADLINE, ERROR_KEYS, RU, VN, db_path, query, start_all, wait_until

LIMITS = (
    # vn's outbox shares 127.0.0.1 with the health monitor: 2 connections, not 32
    "checkpoint_interval = 86400\nretry_base = 0.05\nretry_max = 1\noutbox_concurrency = 2\n"
    "rate_per_address = 50\nburst_per_address = 100\n"
    "max_connections_per_address = 8\nheader_timeout = 1\nbody_timeout = 2\n"
)
ABUSE_SECONDS = 4.0


@pytest.fixture
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalNode, LocalNode]]:
    federation = LocalFederation.create(
        tmp_path_factory.mktemp("abuse"), [VN, RU], {"both": (VN.id, RU.id)}, LIMITS
    )
    vn, ru = federation.nodes[VN.id], federation.nodes[RU.id]
    try:
        start_all((vn, ru))
        yield vn, ru
    finally:
        vn.kill()
        ru.kill()


def _address(node: LocalNode) -> tuple[str, int]:
    host, port = node.url.removeprefix("http://").split(":")
    return host, int(port)


@dataclass
class Seen:
    statuses: list[int] = field(default_factory=list)
    retry_after: set[str] = field(default_factory=set)
    bodies: list[dict[str, object]] = field(default_factory=list)


def flood(url: str, until: float, seen: Seen) -> None:
    """As many health requests as one connection can carry, from 127.0.0.2."""
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=DEADLINE) as client:
        while time.monotonic() < until:
            response = client.get(url + "/federation/v1/health")
            seen.statuses.append(response.status_code)
            if response.status_code == 429:
                seen.retry_after.add(response.headers.get("retry-after", ""))
                seen.bodies.append(response.json())


def slowloris(address: tuple[str, int], source: str, seen: Seen) -> None:
    """One connection trickling its request head a byte every 0.2 s, until cut off."""
    with socket.create_connection(address, timeout=DEADLINE, source_address=(source, 0)) as s:
        answer = b""
        with contextlib.suppress(OSError):
            for byte in b"GET /federation/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                s.sendall(bytes([byte]))
                time.sleep(0.2)
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                answer += chunk
    seen.statuses.append(int(answer.split(b" ", 2)[1]) if answer else 0)
    if answer:
        seen.bodies.append(json.loads(answer.partition(b"\r\n\r\n")[2]))


def slow_body(address: tuple[str, int], seen: Seen) -> None:
    """A POST whose declared 1,000-byte body comes a byte a second, from 127.0.0.4."""
    source = ("127.0.0.4", 0)
    with socket.create_connection(address, timeout=DEADLINE, source_address=source) as s:
        s.sendall(
            b"POST /federation/v1/messages HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/jose+json\r\nContent-Length: 1000\r\n\r\n"
        )
        answer = b""
        with contextlib.suppress(OSError):
            for _ in range(20):
                s.sendall(b"{")
                time.sleep(0.5)
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                answer += chunk
    seen.statuses.append(int(answer.split(b" ", 2)[1]) if answer else 0)


def test_node_under_abuse_keeps_answering_health_checks_and_valid_peers(
    pair: tuple[LocalNode, LocalNode],
) -> None:
    vn, ru = pair
    address = _address(ru)
    until = time.monotonic() + ABUSE_SECONDS
    flooded, loris, body, health = Seen(), Seen(), Seen(), Seen()
    abusers = [threading.Thread(target=flood, args=(ru.url, until, flooded))]
    abusers += [threading.Thread(target=slowloris, args=(address, "127.0.0.3", loris))
                for _ in range(10)]  # fmt: skip
    abusers.append(threading.Thread(target=slow_body, args=(address, body)))
    for thread in abusers:
        thread.start()

    sender = vn.open()
    try:
        federation = Federation(sender)
        sent = [
            federation.send(RU.id, Kind.NOTE, {"subject": f"during abuse {i}", "text": "…"})
            for i in range(20)
        ]
    finally:
        sender.close()
    with httpx.Client(timeout=DEADLINE) as monitor:
        while time.monotonic() < until:
            started = time.monotonic()
            health.statuses.append(monitor.get(ru.url + "/federation/v1/health").status_code)
            assert time.monotonic() - started < 2.0, "a health check waited behind the abuse"
            time.sleep(0.05)
    for thread in abusers:
        thread.join(timeout=DEADLINE)

    assert set(health.statuses) == {200}, health.statuses
    assert 429 in flooded.statuses, set(flooded.statuses)
    assert all(value.isdigit() and int(value) >= 1 for value in flooded.retry_after)
    assert all(set(b) == ERROR_KEYS and b["code"] == "rate_limited" for b in flooded.bodies)
    # 8 connections from one address are held; the 2 more are answered 503 at their first
    # byte; the 8 that trickle their head are cut off with 408 after header_timeout
    assert sorted(loris.statuses) == [408] * 8 + [503] * 2, loris.statuses
    assert {b["code"] for b in loris.bodies} == {"http_malformed"}
    assert body.statuses == [408]

    def delivered() -> bool:
        rows = query(db_path(ru), "SELECT message_id FROM incoming")
        return {r["message_id"] for r in rows} >= set(sent)

    wait_until(delivered, "every message sent during the abuse to arrive")
    rows = query(db_path(ru), "SELECT message_id, COUNT(*) AS n FROM incoming GROUP BY 1")
    assert all(r["n"] == 1 for r in rows)
    assert len(rows) == len(sent)


def test_a_peer_over_its_budget_is_told_to_wait_and_its_messages_still_arrive(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """rate_per_peer = 2 a second: the outbox meets 429 with Retry-After, waits, delivers."""
    federation = LocalFederation.create(
        tmp_path_factory.mktemp("peer-budget"), [VN, RU], {"both": (VN.id, RU.id)},
        "checkpoint_interval = 86400\nretry_base = 0.05\nretry_max = 2\n"
        "rate_per_peer = 2\nburst_per_peer = 2\n",
    )  # fmt: skip
    vn, ru = federation.nodes[VN.id], federation.nodes[RU.id]
    try:
        start_all((vn, ru))
        sender = vn.open()
        try:
            federation_vn = Federation(sender)
            sent = [federation_vn.send(RU.id, Kind.NOTE, {"subject": str(i)}) for i in range(8)]
        finally:
            sender.close()

        def delivered() -> bool:
            rows = query(db_path(vn), "SELECT 1 FROM deliveries WHERE state = 'delivered'")
            return len(rows) == len(sent)

        wait_until(delivered, "all 8 messages despite the peer budget", timeout=DEADLINE * 2)
        assert len(query(db_path(ru), "SELECT 1 FROM incoming")) == len(sent)
        assert b"rate_limited" in (vn.home / "serve.log").read_bytes()
    finally:
        vn.kill()
        ru.kill()
