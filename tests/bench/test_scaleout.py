"""Scale-out benchmark (issue 19): delivery rate and latency of one node served by 1, 2 and 4
``accord worker`` processes on PostgreSQL, beside the same node as one ``accord serve`` on
SQLite, in one run; audit appends a second on each backend.

Run: ``make bench`` (or ``uv run pytest tests/bench/test_scaleout.py -s -o addopts=""``).

- Rate: MESSAGES notes (1 KiB) are queued with the delivery deferred, the processes started,
  then all released at once; the rate is MESSAGES over the time until the last receipt is
  stored. Signing and encrypting happen when a message is queued, so the rate is that of
  delivering: the POST, the receiver's decryption, storage and receipt, the receipt's check
  and storage at the sender.
- Latency: notes queued at PACED a second for LATENCY_SECONDS while the processes run;
  created (signed, encrypted, queued) to receipt verified and stored, p50 and p99.
- The receiver is one ``accord serve`` on SQLite in every case.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, update

from accord.audit import log
from accord.audit.models import Action, Event
from accord.db.engine import connect_engine, sqlite_engine
from accord.db.migrate import upgrade
from accord.db.schema import deliveries, outgoing
from accord.db.writer import Writer
from accord.demo.federation import LocalFederation, LocalNode
from accord.envelope.models import Kind, Priority
from accord.federation.models import DeliveryState
from accord.federation.service import Federation
from pgkit import PostgresServer
from scaleout import PAIR, RECEIVER, SENDER, UNLIMITED, ScaleOut

MESSAGES = int(os.environ.get("ACCORD_BENCH_MESSAGES", "2000"))
PACED = float(os.environ.get("ACCORD_BENCH_PACED", "50"))
LATENCY_SECONDS = float(os.environ.get("ACCORD_BENCH_LATENCY_SECONDS", "6"))
APPENDS = int(os.environ.get("ACCORD_BENCH_APPENDS", "4000"))
WORKERS = (1, 2, 4)
BODY = {"subject": "bench", "text": "x" * 1024, "attachments": []}
SETTINGS = "outbox_poll = 0.05\nrequest_timeout = 10\noutbox_concurrency = 64\n"
PARKED = 1e12  # next_attempt_at of a queued delivery held back until the phase starts
DEADLINE = 900.0


def _queue(federation: Federation, count: int) -> None:
    """Queue ``count`` notes through the node's writer (grouped commits)."""
    futures = []
    for _ in range(count):
        job, _id = federation.prepare(RECEIVER, Kind.NOTE, BODY, Priority.ROUTINE)
        futures.append(federation.node.writer.submit(job))
    for future in futures:
        future.result(DEADLINE)


def _delivered(engine: Engine, since: float) -> int:
    with engine.connect() as c:
        return int(
            c.execute(
                select(func.count())
                .select_from(deliveries.join(outgoing))
                .where(deliveries.c.state == DeliveryState.DELIVERED.value)
                .where(outgoing.c.created_at >= since)
            ).scalar_one()
        )


def _wait_delivered(engine: Engine, since: float, count: int) -> float:
    deadline = time.monotonic() + DEADLINE
    while _delivered(engine, since) < count:
        assert time.monotonic() < deadline, "the deliveries did not finish"
        time.sleep(0.02)
    return time.time()


def _latencies(engine: Engine, since: float) -> list[float]:
    with engine.connect() as c:
        rows = c.execute(
            select(deliveries.c.delivered_at, outgoing.c.created_at)
            .join(outgoing, outgoing.c.message_id == deliveries.c.message_id)
            .where(outgoing.c.created_at >= since)
        ).all()
    return sorted(row.delivered_at - row.created_at for row in rows)


Roles = dict[str, Callable[[], list[int]]]  # role -> the pids of its processes now
TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pids: list[int]) -> float:
    """CPU seconds (user and system) the processes used so far."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # exited meanwhile
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def _server_pids(server: PostgresServer) -> list[int]:
    """The postmaster and its children (the backends serving the connections)."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(stat.parent.name))
        except (FileNotFoundError, ValueError):
            continue
    return [postmaster, *children]


def _pid(local: LocalNode) -> list[int]:
    return [] if local.process is None else [local.process.pid]


class Phases:
    """The two measurements on one sending node, whatever runs its outbox."""

    def __init__(self, sender: LocalNode) -> None:
        self.node = sender.open()
        self.federation = Federation(self.node)

    def park(self) -> float:
        """Queue MESSAGES notes held back; returns when they were queued."""
        since = time.time()
        _queue(self.federation, MESSAGES)
        with self.node.write_engine.begin() as c:
            c.execute(
                update(deliveries)
                .where(deliveries.c.state == DeliveryState.QUEUED.value)
                .values(next_attempt_at=PARKED)
            )
        return since

    def rate(self, since: float, roles: Roles) -> dict[str, float]:
        """Release the parked notes: messages a second until the last receipt is stored, and
        the CPU milliseconds per message of each role's processes meanwhile."""
        before = {role: _cpu(pids()) for role, pids in roles.items()}
        start = time.time()
        with self.node.write_engine.begin() as c:
            c.execute(
                update(deliveries)
                .where(deliveries.c.next_attempt_at == PARKED)
                .values(next_attempt_at=start)
            )
        end = _wait_delivered(self.node.read_engine, since, MESSAGES)
        figures = {"rate": MESSAGES / (end - start)}
        for role, pids in roles.items():
            figures[f"{role} cpu"] = (_cpu(pids()) - before[role]) * 1e3 / MESSAGES
        return figures

    def latency(self) -> tuple[float, float]:
        """p50 and p99 in seconds, notes queued at PACED a second."""
        since = time.time()
        count = int(PACED * LATENCY_SECONDS)
        for index in range(count):
            delay = since + index / PACED - time.time()
            if delay > 0:
                time.sleep(delay)
            self.federation.send(RECEIVER, Kind.NOTE, BODY)
        _wait_delivered(self.node.read_engine, since, count)
        found = _latencies(self.node.read_engine, since)
        return statistics.median(found), found[max(0, int(len(found) * 0.99) - 1)]

    def close(self) -> None:
        self.node.close()


