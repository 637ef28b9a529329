"""The single writer commits queued jobs in one group, each in its own SAVEPOINT: a job that
fails is rolled back alone, the others in its group commit. (The federation's receive and
outbox paths rely on this: one refused envelope never loses its neighbours.)"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from accord.db.engine import sqlite_engine
from accord.db.writer import Writer

WAIT = 30.0


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = sqlite_engine(tmp_path / "writer.db", writer=True)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE item (key TEXT PRIMARY KEY)"))
    try:
        yield engine
    finally:
        engine.dispose()


def stored(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {row[0] for row in db.execute("SELECT key FROM item")}


def test_failing_jobs_roll_back_alone_and_the_group_commits(tmp_path: Path, engine: Engine) -> None:
    writer = Writer(engine)
    seen: list[Connection] = []

    def insert(key: str, error: Exception | None = None) -> Callable[[Connection], str]:
        def job(connection: Connection) -> str:
            seen.append(connection)
            connection.execute(text("INSERT INTO item (key) VALUES (:key)"), {"key": key})
            if error is not None:
                raise error
            return key

        return job

    entered, gate = threading.Event(), threading.Event()

    def blocker(connection: Connection) -> str:
        entered.set()  # the writer thread is busy: the next jobs queue up as one group
        assert gate.wait(WAIT)
        connection.execute(text("INSERT INTO item (key) VALUES ('first')"))
        return "first"

    try:
        first = writer.submit(blocker)
        assert entered.wait(WAIT)
        futures: list[Future[str]] = [
            writer.submit(insert("a")),
            writer.submit(insert("b", ValueError("refused"))),
            writer.submit(insert("a")),  # a constraint violation inside the same group
            writer.submit(insert("d")),
        ]
        gate.set()
        assert first.result(WAIT) == "first"
        assert futures[0].result(WAIT) == "a"
        with pytest.raises(ValueError, match="refused"):
            futures[1].result(WAIT)
        with pytest.raises(IntegrityError):
            futures[2].result(WAIT)
        assert futures[3].result(WAIT) == "d"
        # The result is known only after COMMIT: another connection already sees it.
        assert stored(tmp_path / "writer.db") == {"first", "a", "d"}
        assert len(seen) == 4
        assert all(connection is seen[0] for connection in seen)  # one transaction
    finally:
        gate.set()
        writer.close()


def test_writer_keeps_working_after_a_failed_job(tmp_path: Path, engine: Engine) -> None:
    writer = Writer(engine)

    def boom(_connection: Connection) -> None:
        raise RuntimeError("job bug")

    try:
        with pytest.raises(RuntimeError, match="job bug"):
            writer.run(boom)
        writer.run(lambda c: c.execute(text("INSERT INTO item (key) VALUES ('after')")))
    finally:
        writer.close()
    assert stored(tmp_path / "writer.db") == {"after"}
