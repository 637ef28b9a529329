"""A real PostgreSQL server for the tests: ``initdb`` in a temporary folder, ``pg_ctl start``
on a loopback port, stopped at the end. Debian's server binaries are used
(``/usr/lib/postgresql/N/bin``; ``.ci/run`` installs them when missing).

PostgreSQL refuses to run as root, so when the tests run as root the server runs as
``nobody`` (``runuser``) in a folder made for it outside the tests' own 0700 temporary tree.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from accord.db.engine import connect_engine
from accord.db.migrate import upgrade

SERVER_USER = "nobody"  # who runs the server when the tests run as root
ROLE = "accord"
TEMPLATE = "accord_template"


def server_binaries() -> Path | None:
    """The newest installed server's bin folder, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts)
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PostgresServer:
    """One throw-away cluster. ``durable=False`` turns fsync off (the contract suite: a test
    server that never outlives a crash of the machine); the reliability tests keep it on."""

    durable: bool = False
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="accord-pg-")))
    port: int = field(default_factory=_free_port)
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        binaries = server_binaries()
        if binaries is None:
            pytest.fail("PostgreSQL is not installed: run `apt-get install -y postgresql`")
        self._bin = binaries
        self.root.chmod(0o755)
        self.data.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.data, SERVER_USER)
        self._run("initdb", "-D", str(self.data), "-U", ROLE, "--auth=trust", "--no-locale",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        self.resume()
        return self

    def resume(self) -> None:
        """``pg_ctl start``, waiting until it accepts connections."""
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.data}",
            "-c max_connections=400",
            "-c shared_buffers=32MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"),
                  "-o", " ".join(options), "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop the server (``immediate``: no shutdown checkpoint, crash recovery at start)
        and start it again on the same port."""
        self.stop("immediate")
        self.resume()

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(sql.encode())

    def migrated_template(self) -> None:
        """A database holding the newest schema that each node's database is copied from
        (CREATE DATABASE ... TEMPLATE copies files: faster than migrating every node)."""
        self.execute(f"CREATE DATABASE {TEMPLATE}")
        engine = connect_engine(self.url(TEMPLATE), writer=True)
        try:
            upgrade(engine)
        finally:
            engine.dispose()

    def new_database(self, template: str = TEMPLATE) -> str:
        name = f"node_{os.getpid()}_{next(self._names)}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        return self.url(name)

    def _run(self, *argv: str) -> None:
        command = [str(self._bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.root)
