"""SQLite engines with the discipline of style.md §4: WAL, ``synchronous=FULL`` (a commit is on
disk before we answer), ``BEGIN IMMEDIATE`` for writes, separate connections for reads."""

from __future__ import annotations

import sqlite3
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool, QueuePool

BUSY_TIMEOUT_MS = 30_000
_CACHES: weakref.WeakKeyDictionary[Engine, dict[str, Any]] = weakref.WeakKeyDictionary()


def write_cache(engine: Engine) -> dict[str, Any]:
    """What the writer of ``engine`` may remember between transactions (derived from
    committed rows, checked against them before use). The writer empties it whenever a job
    rolls back, so it never holds what was not committed."""
    return _CACHES.setdefault(engine, {})


def sqlite_engine(path: Path, *, writer: bool) -> Engine:
    """An engine on the node database; ``writer`` engines open transactions BEGIN IMMEDIATE."""
    engine = create_engine(
        f"sqlite:///{path}",
        poolclass=QueuePool if not writer else NullPool,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )
    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi: sqlite3.Connection, _record: Any) -> None:
        dbapi.isolation_level = None  # we issue BEGIN ourselves, below
        dbapi.execute("PRAGMA journal_mode=WAL")
        dbapi.execute("PRAGMA synchronous=FULL")
        dbapi.execute("PRAGMA foreign_keys=ON")
        dbapi.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if writer:  # the Writer checkpoints the WAL in its own thread, off the commit path
            dbapi.execute("PRAGMA wal_autocheckpoint=0")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine
