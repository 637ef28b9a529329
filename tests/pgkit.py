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
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url

from accord.config import SETTINGS_FILE, load_settings
from accord.db.engine import connect_engine
from accord.db.migrate import upgrade
from accord.node.home import DATABASE_FILE

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
        # FILE_COPY: copies the files instead of writing them to the WAL (half the time here)
        self.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
        return self.url(name)

    def _run(self, *argv: str) -> None:
        command = [str(self._bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.root)


# Reading a node's database directly, on either backend (the contract suite) -----------------

READ_TIMEOUT = 30.0
Snapshot = dict[str, list[tuple[Any, ...]]]

# A node's database: its SQLite file, or its PostgreSQL URL (the contract suite, ADR 0021)
Database = Path | str


def database_of(home: Path) -> Database:
    url = load_settings(home=home).database_url
    return home / DATABASE_FILE if url is None else url.get_secret_value()


def execute(database: Database, sqlite_sql: str, postgresql_sql: str) -> None:
    """A hand edit (attack fixtures), written in each database's own SQL."""
    if isinstance(database, str):
        with psycopg.connect(database, autocommit=True) as connection:
            connection.execute(postgresql_sql.encode())
        return
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(sqlite_sql)


def copy_node(home: Path, to: Path) -> Path:
    """A copy of a node folder that no process has open, with a copy of its PostgreSQL
    database if it has one (CREATE DATABASE ... TEMPLATE)."""
    copied = Path(shutil.copytree(home, to))
    database = database_of(copied)
    if isinstance(database, str):
        source = make_url(database)
        clone = source.set(database=f"{source.database}_copy_{secrets.token_hex(4)}")
        admin = source.set(database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                f"CREATE DATABASE {clone.database} TEMPLATE {source.database}".encode()
            )
        settings = copied / SETTINGS_FILE
        clone_url = clone.render_as_string(hide_password=False)
        settings.write_text(settings.read_text().replace(database, clone_url))
    return copied


class PgRow(tuple[Any, ...]):
    """A PostgreSQL row read like a ``sqlite3.Row``: by position or by column name."""

    names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        return super().__getitem__(self.names.index(key) if isinstance(key, str) else key)

    def keys(self) -> list[str]:
        return list(self.names)


def _pg_rows(url: str, sql: str, params: Sequence[object]) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(sql.replace("%", "%%").replace("?", "%s").encode(), params)
        names = tuple(column.name for column in cursor.description or ())
        rows = []
        for values in cursor.fetchall():
            row = PgRow(values)
            row.names = names
            rows.append(row)
        return rows


def snapshot(database: Database) -> Snapshot:
    """Every row of every table, read through a read-only connection."""
    if isinstance(database, str):
        listed = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        tables = sorted(row[0] for row in _pg_rows(database, listed, ()))
        return {
            table: [tuple(r) for r in _pg_rows(database, f'SELECT * FROM "{table}" ORDER BY 1', ())]  # noqa: S608 - names come from the catalogue
            for table in tables
        }
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=READ_TIMEOUT)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            table: connection.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()  # noqa: S608 - names come from sqlite_master
            for table in tables
        }
    finally:
        connection.close()


def query(database: Database, sql: str, *params: object) -> list[Any]:
    """Rows of one read-only query, as mappings (``?`` placeholders on either database)."""
    if isinstance(database, str):
        return _pg_rows(database, sql, params)
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=READ_TIMEOUT)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()
