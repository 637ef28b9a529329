"""Three ``accord worker`` processes of one node share its outbox on PostgreSQL under
sustained load (issue 19). One is killed with SIGKILL mid-load, then PostgreSQL itself is
stopped without a shutdown checkpoint and started again: nothing is lost, nothing is stored
twice, each message has one receipt and one audit record of it, and both audit logs verify."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.envelope.models import Kind, Priority
from accord.errors import StorageError
from accord.federation.service import Federation
from pgkit import PostgresServer
from scaleout import RECEIVER, ScaleOut

from .faultkit import DEADLINE, all_delivered, assert_exactly_once, query, states, wait_until

# A worker claims at most 4 x outbox_concurrency deliveries at a time: each of the three holds
# a share of a burst, and the one killed holds some of it.
SETTINGS = (
    "outbox_poll = 0.05\nrequest_timeout = 2\nretry_base = 0.05\nretry_max = 0.5\n"
    "checkpoint_interval = 1\noutbox_concurrency = 4\n"
)
RATE = 50.0  # messages a second, queued by this process while the workers deliver
BURST = 150  # queued at once before each fault, so that the workers hold claims when it hits
AFTER = 100


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    """A server of the test's own (fsync on: it is restarted as if it crashed)."""
    started = PostgresServer(durable=True).start()
    try:
        started.migrated_template()
        yield started
    finally:
        started.remove()


class Load:
    """Queues notes at RATE from this process, between the faults (a message counts as
    queued once its send returned; nothing is queued while the database is down)."""

    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.sent: list[str] = []

    def send(self, count: int, rate: float | None = RATE) -> None:
        for _ in range(count):
            started = time.monotonic()
            body = {"subject": f"load {len(self.sent)}", "text": "x" * 512, "attachments": []}
            self.sent.append(self.federation.send(RECEIVER, Kind.NOTE, body))
            if rate is not None:
                time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))

    def burst(self, count: int) -> None:
        """Queue ``count`` notes in one go (the writer groups them into one or two commits):
        the workers claim them together, so each holds a share when a fault strikes."""
        futures = []
        for _ in range(count):
            body = {"subject": f"load {len(self.sent)}", "text": "x" * 512, "attachments": []}
            job, message_id = self.federation.prepare(RECEIVER, Kind.NOTE, body, Priority.ROUTINE)
            futures.append(self.federation.node.writer.submit(job))
            self.sent.append(message_id)
        for future in futures:
            future.result(DEADLINE)


def verify_local(home: Path, env: dict[str, str]) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "accord", "audit", "verify-local", "--dir", str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.strip()


def test_workers_lose_and_repeat_nothing_through_a_kill_and_a_database_restart(
    tmp_path: Path, server: PostgresServer
) -> None:
    cluster = ScaleOut.create(tmp_path, server, SETTINGS)
    try:
        cluster.receiver.start()
        cluster.start_workers(3)
        node = cluster.sender.open()
        try:
            load = Load(Federation(node))
            load.send(AFTER)
            load.burst(BURST)
            time.sleep(0.2)
            backlog = len(load.sent) - states(cluster.sender)["delivered"]
            assert cluster.kill_worker(0) == -9
            load.burst(BURST)
            server.restart()  # immediate stop: crash recovery from the WAL at start
            load.send(AFTER)
        except StorageError as exc:  # pragma: no cover - shown with the workers' logs
            raise AssertionError(f"the sender could not queue: {exc.message}") from exc
        finally:
            node.close()
        total = 2 * (AFTER + BURST)
        wait_until("every message delivered", all_delivered(cluster.sender, total), 120)
        assert_exactly_once(cluster.sender, cluster.receiver, set(load.sent))
        sent_records = _actions(cluster, "vn")
        received_records = _actions(cluster, "ru")
        attempts = query(cluster.sender, "SELECT sum(attempts) AS n FROM deliveries")[0]["n"]
        vn_log = verify_local(cluster.sender.home, cluster.sender.env)
        ru_log = verify_local(cluster.receiver.home, cluster.receiver.env)
    finally:
        cluster.stop()
    assert backlog > 0, "the worker was killed with work outstanding"
    assert attempts > total, "some deliveries were attempted again after a fault"
    assert set(sent_records["receipt.stored"].values()) == {1}
    assert set(received_records["message.received"].values()) == {1}
    assert len(sent_records["receipt.stored"]) == len(received_records["message.received"])
    assert vn_log.startswith("OK: ")
    assert ru_log.startswith("OK: ")
    print(f"\n{total} messages, {attempts} attempts; backlog at the kill {backlog}")
    print(f"sender: {vn_log}\nreceiver: {ru_log}")


def _actions(cluster: ScaleOut, which: str) -> dict[str, Counter[str]]:
    """Audit records per action and object (message id) in the sender's or receiver's log."""
    local = cluster.sender if which == "vn" else cluster.receiver
    counted: dict[str, Counter[str]] = {"receipt.stored": Counter(), "message.received": Counter()}
    for row in query(local, "SELECT action, object_id FROM audit_records"):
        if row["action"] in counted:
            counted[row["action"]][row["object_id"]] += 1
    return counted
