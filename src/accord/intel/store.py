"""The intel tables: collections, object versions, grants, status resources, tokens. Reads take
a connection; writes are writer jobs (one transaction with their audit records)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, tuple_, update
from sqlalchemy.sql.elements import ColumnElement

from accord.db.engine import serialise, sole_writer, write_cache
from accord.db.schema import intel_collections, intel_grants, intel_objects
from accord.envelope.core import sha256_hex
from accord.errors import FieldError, NotFoundError
from accord.intel.cursor import Position
from accord.intel.markings import Marking
from accord.intel.stix import StixObject

_LAST_ADDED = "accord.intel.date_added"
_FRACTION = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$")


def vkey(version: str) -> str:
    """A version as a fixed-width, sortable timestamp (microseconds, TAXII 2.1 §2.1)."""
    if not version:
        return ""
    match = _FRACTION.match(version)
    if match is None:
        return version
    return f"{match[1]}.{(match[2] or '').ljust(6, '0')[:6]}Z"


def micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def taxii_time(us: int) -> str:
    """TAXII 2.1 §2.1 timestamp: UTC, microseconds, Z."""
    seconds, fraction = divmod(us, 1_000_000)
    from datetime import UTC  # noqa: PLC0415 - local: keeps the module's imports to what it reads

    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:06d}Z"


# Collections -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Collection:
    id: str
    alias: str | None
    title: str
    description: str
    readers: tuple[str, ...]
    writers: tuple[str, ...]


def collections(connection: Connection) -> list[Collection]:
    rows = connection.execute(select(intel_collections).order_by(intel_collections.c.created_at))
    return [_collection(r) for r in rows]


def collection(connection: Connection, name: str) -> Collection:
    """A collection by id or alias; raises NotFoundError."""
    row = connection.execute(
        select(intel_collections).where(
            or_(intel_collections.c.id == name, intel_collections.c.alias == name)
        )
    ).first()
    if row is None:
        raise NotFoundError(
            f"no collection {name!r} on this node",
            advice="List them with `accord intel collections`.",
            errors=[
                FieldError("collection", "unknown", f"no collection {name!r}", "TAXII 2.1 §5.2")
            ],
        )
    return _collection(row)


def _collection(row: Any) -> Collection:
    return Collection(
        row.id,
        row.alias,
        row.title,
        row.description,
        tuple(json.loads(row.readers)),
        tuple(json.loads(row.writers)),
    )


def create_collection_job(item: Collection, at: datetime) -> Callable[[Connection], Collection]:
    def job(connection: Connection) -> Collection:
        connection.execute(
            intel_collections.insert().values(
                id=item.id,
                alias=item.alias,
                title=item.title,
                description=item.description,
                readers=json.dumps(list(item.readers)),
                writers=json.dumps(list(item.writers)),
                created_at=at.timestamp(),
            )
        )
        return item

    return job


# Objects -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """A validated object and what its markings and grant say, ready to store."""

    obj: StixObject
    marking: Marking
    origin: str
    grant_sha256: str | None


@dataclass(frozen=True)
class Outcome:
    stix_id: str
    version: str
    stored: bool  # False: the same version was already here, byte for byte
    date_added: int


@dataclass(frozen=True)
class Row:
    stix_id: str
    vkey: str
    version: str
    date_added: int
    type: str
    raw: bytes
    origin: str
    tlp: int | None
    handling: tuple[str, ...]
    unknown: bool
    labels: tuple[str, ...]
    grant_sha256: str | None

    @property
    def position(self) -> Position:
        return Position(self.date_added, self.stix_id, self.vkey)


class VersionConflict(ValueError):
    """The same id and version arrived with other bytes: a version never changes (§3.6)."""


def store_objects(
    connection: Connection, collection_id: str, items: Sequence[Incoming], now: datetime
) -> list[Outcome]:
    """Insert each new version (raising VersionConflict for a changed one); returns outcomes.
    One query reads what the collection holds of these ids, one statement inserts."""
    o = intel_objects.c
    known: dict[str, dict[str, tuple[str, int]]] = {}  # id -> vkey -> (sha256, date_added)
    ids = sorted({item.obj.id for item in items})
    for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
        rows = connection.execute(
            select(o.stix_id, o.vkey, o.sha256, o.date_added).where(
                o.collection == collection_id, o.stix_id.in_(ids[start : start + 500])
            )
        )
        for found in rows:
            known.setdefault(found.stix_id, {})[found.vkey] = (found.sha256, found.date_added)
    out: list[Outcome] = []
    inserts: list[dict[str, Any]] = []
    relabel: set[str] = set()
    for item in items:
        outcome, row = _version(collection_id, item, known, connection, now)
        out.append(outcome)
        if row is not None:
            inserts.append(row)
            if len(known[item.obj.id]) > 1:
                relabel.add(item.obj.id)
    if inserts and not sole_writer(connection.engine):
        connection.execute(intel_objects.insert(), inserts)  # psycopg's pipelined executemany
    elif inserts:  # the driver's executemany: a thousand rows in a few milliseconds
        columns = list(inserts[0])
        sql = (
            f"INSERT INTO intel_objects ({', '.join(columns)}) "  # noqa: S608 - our own column names
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        connection.exec_driver_sql(sql, [tuple(row[c] for c in columns) for row in inserts])
    for stix_id in relabel:
        _mark_first_and_last(connection, collection_id, stix_id)
    return out


def _version(
    collection_id: str,
    item: Incoming,
    known: dict[str, dict[str, tuple[str, int]]],
    connection: Connection,
    now: datetime,
) -> tuple[Outcome, dict[str, Any] | None]:
    obj, key = item.obj, vkey(item.obj.version)
    sha = sha256_hex(obj.raw)
    versions = known.setdefault(obj.id, {})
    if key in versions:
        if versions[key][0] != sha:
            raise VersionConflict(
                f"{obj.id} version {obj.version or '(none)'} is already stored with other "
                "content; a new version needs a later modified (STIX 2.1 §3.6)"
            )
        return Outcome(obj.id, obj.version, False, versions[key][1]), None
    added = _next_added(connection, now)
    versions[key] = (sha, added)
    labels = obj.value.get("labels") if isinstance(obj.value.get("labels"), list) else []
    marking = item.marking
    row = {
        "collection": collection_id,
        "stix_id": obj.id,
        "vkey": key,
        "version": obj.version,
        "date_added": added,
        "type": obj.type,
        "is_last": 1,
        "is_first": 1,
        "sha256": sha,
        "raw": obj.raw,
        "origin": item.origin,
        "tlp": None if marking.tlp is None else int(marking.tlp),
        "handling": json.dumps(sorted(c.value for c in marking.handling)),
        "unknown": int(bool(marking.unknown)),
        "labels": json.dumps(labels),
        "grant_sha256": item.grant_sha256,
    }
    return Outcome(obj.id, obj.version, True, added), row


def _mark_first_and_last(connection: Connection, collection_id: str, stix_id: str) -> None:
    """Several versions of one object: flag only the earliest and the latest."""
    o = intel_objects.c
    base = and_(o.collection == collection_id, o.stix_id == stix_id)
    keys = connection.execute(select(o.vkey).where(base).order_by(o.vkey)).scalars().all()
    connection.execute(update(intel_objects).where(base).values(is_last=0, is_first=0))
    connection.execute(update(intel_objects).where(base, o.vkey == keys[-1]).values(is_last=1))
    connection.execute(update(intel_objects).where(base, o.vkey == keys[0]).values(is_first=1))


def _next_added(connection: Connection, now: datetime) -> int:
    """A date_added later than every one given on this node (unique: paging by added_after
    with X-TAXII-Date-Added-Last then skips nothing, TAXII 2.1 §3.4)."""
    cache = write_cache(connection.engine) if sole_writer(connection.engine) else _held(connection)
    last = cache.get(_LAST_ADDED)
    if last is None:
        last = connection.execute(select(func.max(intel_objects.c.date_added))).scalar() or 0
    added = max(micros(now), int(last) + 1)
    cache[_LAST_ADDED] = added
    return added


def _held(connection: Connection) -> dict[str, int]:
    """On PostgreSQL other processes add too: the maximum is read under a lock held to the
    end of the transaction, and remembered only within it (rows of a batch are inserted
    together, after every date_added is given)."""
    transaction = connection.get_transaction()
    held = connection.info.get(_LAST_ADDED)
    if held is None or held[0] is not transaction:
        serialise(connection, _LAST_ADDED)
        held = connection.info[_LAST_ADDED] = (transaction, {})
    cache: dict[str, int] = held[1]
    return cache


def store_grant(connection: Connection, origin: str, token: str, now: datetime) -> str:
    digest = sha256_hex(token.encode())
    if (
        connection.execute(
            select(intel_grants.c.sha256).where(intel_grants.c.sha256 == digest)
        ).first()
        is None
    ):
        connection.execute(
            intel_grants.insert().values(
                sha256=digest, origin=origin, token=token, stored_at=now.timestamp()
            )
        )
    return digest


def grant_tokens(connection: Connection, digests: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    rows = connection.execute(
        select(intel_grants.c.sha256, intel_grants.c.token).where(intel_grants.c.sha256.in_(wanted))
    )
    return {r.sha256: r.token for r in rows}


# Queries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """TAXII 2.1 §3.4 filters, and a subscription's provider-side ones (types, markings, labels)."""

    added_after: int | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ("last",)
    spec_versions: tuple[str, ...] = ()
    tlps: tuple[int, ...] = ()  # markings.Tlp values
    labels: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    def canonical(self) -> str:
        """The query a cursor is bound to."""
        return json.dumps(
            [
                self.added_after,
                self.ids,
                self.types,
                self.versions,
                self.spec_versions,
                self.tlps,
                self.labels,
            ],
            separators=(",", ":"),
        )

    @property
    def empty(self) -> bool:
        """A spec_version other than 2.1 matches nothing: only STIX 2.1 is stored."""
        return bool(self.spec_versions) and "2.1" not in self.spec_versions