def _sqlite_single_node(root: Path) -> dict[str, float]:
    federation = LocalFederation.create(
        root, list(PAIR), {"pair": (SENDER, RECEIVER)}, settings_toml=SETTINGS + UNLIMITED
    )
    sender, receiver = federation.nodes[SENDER], federation.nodes[RECEIVER]
    phases = Phases(sender)
    try:
        receiver.start()
        since = phases.park()
        sender.start()
        figures = phases.rate(
            since, {"sender": lambda: _pid(sender), "receiver": lambda: _pid(receiver)}
        )
        figures["p50"], figures["p99"] = phases.latency()
    finally:
        phases.close()
        sender.stop()
        receiver.stop()
    return figures


def _postgresql_workers(root: Path, server: PostgresServer) -> dict[int, dict[str, float]]:
    cluster = ScaleOut.create(root, server, SETTINGS)
    phases = Phases(cluster.sender)
    figures = {}
    try:
        cluster.receiver.start()
        roles: Roles = {
            "sender": lambda: [p.pid for p in cluster.workers],
            "receiver": lambda: _pid(cluster.receiver),
            "postgres": lambda: _server_pids(server),
        }
        for count in WORKERS:
            since = phases.park()
            cluster.start_workers(count)
            figures[count] = phases.rate(since, roles)
            figures[count]["p50"], figures[count]["p99"] = phases.latency()
            cluster.stop_workers()
    finally:
        phases.close()
        cluster.stop()
    return figures


def _appends_per_second(make: Callable[[], Engine], writers: int) -> float:
    """APPENDS single-event audit records, from ``writers`` writers (one per process) at once,
    each from 4 threads submitting without waiting."""
    engines = [make() for _ in range(writers)]
    made = [Writer(engine) for engine in engines]
    at = datetime.now(UTC)

    def append(writer: Writer, share: int, tag: str) -> None:
        futures = []
        for n in range(share):
            event = Event(tag, Action.MESSAGE_SENT, f"{tag}-{n}", "ab" * 32, (tag,))
            futures.append(writer.submit(lambda c, e=event: log.record(c, [e], at)))
        for future in futures:
            future.result(DEADLINE)

    share = APPENDS // (writers * 4)
    threads = [
        threading.Thread(target=append, args=(w, share, f"w{i}t{t}"))
        for i, w in enumerate(made)
        for t in range(4)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    for writer, engine in zip(made, engines, strict=True):
        writer.close()
        engine.dispose()
    return share * writers * 4 / elapsed


def test_scaleout_rate_latency_and_audit_appends(tmp_path: Path) -> None:
    server = PostgresServer(durable=True).start()
    try:
        server.migrated_template()
        single = _sqlite_single_node(tmp_path / "sqlite")
        workers = _postgresql_workers(tmp_path / "postgresql", server)
        appends_pg = {}
        for count in (1, 4):
            url = server.new_database()
            appends_pg[count] = _appends_per_second(
                lambda url=url: connect_engine(url, writer=True), count
            )
        sqlite_file = tmp_path / "appends.db"
        migrating = sqlite_engine(sqlite_file, writer=True)
        upgrade(migrating)
        migrating.dispose()
        appends_sqlite = _appends_per_second(lambda: sqlite_engine(sqlite_file, writer=True), 1)
    finally:
        server.remove()
    print(f"\n== Accord scale-out benchmark ({os.cpu_count()} cores, loopback, 1 KiB notes)")
    print(
        f"  {'sender':<30} {'msgs/s':>7} {'p50 ms':>7} {'p99 ms':>7}   CPU ms/msg: "
        f"{'sender':>6} {'receiver':>8} {'postgres':>8}"
    )
    rows = [("SQLite, 1 accord serve", single)]
    rows += [(f"PostgreSQL, {n} accord worker", f) for n, f in workers.items()]
    for name, f in rows:
        print(
            f"  {name:<30} {f['rate']:7.0f} {f['p50'] * 1e3:7.1f} {f['p99'] * 1e3:7.1f}"
            f"{'':14}{f['sender cpu']:6.2f} {f['receiver cpu']:8.2f} "
            f"{f.get('postgres cpu', 0.0):8.2f}"
        )
    print(f"  (rate over {MESSAGES} released at once; latency at {PACED:.0f}/s)")
    print(
        f"  audit appends/s: SQLite 1 writer {appends_sqlite:.0f}; PostgreSQL 1 writer "
        f"{appends_pg[1]:.0f}, 4 writers (as 4 processes) {appends_pg[4]:.0f}"
    )
    assert all(f["rate"] > 0 for _name, f in rows)
