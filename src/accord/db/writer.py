"""The single writer (style.md §4, after Datasette): one thread owns the write connection and
commits queued jobs in groups, each job inside its own SAVEPOINT.

Grouping makes one fsync serve many jobs (group commit), which is what lets a node take
hundreds of durable messages a second. A job that raises is rolled back alone; the others in
its group still commit. Callers learn the outcome only after COMMIT returned, so nothing is
acknowledged before it is on disk.

On PostgreSQL each process of a node has its own writer and the same grouping (ADR 0021).
Writers of other processes can then hold locks a job waits for; when PostgreSQL picks a job
as a deadlock victim, its whole group is rolled back and run again.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from accord.db.engine import write_cache
from accord.errors import StorageError

T = TypeVar("T")
Job = tuple[Callable[[Connection], Any], "Future[Any]"]
Result = tuple["Future[Any]", Any, BaseException | None]
MAX_GROUP = 256
CHECKPOINT_SECONDS = 1.0
# SQLSTATEs after which the same job may succeed when run again: deadlock_detected,
# serialization_failure, lock_not_available (PostgreSQL Appendix A)
TRANSIENT = frozenset({"40P01", "40001", "55P03"})
ATTEMPTS = 5
log = structlog.get_logger("accord.db")
_STOP = object()


class Writer:
    """Serialises all writes of one process through one connection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.Queue[Job | object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="accord-db-writer", daemon=True)
        self._thread.start()
        self._stopping = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_wal, name="accord-db-checkpoint", daemon=True
        )
        if engine.dialect.name == "sqlite":  # PostgreSQL checkpoints on its own
            self._checkpointer.start()

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((job, future))
        return future

    def run(self, job: Callable[[Connection], T]) -> T:
        """Run ``job`` in a write transaction and wait for its commit."""
        return self.submit(job).result()

    async def write(self, job: Callable[[Connection], T]) -> T:
        return await asyncio.wrap_future(self.submit(job))

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()
        self._stopping.set()
        if self._checkpointer.is_alive():
            self._checkpointer.join()

    def _checkpoint_wal(self) -> None:
        """Copy the WAL into the database file off the commit path. Writer connections do not
        checkpoint on commit (``wal_autocheckpoint=0``, see ``accord.db.engine``), so no commit
        waits for that fsync; a PASSIVE checkpoint never blocks readers or the writer."""
        while not self._stopping.wait(CHECKPOINT_SECONDS):
            try:
                connection = self._engine.raw_connection()  # no BEGIN: not a write transaction
                try:
                    connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    connection.close()
            except Exception as exc:  # noqa: BLE001 - retried next round; commits are unaffected
                log.warning("WAL checkpoint failed", error=str(exc))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in group
            self._commit([job for job in group if job is not _STOP])  # type: ignore[misc]
            if stop:
                return

    def _commit(self, group: list[Job]) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                results = self._transaction(group, retry=attempt < ATTEMPTS)
            except _Transient:
                write_cache(self._engine).clear()  # the whole group was rolled back
                time.sleep(0.01 * attempt)
                continue
            except SQLAlchemyError as exc:
                write_cache(self._engine).clear()
                error = StorageError(
                    f"the database refused a commit: {exc.__class__.__name__}",
                    advice="Check the database (disk space and permissions of the node folder, "
                    "or the PostgreSQL server of ACCORD_DATABASE_URL); nothing was saved.",
                )
                for _job, future in group:
                    future.set_exception(error)
                return
            for future, value, failure in results:
                if failure is None:
                    future.set_result(value)
                else:
                    future.set_exception(failure)
            return

    def _transaction(self, group: list[Job], *, retry: bool) -> list[Result]:
        with self._engine.connect() as connection, connection.begin():
            return [_run_in_savepoint(connection, job, future, retry) for job, future in group]


class _Transient(Exception):
    """A job lost a deadlock or serialization conflict to another process's writer: the
    locks its group's earlier jobs hold may be what the other waits for, so the whole group
    is rolled back and run again."""


def _run_in_savepoint(
    connection: Connection, job: Callable[[Connection], Any], future: Future[Any], retry: bool
) -> Result:
    savepoint = connection.begin_nested()
    try:
        value = job(connection)
    except Exception as exc:
        savepoint.rollback()
        write_cache(connection.engine).clear()  # it may hold what was rolled back
        if retry and _transient(exc):
            raise _Transient from exc
        return future, None, exc
    savepoint.commit()
    return future, value, None


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in TRANSIENT