COLUMNS = (
    intel_objects.c.stix_id,
    intel_objects.c.vkey,
    intel_objects.c.version,
    intel_objects.c.date_added,
    intel_objects.c.type,
    intel_objects.c.raw,
    intel_objects.c.origin,
    intel_objects.c.tlp,
    intel_objects.c.handling,
    intel_objects.c.unknown,
    intel_objects.c.labels,
    intel_objects.c.grant_sha256,
)


def _conditions(collection_id: str, query: Filter) -> list[ColumnElement[bool]]:
    o = intel_objects.c
    where: list[ColumnElement[bool]] = [o.collection == collection_id]
    if query.added_after is not None:
        where.append(o.date_added > query.added_after)
    if query.ids:
        where.append(o.stix_id.in_(query.ids))
    if query.types:
        where.append(o.type.in_(query.types))
    if query.tlps:
        where.append(o.tlp.in_(query.tlps))
    versions = set(query.versions)
    if "all" not in versions:
        chosen: list[ColumnElement[bool]] = []
        if "last" in versions:
            chosen.append(o.is_last == 1)
        if "first" in versions:
            chosen.append(o.is_first == 1)
        stamps = [vkey(v) for v in versions - {"last", "first"}]
        if stamps:
            chosen.append(o.vkey.in_(stamps))
        where.append(or_(*chosen))
    return where


