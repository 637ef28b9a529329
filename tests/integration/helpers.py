"""What the integration tests share: database snapshots, bounded waits, node start-up and a
runner for the `accord` command."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import make_url

from accord.config import SETTINGS_FILE, load_settings
from accord.demo.federation import LocalNode, NodeSpec
from accord.identity.models import Role
from accord.node.home import DATABASE_FILE

DEADLINE = 30.0  # generous: a loaded 2-core machine runs several suites at once
ERROR_KEYS = {"code", "message", "advice", "errors"}
FIELD_ERROR_KEYS = {"field", "rule", "message", "article"}

VN = NodeSpec("vn-mps-247", "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en"))
RU = NodeSpec("ru-gp-ca", "Russian Federation CA", "RU", (Role.CENTRAL_AUTHORITY,), ("ru", "en"))
ZA = NodeSpec("za-doj-ca", "South Africa CA", "ZA", (Role.CENTRAL_AUTHORITY,), ("en",))

Snapshot = dict[str, list[tuple[Any, ...]]]
T = TypeVar("T")


# A node's database: its SQLite file, or its PostgreSQL URL (the contract suite, ADR 0021)
Database = Path | str


def db_path(node: LocalNode) -> Database:
    return database_of(node.home)


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
        cursor = connection.execute(sql.replace("?", "%s").encode(), params)
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
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=DEADLINE)
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
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=DEADLINE)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


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
