"""The writer checkpoints the WAL in its own thread: commits never do (wal_autocheckpoint=0),
yet committed pages reach the database file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from accord.db import writer as writer_module
from accord.db.engine import sqlite_engine
from accord.db.writer import Writer

ROWS, ROW_BYTES = 384, 16 * 1024  # 6 MiB: over the default autocheckpoint (1000 pages)


def _create(connection: Connection) -> None:
    connection.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)"))


def _fill(connection: Connection) -> None:
    for n in range(ROWS):
        connection.execute(
            text("INSERT INTO blobs VALUES (:n, randomblob(:size))"), {"n": n, "size": ROW_BYTES}
        )


def test_commits_do_not_checkpoint_but_the_writer_thread_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "CHECKPOINT_SECONDS", 3600.0)
    database = tmp_path / "node.db"
    engine = sqlite_engine(database, writer=True)
    idle = Writer(engine)
    idle.run(_create)
    reader = sqlite3.connect(database)  # as a node's readers do: closing the writer's
    reader.execute("SELECT count(*) FROM blobs")  # connection is not the last, which checkpoints
    size = database.stat().st_size
    idle.run(_fill)
    assert database.stat().st_size == size  # all of it still in the WAL: no checkpoint
    idle.close()

    monkeypatch.setattr(writer_module, "CHECKPOINT_SECONDS", 0.05)
    busy = Writer(engine)
    deadline = time.monotonic() + 10
    while database.stat().st_size < ROWS * ROW_BYTES and time.monotonic() < deadline:
        time.sleep(0.05)
    busy.close()
    engine.dispose()
    reader.close()
    assert database.stat().st_size >= ROWS * ROW_BYTES  # the checkpointer copied the WAL
