"""Audit log benchmark (issue: audit log): append rate on SQLite with durable commits, and
proof generation time at 1,000,000 entries.

Run: ``make bench`` (or ``uv run pytest tests/bench/test_audit.py -s -o addopts=""``).
``ACCORD_BENCH_AUDIT_ENTRIES`` sets the tree size (default 1,000,000). Targets: at least
5,000 appends/s, inclusion proofs under 5 ms at 1,000,000 entries.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection

from accord.audit import log
from accord.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from accord.audit.models import Action, Event
from accord.audit.note import NoteSigner
from accord.db.engine import sqlite_engine
from accord.db.migrate import upgrade
from accord.db.writer import Writer

ENTRIES = int(os.environ.get("ACCORD_BENCH_AUDIT_ENTRIES", "1000000"))
BATCH = 1000  # events per transaction when building the big tree
SINGLE = 5000  # one event per writer job (group commit), as the node's actions append
PROOFS = 1000
AT = datetime(2026, 11, 24, tzinfo=UTC)


def _event(n: int) -> Event:
    return Event("vn-mps-247", Action.MESSAGE_SENT, f"m-{n:08d}", f"{n:064x}", ("ru-gp-ca",))


def _append_batches(writer: Writer, start: int, count: int) -> None:
    for first in range(start, start + count, BATCH):
        events = [_event(n) for n in range(first, min(first + BATCH, start + count))]
        writer.run(lambda c, events=events: log.record(c, events, AT))


def _single_jobs(writer: Writer, count: int) -> None:
    def job(n: int) -> object:
        return lambda c: log.record(c, [_event(n)], AT)

    futures = [writer.submit(job(n)) for n in range(count)]  # type: ignore[arg-type]
    for future in futures:
        future.result()


def test_audit_append_rate_and_proof_time(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "audit.db", writer=True)
    upgrade(engine)
    writer = Writer(engine)
    signer = NoteSigner(log.log_origin("vn-mps-247"), Ed25519PrivateKey.generate())
    try:
        start = time.perf_counter()
        _single_jobs(writer, SINGLE)
        single_rate = SINGLE / (time.perf_counter() - start)

        start = time.perf_counter()
        _append_batches(writer, SINGLE, ENTRIES - SINGLE)
        batch_rate = (ENTRIES - SINGLE) / (time.perf_counter() - start)

        first = writer.run(lambda c: log.publish(c, signer, AT))
        writer.run(lambda c: log.record(c, [_event(ENTRIES)], AT))
        second = writer.run(lambda c: log.publish(c, signer, AT))
        reader = sqlite_engine(tmp_path / "audit.db", writer=False)
        rng = random.Random(7)  # noqa: S311 - which entries to prove, not a secret
        with reader.connect() as connection:
            inclusion = _time_inclusion(connection, signer, rng)
            consistency = _time_consistency(connection, signer, first.checkpoint.size)
        reader.dispose()
    finally:
        writer.close()
        engine.dispose()

    size, old = second.checkpoint.size, first.checkpoint.size
    print(f"\n== Accord audit benchmark (SQLite WAL, synchronous=FULL, {ENTRIES:,} entries)")
    print(f"  append, one event per job (group commit) {single_rate:8.0f} appends/s")
    print(f"  append, {BATCH} events per transaction     {batch_rate:8.0f} appends/s")
    print(
        f"  inclusion proof at {size:,}: p50 {statistics.median(inclusion):.2f} ms, "
        f"max {max(inclusion):.2f} ms over {PROOFS} random entries"
    )
    print(f"  consistency proof {old:,} -> {size:,}: {consistency:.2f} ms")
    assert second.checkpoint.size == ENTRIES + 1


def _time_inclusion(connection: Connection, signer: NoteSigner, rng: random.Random) -> list[float]:
    """Milliseconds to build (and, untimed, verify) inclusion proofs of random entries."""
    times = []
    for _ in range(PROOFS):
        index = rng.randrange(ENTRIES)
        start = time.perf_counter()
        proof = log.prove_inclusion(connection, index, signer.verifier())
        times.append((time.perf_counter() - start) * 1000)
        root = log.latest_checkpoint(connection, signer.verifier())
        assert root is not None
        verify_inclusion(
            index, proof.size, leaf_hash(proof.record), proof.hashes, root.checkpoint.root
        )
    return times


def _time_consistency(connection: Connection, signer: NoteSigner, old: int) -> float:
    latest = log.latest_checkpoint(connection, signer.verifier())
    earlier = log.checkpoint_at(connection, old, signer.verifier())
    assert latest is not None
    start = time.perf_counter()
    proof = log.prove_consistency(connection, old, latest.checkpoint.size, signer.verifier())
    elapsed = (time.perf_counter() - start) * 1000
    verify_consistency(
        old, latest.checkpoint.size, earlier.checkpoint.root, latest.checkpoint.root, proof.hashes
    )
    return elapsed
