"""Installing and loading the directory on a node (I/O around the pure checks)."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import Connection, select

from accord.audit.log import record
from accord.audit.models import Action, Event
from accord.boundedjson import parse_json
from accord.db.schema import directories, stewards
from accord.errors import DirectoryError, DirectoryExpired
from accord.identity.directory import Directory, read_document, verify_directory
from accord.identity.models import StewardSet
from accord.node.home import Node

RECHECK_SECONDS = 1.0


class DirectoryStore:
    """The node's installed directory, verified on install and again on every load.

    ``current`` looks at the database at most once a second, so a directory installed by
    another process (the CLI) is in force within a second without a query per message."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._lock = threading.Lock()
        self._cached: Directory | None = None
        self._checked_at = float("-inf")

    def install(self, signed: bytes, *, pinned: StewardSet | None, now: datetime) -> Directory:
        """Verify ``signed`` against the trusted stewards and the installed version, then store
        it. The first install needs ``pinned``: the steward keys obtained out of band."""

        def job(connection: Connection) -> Directory:
            trusted = _trusted_stewards(connection) or pinned
            if trusted is None:
                raise DirectoryError(
                    "this node trusts no stewards yet",
                    advice="Pass --stewards FILE with the steward keys and threshold you obtained "
                    "from the federation out of band (first install only).",
                )
            installed = self._load(connection)
            directory = verify_directory(signed, trusted=trusted, installed=installed, now=now)
            if installed is not None and installed.version == directory.version:
                return installed
            connection.execute(
                directories.insert().values(
                    version=directory.version,
                    federation=directory.document.federation,
                    signed=signed,
                    sha256=directory.sha256,
                    installed_at=now.timestamp(),
                )
            )
            _pin(connection, directory.document.stewards, now)
            document = directory.document
            event = Event(
                self._node.id,
                Action.DIRECTORY_INSTALLED,
                f"directory/{document.federation}/v{directory.version}",
                directory.sha256,
                (),
            )
            record(connection, [event], now)
            return directory

        directory = self._node.writer.run(job)
        with self._lock:
            self._cached, self._checked_at = directory, time.monotonic()
        return directory

    def current(self, now: datetime) -> Directory | None:
        """The installed directory, re-verified against the pinned stewards when it changes
        (which catches a hand-edited database). Raises DirectoryExpired once it has expired:
        a node does not keep trusting keys the stewards stopped vouching for."""
        with self._lock:
            directory = self._cached
            fresh = time.monotonic() - self._checked_at < RECHECK_SECONDS
        if directory is None or not fresh:
            directory = self._reload(directory)
        if directory is not None and now >= directory.document.expires_at:
            raise DirectoryExpired(
                f"the installed directory version {directory.version} expired at "
                f"{directory.document.expires_at.isoformat()}",
                advice="Install a current directory from the federation stewards.",
            )
        return directory

    def _reload(self, cached: Directory | None) -> Directory | None:
        with self._node.read_engine.connect() as connection:
            row = connection.execute(
                select(directories.c.version, directories.c.sha256)
                .order_by(directories.c.version.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            unchanged = cached is not None and (cached.version, cached.sha256) == tuple(row)
            directory = cached if unchanged else self._load(connection)
        with self._lock:
            self._cached, self._checked_at = directory, time.monotonic()
        return directory

    def _load(self, connection: Connection) -> Directory | None:
        """The newest stored directory, its signatures checked (expiry is checked by callers)."""
        row = connection.execute(
            select(directories.c.signed).order_by(directories.c.version.desc()).limit(1)
        ).first()
        if row is None:
            return None
        trusted = _trusted_stewards(connection)
        if trusted is None:
            raise DirectoryError("a directory is installed but no steward set is pinned")
        issued_at = read_document(row.signed).issued_at
        return verify_directory(row.signed, trusted=trusted, installed=None, now=issued_at)


def _trusted_stewards(connection: Connection) -> StewardSet | None:
    row = connection.execute(
        select(stewards.c.steward_set).order_by(stewards.c.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return StewardSet.model_validate_json(row.steward_set)


def _pin(connection: Connection, steward_set: StewardSet, now: datetime) -> None:
    if _trusted_stewards(connection) == steward_set:
        return
    connection.execute(
        stewards.insert().values(
            steward_set=steward_set.model_dump_json(), pinned_at=now.timestamp()
        )
    )


def load_steward_set(data: bytes) -> StewardSet:
    try:
        return StewardSet.model_validate(parse_json(data, what="steward file"))
    except (ValueError, ValidationError) as exc:
        raise DirectoryError(
            f"steward file is invalid: {exc}",
            advice='It must be JSON: {"keys": [public JWKs with kid], "threshold": N}.',
        ) from exc
