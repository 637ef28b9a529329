"""Evidence transfer benchmark: one package between two running nodes on loopback.

Run: ``make bench`` (or ``uv run pytest tests/bench/test_evidence_transfer.py -s -o addopts=""``).
``ACCORD_BENCH_TRANSFER_GIB`` sets the package size (default 1). The sender seals generated data,
``send`` queues it, and the clock runs until the sender stores the receiver's signed receipt:
every chunk read and hashed by the sender, hashed, written and fdatasync'ed by the receiver, one
SQLite commit per chunk on each side, and the completion. No target is set by the issue; the
figure is reported against the disk's durable write rate (``standards.md`` §4).
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from accord.demo.federation import LocalFederation, NodeSpec
from accord.evidence.models import Acquisition
from accord.evidence.package import Package
from accord.evidence.seal import collect
from accord.evidence.service import Evidence
from accord.identity.models import Role
from accord.node.home import DATABASE_FILE

GIB, MIB = 1024**3, 1024**2
SIZE = int(float(os.environ.get("ACCORD_BENCH_TRANSFER_GIB", "1")) * GIB)
VN = NodeSpec("vn-mps-247", "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en"))
RU = NodeSpec("ru-gp-ca", "Russian Federation CA", "RU", (Role.CENTRAL_AUTHORITY,), ("ru",))


def _state(home: Path) -> str | None:
    with sqlite3.connect(home / DATABASE_FILE, timeout=30) as db:
        row = db.execute("SELECT state, last_error FROM evidence_outbound").fetchone()
    if row is not None and row[1]:
        print(f"  last error: {row[1]}")
    return None if row is None else str(row[0])


def test_transfer_rate(tmp_path: Path) -> None:
    federation = LocalFederation.create(tmp_path / "nodes", [VN, RU], {})
    source = tmp_path / "data"
    source.mkdir()
    block = os.urandom(64 * MIB)
    with (source / "image.bin").open("wb") as handle:
        for _ in range(SIZE // len(block)):
            handle.write(block)
    sender, receiver = federation.nodes[VN.id], federation.nodes[RU.id]
    node = sender.open()
    try:
        evidence = Evidence(node)
        evidence.seal(
            tuple(collect([source])),
            case="BENCH",
            to=[RU.id],
            acquisition=Acquisition(
                acquired_by="bench",
                acquired_at=datetime.now(UTC),
                method="generated",
                tool="bench",
                source="os.urandom",
            ),
            use_limitations=(),
            out=tmp_path / "pkg",
            progress=lambda _: None,
        )
        (source / "image.bin").unlink()
        federation.start()
        started = time.perf_counter()
        evidence.send(Package(tmp_path / "pkg"), [])
        while _state(sender.home) != "delivered":
            assert time.perf_counter() - started < 1800, "transfer did not finish in 30 min"
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        node.close()
        federation.stop()
    stored = Package(tmp_path / "pkg").stored_bytes()
    print(
        f"\nevidence transfer {stored / GIB:.2f} GiB over loopback: {seconds:.2f} s, "
        f"{stored / MIB / seconds:,.0f} MiB/s (sender read + hash, receiver hash + write + "
        "fdatasync, one commit per 4 MiB chunk on each side, receipt)"
    )
    assert receiver.home.joinpath("evidence", "received").is_dir()
