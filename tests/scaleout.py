"""A sending node run by several ``accord worker`` processes on one PostgreSQL database,
delivering to a receiving node (``accord serve`` on SQLite): the reliability test and the
scale-out benchmark (issue 19)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from accord.demo.federation import LocalFederation, LocalNode
from accord.node import home

__all__ = ["PAIR", "RECEIVER", "SENDER", "UNLIMITED", "ScaleOut"]
from fault.faultkit import PAIR, RECEIVER, SENDER
from pgkit import PostgresServer

# loopback: every process shares one address, and the limits (ADR 0017) are for abuse; N
# workers hold N x ACCORD_OUTBOX_CONCURRENCY connections to the receiver
UNLIMITED = (
    "rate_per_address = 100000\nburst_per_address = 1000000\n"
    "rate_per_peer = 100000\nburst_per_peer = 1000000\n"
    "max_connections_per_address = 4096\n"
)
STARTUP = 60.0


@dataclass
class ScaleOut:
    federation: LocalFederation
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path, server: PostgresServer, settings_toml: str) -> ScaleOut:
        """The sender's database on ``server``, the receiver's in its folder (SQLite)."""
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                home,
                "new_database",
                lambda folder: server.new_database() if folder.name == SENDER else None,
            )
            federation = LocalFederation.create(
                root,
                list(PAIR),
                {"pair": (SENDER, RECEIVER)},
                settings_toml=settings_toml + UNLIMITED,
            )
        return cls(federation)

    @property
    def sender(self) -> LocalNode:
        return self.federation.nodes[SENDER]

    @property
    def receiver(self) -> LocalNode:
        return self.federation.nodes[RECEIVER]

    def start_workers(self, count: int) -> None:
        started = [self._spawn(len(self.workers) + n) for n in range(count)]
        for process, log in started:
            _wait_running(process, log)
            self.workers.append(process)

    def _spawn(self, number: int) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.sender.home / f"worker-{number}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "accord", "worker", "--dir", str(self.sender.home)],
                env={**self.sender.env, "PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return process, log

    def kill_worker(self, number: int) -> int:
        """SIGKILL: the worker gets no chance to finish a delivery or release a claim."""
        process = self.workers[number]
        process.send_signal(signal.SIGKILL)
        return process.wait()

    def stop(self) -> None:
        self.stop_workers()
        for node in self.federation.nodes.values():
            node.kill()

    def stop_workers(self) -> None:
        """SIGTERM: each worker finishes its deliveries in flight and exits."""
        for process in self.workers:
            if process.poll() is None:
                process.terminate()
        for process in self.workers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.workers.clear()


def _wait_running(process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"a worker exited at start:\n{log.read_text(errors='replace')}")
        if b"running" in log.read_bytes():
            return
        time.sleep(0.05)
    raise AssertionError(f"a worker did not start within {STARTUP} s; see {log}")
