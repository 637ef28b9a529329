"""What the integration tests share: database snapshots, bounded waits, node start-up and a
runner for the `accord` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from accord.demo.federation import LocalNode, NodeSpec
from accord.identity.models import Role
from pgkit import Database, Snapshot, copy_node, database_of, execute, query, snapshot

__all__ = ["Database", "Snapshot", "copy_node", "database_of", "execute", "query", "snapshot"]

DEADLINE = 30.0  # generous: a loaded 2-core machine runs several suites at once
ERROR_KEYS = {"code", "message", "advice", "errors"}
FIELD_ERROR_KEYS = {"field", "rule", "message", "article"}

VN = NodeSpec("vn-mps-247", "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en"))
RU = NodeSpec("ru-gp-ca", "Russian Federation CA", "RU", (Role.CENTRAL_AUTHORITY,), ("ru", "en"))
ZA = NodeSpec("za-doj-ca", "South Africa CA", "ZA", (Role.CENTRAL_AUTHORITY,), ("en",))

T = TypeVar("T")


def db_path(node: LocalNode) -> Database:
    return database_of(node.home)


def wait_until(probe: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


def start_all(nodes: Iterable[LocalNode]) -> None:
    """Start node processes side by side (each start mostly waits for imports)."""
    nodes = list(nodes)
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        for future in [pool.submit(node.start) for node in nodes]:
            future.result()


# The accord command ---------------------------------------------------------------------------

PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    code: int
    out: str  # stdout and stderr with whitespace runs collapsed: rich wraps long lines
    stdout: str

    def __str__(self) -> str:
        return f"accord {' '.join(self.argv)} -> {self.code}\n{self.out}"


class Accord:
    """Runs ``python -m accord`` in a folder, with the passphrase in the environment."""

    def __init__(self, cwd: Path, passphrase: str = PASSPHRASE) -> None:
        self.cwd = cwd
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
        self.env |= {"ACCORD_PASSPHRASE": passphrase, "COLUMNS": "200", "NO_COLOR": "1"}

    def popen(self, argv: Sequence[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "accord", *argv],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def many(self, *argvs: Sequence[str]) -> list[Run]:
        """Independent commands side by side (each mostly waits for its imports)."""
        processes = [(tuple(argv), self.popen(argv)) for argv in argvs]
        runs = []
        try:
            for argv, process in processes:
                stdout, stderr = process.communicate(timeout=DEADLINE * 2)
                out = " ".join((stdout + stderr).split())
                runs.append(Run(argv, process.returncode, out, stdout))
        finally:
            for _argv, process in processes:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
        return runs

    def serve(self, home: Path) -> subprocess.Popen[bytes]:
        """``accord serve`` in the background, its output in ``home/serve.log``."""
        with (home / "serve.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "accord", "serve", "--dir", str(home)],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def ok(self, *argv: str) -> Run:
        (run,) = self.many(argv)
        assert run.code == 0, run
        return run


def refused(run: Run, *says: str) -> None:
    """Exit code 2 from an AccordError (not a usage error, not a crash), saying why."""
    assert run.code == 2, run
    assert "error:" in run.out, run
    assert "Usage:" not in run.out, run
    assert "Traceback" not in run.out, run
    for text in says:
        assert text in run.out, run


def request_status(accord: Accord, home: str, request_id: str) -> str | None:
    """The request's status on the node in ``home`` (None while it has not arrived)."""
    rows = json.loads(accord.ok("request", "list", "--json", "--dir", home).stdout)
    return next((r["status"] for r in rows if r["request_id"] == request_id), None)
