"""Database engines. SQLite (the embedded default) with the discipline of style.md §4: WAL,
``synchronous=FULL`` (a commit is on disk before we answer), ``BEGIN IMMEDIATE`` for writes,
separate connections for reads. PostgreSQL (psycopg 3) for a node run by several processes,
which serialise what must stay in one order with transaction-scoped advisory locks (ADR 0021).
"""

from __future__ import annotations

import hashlib
import sqlite3
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool, QueuePool

from accord.errors import ConfigError

BUSY_TIMEOUT_MS = 30_000
POSTGRES_SCHEMES = ("postgresql", "postgresql+psycopg", "postgres")
_CACHES: weakref.WeakKeyDictionary[Engine, dict[str, Any]] = weakref.WeakKeyDictionary()


def write_cache(engine: Engine) -> dict[str, Any]:
    """What the writer of ``engine`` may remember between transactions (derived from
    committed rows, checked against them before use). The writer empties it whenever a job
    rolls back, so it never holds what was not committed. On PostgreSQL other processes write
    too: a cache that cannot be checked against the rows is used only when
    :func:`sole_writer` says so."""
    return _CACHES.setdefault(engine, {})


def sole_writer(engine: Engine) -> bool:
    """Whether this process's writer is the database's only one (SQLite: the node folder is
    opened by one writer at a time, ``BEGIN IMMEDIATE``)."""
    return engine.dialect.name == "sqlite"


def serialise(connection: Connection, name: str) -> None:
    """Hold the lock ``name`` until the transaction ends, so writers in other processes that
    take it run one after another. SQLite writers are serialised already (``BEGIN
    IMMEDIATE``); PostgreSQL takes a transaction-scoped advisory lock."""
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(
            hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
        )
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def connect_engine(url: str, *, writer: bool) -> Engine:
    """An engine on a ``postgresql://`` URL or a ``sqlite:///PATH`` one."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            "ACCORD_DATABASE_URL is not a database URL",
            advice="Write it as postgresql://USER@HOST:PORT/DATABASE (password in ~/.pgpass).",
        ) from exc
    if parsed.drivername == "sqlite":
        return sqlite_engine(Path(parsed.database or ""), writer=writer)
    if parsed.drivername not in POSTGRES_SCHEMES:
        raise ConfigError(
            f"ACCORD_DATABASE_URL names the unsupported database {parsed.drivername!r}",
            advice="Use postgresql://USER@HOST:PORT/DATABASE, or leave it unset for SQLite.",
        )
    return postgres_engine(url, writer=writer)


def postgres_engine(url: str, *, writer: bool) -> Engine:
    """An engine on PostgreSQL through psycopg 3, READ COMMITTED. Connections are checked
    before use, so a restarted server costs the next job a reconnect, not the process."""
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    return create_engine(
        parsed,
        poolclass=QueuePool,
        pool_size=2 if writer else 4,
        max_overflow=2 if writer else 8,
        pool_pre_ping=True,
        pool_recycle=3600,
        connect_args={"connect_timeout": 10, "application_name": "accord"},
    )


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