def page(
    connection: Connection, collection_id: str, query: Filter, after: Position | None, limit: int
) -> list[Row]:
    """Up to ``limit`` rows after ``after``, oldest date_added first (TAXII 2.1 §3.3)."""
    if query.empty:
        return []
    o = intel_objects.c
    where = _conditions(collection_id, query)
    if after is not None:
        where.append(
            tuple_(o.date_added, o.stix_id, o.vkey) > (after.date_added, after.stix_id, after.vkey)
        )
    statement = (
        select(*COLUMNS).where(*where).order_by(o.date_added, o.stix_id, o.vkey).limit(limit)
    )
    rows = [_row(r) for r in connection.execute(statement)]
    if query.labels:
        wanted = set(query.labels)
        rows = [r for r in rows if wanted & set(r.labels)] + []
    return rows


def count(connection: Connection, collection_id: str, query: Filter, after: Position | None) -> int:
    if query.empty:
        return 0
    o = intel_objects.c
    where = _conditions(collection_id, query)
    if after is not None:
        where.append(
            tuple_(o.date_added, o.stix_id, o.vkey) > (after.date_added, after.stix_id, after.vkey)
        )
    return int(
        connection.execute(
            select(func.count()).select_from(intel_objects).where(*where)
        ).scalar_one()
    )


def _row(r: Any) -> Row:
    return Row(
        r.stix_id,
        r.vkey,
        r.version,
        r.date_added,
        r.type,
        bytes(r.raw),
        r.origin,
        r.tlp,
        tuple(json.loads(r.handling)),
        bool(r.unknown),
        tuple(json.loads(r.labels)),
        r.grant_sha256,
    )


def _strings(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(json.loads(text))


def delete_versions(connection: Connection, collection_id: str, stix_id: str, query: Filter) -> int:
    """Delete the versions of one object the filter matches, then re-mark first and last."""
    o = intel_objects.c
    where = [*_conditions(collection_id, Filter(versions=query.versions)), o.stix_id == stix_id]
    deleted = connection.execute(intel_objects.delete().where(*where)).rowcount
    remaining = connection.execute(
        select(o.vkey).where(o.collection == collection_id, o.stix_id == stix_id)
    ).first()
    if remaining is not None:
        _mark_first_and_last(connection, collection_id, stix_id)
    return int(deleted)


def marking_definitions(connection: Connection) -> dict[str, dict[str, Any]]:
    """Every marking definition this node holds, in any collection, by id (latest version).
    Looked up through the type index of each collection: a scan of the whole table cost
    seconds per page at a million objects."""
    o = intel_objects.c
    ids = connection.execute(select(intel_collections.c.id)).scalars().all()
    rows = connection.execute(
        select(o.stix_id, o.raw).where(
            o.collection.in_(ids), o.type == "marking-definition", o.is_last == 1
        )
    )
    return {r.stix_id: json.loads(r.raw) for r in rows}
