"""Delivery benchmark (issue: federation): sustained rate between two nodes on loopback with
1 KiB payloads and durable storage (SQLite WAL, synchronous=FULL), p50/p99 latency at half
that rate, and the cryptographic floor per message measured in the same run.

Run: ``make bench`` (or ``uv run pytest tests/bench/test_delivery.py -s -o addopts=""``).
The sender runs in this process (its real outbox and HTTP client); the receiver is a real
``accord serve`` process. Targets: >= 500 messages/s, p99 < 50 ms at half load.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path

from sqlalchemy import func, select

from accord.db.schema import deliveries, incoming, outgoing
from accord.demo.federation import LocalFederation
from accord.demo.scenario import SPECS
from accord.envelope.core import open_envelope, seal
from accord.envelope.models import Kind, Priority, Routing, new_message_id
from accord.envelope.receipt import make_receipt, verify_receipt
from accord.federation.models import DeliveryState
from accord.federation.outbox import Outbox
from accord.federation.service import Federation
from accord.federation.transport import HttpTransport
from accord.node.home import Node

MESSAGES = int(os.environ.get("ACCORD_BENCH_MESSAGES", "5000"))
LATENCY_SECONDS = float(os.environ.get("ACCORD_BENCH_LATENCY_SECONDS", "10"))
BODY = {"subject": "bench", "text": "x" * 1024, "attachments": []}
SETTINGS = (
    "outbox_poll = 0.05\nrequest_timeout = 10\noutbox_concurrency = 64\n"
    # the rate limits (ADR 0017) are for abuse, not for measuring the delivery rate: on
    # loopback sender and receiver share one address
    "rate_per_address = 100000\nburst_per_address = 1000000\n"
    "rate_per_peer = 100000\nburst_per_peer = 1000000\n"
)


def crypto_floor(sender: Node, receiver: Node, rounds: int = 2000) -> dict[str, float]:
    """Seconds per message of each cryptographic step, single-threaded, this machine."""
    federation = Federation(sender)
    directory = federation.directory()
    keys = {
        receiver.id: directory.encryption_key(receiver.id),
        sender.id: sender.keys.encryption.public_key(),
    }
    timings: dict[str, float] = {}
    now = sender.clock.now()
    routing = Routing(new_message_id(now), sender.id, (receiver.id,), now, Priority.ROUTINE)
    start = time.perf_counter()
    for _ in range(rounds):
        wire = seal(
            routing=routing,
            kind=Kind.NOTE,
            body=BODY,
            signing_key=sender.keys.signing,
            recipient_keys=keys,
            max_bytes=1 << 20,
        )
    timings["sign+encrypt"] = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    for _ in range(rounds):
        opened = open_envelope(
            wire,
            me=receiver.id,
            my_key=receiver.keys.encryption,
            directory=directory,
            now=now,
            max_age=3600,
            skew=60,
            max_bytes=1 << 20,
        )
    timings["decrypt+verify"] = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    for _ in range(rounds):
        receipt = make_receipt(
            message_id=routing.message_id,
            sha256=opened.sha256,
            sender=sender.id,
            receiver=receiver.id,
            received_at=now,
            key=receiver.keys.signing,
        )
    timings["receipt sign"] = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    for _ in range(rounds):
        verify_receipt(
            receipt.token,
            message_id=routing.message_id,
            sha256=opened.sha256,
            receiver=receiver.id,
            receiver_key=directory.signing_key(receiver.id),
        )
    timings["receipt verify"] = (time.perf_counter() - start) / rounds
    return timings


async def _enqueue(federation: Federation, outbox: Outbox, count: int, rate: float | None) -> None:
    node = federation.node
    start = time.perf_counter()
    for index in range(count):
        if rate is not None:
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        job, _ = federation.prepare("ru-gp-ca", Kind.NOTE, BODY, Priority.ROUTINE)
        node.writer.submit(job).add_done_callback(lambda _f: outbox.wake())
        if rate is None and index % 16 == 0:
            await asyncio.sleep(0)  # let the outbox run while the backlog is being queued


def _delivered(node: Node) -> int:
    with node.read_engine.connect() as c:
        query = select(func.count()).where(deliveries.c.state == DeliveryState.DELIVERED.value)
        return int(c.execute(query).scalar_one())


async def _run_phase(federation: Federation, count: int, rate: float | None) -> float:
    """Queue ``count`` messages (at ``rate`` per second, or as fast as possible) with the
    outbox running; returns the seconds until the last receipt was stored."""
    node = federation.node
    settings = node.settings
    transport = HttpTransport(settings.request_timeout, settings.outbox_concurrency * 4)
    outbox = Outbox(federation, transport)
    stop = asyncio.Event()
    worker = asyncio.create_task(outbox.run(stop))
    before = _delivered(node)
    start = time.perf_counter()
    await _enqueue(federation, outbox, count, rate)
    deadline = start + 600
    while _delivered(node) < before + count and time.perf_counter() < deadline:  # noqa: ASYNC110 - the database is what we watch
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - start
    stop.set()
    await worker
    await transport.close()
    return elapsed


def _latencies(node: Node, since: float) -> list[float]:
    """Seconds from creation (signed, encrypted, queued) to the verified receipt stored."""
    with node.read_engine.connect() as c:
        rows = c.execute(
            select(deliveries.c.delivered_at, outgoing.c.created_at)
            .join(outgoing, outgoing.c.message_id == deliveries.c.message_id)
            .where(outgoing.c.created_at >= since)
            .where(deliveries.c.state == DeliveryState.DELIVERED.value)
        ).all()
    return [row.delivered_at - row.created_at for row in rows]


def test_delivery_rate_and_latency(tmp_path: Path) -> None:
    federation = LocalFederation.create(tmp_path, SPECS[:2], {}, settings_toml=SETTINGS)
    receiver = federation.nodes["ru-gp-ca"]
    receiver.start()
    sender = federation.nodes["vn-mps-247"].open()
    receiver_node = receiver.open()
    try:
        floor = crypto_floor(sender, receiver_node)
        service = Federation(sender)
        asyncio.run(_run_phase(service, 200, None))  # warm-up: connections, caches
        elapsed = asyncio.run(_run_phase(service, MESSAGES, None))
        rate = MESSAGES / elapsed
        half = rate / 2
        since = sender.clock.now().timestamp()
        latency_count = int(half * LATENCY_SECONDS)
        asyncio.run(_run_phase(service, latency_count, half))
        latencies = sorted(_latencies(sender, since))
        with receiver_node.read_engine.connect() as c:
            stored = int(c.execute(select(func.count()).select_from(incoming)).scalar_one())
    finally:
        sender.close()
        receiver_node.close()
        receiver.stop()
    per_message = sum(floor.values())
    print("\n== Accord delivery benchmark (2 nodes, loopback, 1 KiB, SQLite synchronous=FULL)")
    for step, seconds in floor.items():
        print(f"  crypto {step:<15} {seconds * 1e6:8.1f} us")
    print(f"  crypto floor (one core)  {1 / per_message:8.0f} messages/s")
    print(f"  sustained rate           {rate:8.0f} messages/s over {MESSAGES} messages")
    print(f"  fraction of crypto floor {rate * per_message:8.2f}")
    print(
        f"  at half load ({half:.0f}/s, {len(latencies)} msgs): p50 "
        f"{statistics.median(latencies) * 1000:.1f} ms, p99 "
        f"{latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms (created to receipt verified)"
    )
    assert stored == 200 + MESSAGES + latency_count, "every message stored exactly once"
    assert len(latencies) == latency_count
