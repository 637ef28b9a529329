"""The node's audit log in its database: append inside the caller's transaction, publish
signed checkpoints, build proofs, and recompute everything from the stored records.

Appending happens in the same writer job as the action it records (``record``), so an action
and its record commit or roll back together. On PostgreSQL, where several processes append,
each append and each checkpoint first takes the log's advisory lock (held to the end of the
transaction), so the log keeps one total order (ADR 0021). Leaf ``n`` also writes the hashes
of the complete subtrees it closes (``audit_nodes``), so a proof at any size reads O(log n) rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from accord.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    root_of,
)
from accord.audit.models import (
    RECORD_VERSION,
    ConsistencyProof,
    Entry,
    Event,
    InclusionProof,
    Published,
)
from accord.audit.note import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint
from accord.boundedjson import parse_object
from accord.db.engine import serialise, write_cache
from accord.db.schema import audit_checkpoints, audit_nodes, audit_records
from accord.errors import AuditError, JsonInvalid, LogCorrupted, NotFoundError

_FRONTIER = "accord.audit.frontier"
LOCK = "accord.audit.log"
# Subtrees of 16 leaves and more are stored; smaller ones are recomputed from at most 8 leaf
# hashes when a proof needs them. One stored row per 16 appends instead of one per append.
STORED_LEVEL = 4
_SIZE = select(func.coalesce(func.max(audit_records.c.idx) + 1, 0))


def log_origin(participant_id: str) -> str:
    """The checkpoint origin and note key name of a node's log (C2SP tlog-checkpoint)."""
    return f"accord-audit/{participant_id}"


def canonical_record(index: int, event: Event, at: datetime) -> bytes:
    """The leaf input: RFC 8785 canonical JSON, never the content itself, only its digest.

    For these values (ASCII keys, strings, small integers, null, a list of strings) RFC 8785
    is exactly ``json.dumps`` with sorted keys, no spaces and UTF-8 output; the standard
    library is four times faster than a general RFC 8785 encoder, and a hypothesis test checks
    every shape of record against the independent ``rfc8785`` package.
    """
    value = {
        "v": RECORD_VERSION,
        "index": index,
        "at": at.astimezone(UTC).isoformat(timespec="milliseconds"),
        "actor": event.actor,
        "action": event.action.value,
        "object": event.object_id,
        "digest": event.digest,
        "parties": sorted(set(event.parties)),
    }
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record(connection: Connection, events: Iterable[Event], at: datetime) -> list[int]:
    """Append ``events`` in the caller's transaction; returns their indexes."""
    serialise(connection, LOCK)  # the size read below stays the size until we commit
    size, frontier = _right_edge(connection)
    records, nodes = [], []
    for index, event in enumerate(events, start=size):
        data = canonical_record(index, event, at)
        leaf = leaf_hash(data)
        records.append(
            {
                "idx": index,
                "at": at.timestamp(),
                "actor": event.actor,
                "action": event.action.value,
                "object_id": event.object_id,
                "parties": json.dumps(sorted(set(event.parties))),
                "record": data,
                "leaf": leaf,
            }
        )
        nodes += _close_subtrees(frontier, index, leaf)
    if not records:
        return []
    connection.execute(audit_records.insert(), records)
    if nodes:
        connection.execute(audit_nodes.insert(), nodes)
    end = size + len(records)
    write_cache(connection.engine)[_FRONTIER] = (end, frontier)
    return list(range(size, end))


def _close_subtrees(frontier: dict[int, bytes], index: int, leaf: bytes) -> list[dict[str, Any]]:
    """Leaf ``index`` completes one subtree per trailing 1 bit of ``index``; ``frontier``
    (level -> hash of the complete subtree on the right edge) is updated in place. Only
    subtrees of ``STORED_LEVEL`` and above are returned for storing."""
    level, position, digest, closed = 0, index, leaf, []
    while position & 1:
        digest = node_hash(frontier.pop(level), digest)
        level, position = level + 1, position >> 1
        if level >= STORED_LEVEL:
            closed.append({"level": level, "idx": position, "hash": digest})
    frontier[level] = digest
    return closed


def _right_edge(connection: Connection) -> tuple[int, dict[int, bytes]]:
    """The tree size and the complete subtrees along the right edge (one per set bit of the
    size). The writer remembers them between transactions (``write_cache``): the log only
    grows, another process that appended changes the size (read under the log's lock), and a
    rolled-back job empties the cache, so a cached edge of the current size is the edge of the
    committed tree."""
    size = tree_size(connection)
    cached = write_cache(connection.engine).get(_FRONTIER)
    if cached is not None and cached[0] == size:
        return size, dict(cached[1])
    frontier, start = {}, 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            frontier[level] = _perfect(connection, level, start >> level)
            start += 1 << level
    return size, frontier


def _perfect(connection: Connection, level: int, index: int) -> bytes:
    """The hash of the complete subtree of 2**level leaves starting at leaf index*2**level:
    stored from ``STORED_LEVEL`` up, recomputed from its (at most 2**(STORED_LEVEL-1)) leaf
    hashes below."""
    if level >= STORED_LEVEL:
        value = connection.execute(
            select(audit_nodes.c.hash).where(
                audit_nodes.c.level == level, audit_nodes.c.idx == index
            )
        ).scalar()
        leaves = [] if value is None else [_as_bytes(value)]
    else:
        first = index << level
        rows = connection.execute(
            select(audit_records.c.leaf)
            .where(audit_records.c.idx >= first, audit_records.c.idx < first + (1 << level))
            .order_by(audit_records.c.idx)
        ).scalars()
        leaves = [_as_bytes(leaf) for leaf in rows]
    expected = 1 if level >= STORED_LEVEL else 1 << level
    if len(leaves) != expected:
        raise LogCorrupted(
            f"subtree hash at level {level}, index {index} is missing",
            advice="Run `accord audit verify-local` to find the damaged records.",
        )
    return leaves[0] if expected == 1 else root_of(leaves)


def tree_size(connection: Connection) -> int:
    return int(connection.execute(_SIZE).scalar_one())


class PerfectReader:
    """``perfect(level, index)`` over the stored tree, for the proof algorithms."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def __call__(self, level: int, index: int) -> bytes:
        return _perfect(self._connection, level, index)


# Checkpoints ---------------------------------------------------------------------------------


def publish(
    connection: Connection, signer: NoteSigner, now: datetime, verifier: Verifier | None = None
) -> Published:
    """Sign a checkpoint of the tree as it is (C2SP tlog-checkpoint); when nothing was added
    since the latest one, that one is returned."""
    serialise(connection, LOCK)  # one process at a time signs, and never a size twice
    size = tree_size(connection)
    latest = latest_checkpoint(connection, verifier or signer.verifier())
    if latest is not None and latest.checkpoint.size == size:
        return latest
    root = root_hash(size, PerfectReader(connection)) if size else EMPTY_ROOT
    checkpoint = Checkpoint(signer.name, size, root)
    note = sign_checkpoint(checkpoint, signer)
    connection.execute(
        audit_checkpoints.insert().values(size=size, root=root, note=note, at=now.timestamp())
    )
    return Published(checkpoint, note, now)


def latest_checkpoint(connection: Connection, verifier: Verifier) -> Published | None:
    row = connection.execute(
        select(audit_checkpoints).order_by(audit_checkpoints.c.size.desc()).limit(1)
    ).first()
    return None if row is None else _published(row.note, row.at, verifier)


def checkpoint_at(connection: Connection, size: int, verifier: Verifier) -> Published:
    row = connection.execute(
        select(audit_checkpoints).where(audit_checkpoints.c.size == size)
    ).first()
    if row is None:
        sizes = connection.execute(
            select(audit_checkpoints.c.size).order_by(audit_checkpoints.c.size.desc()).limit(5)
        ).scalars()
        raise NotFoundError(
            f"no checkpoint of size {size}; the latest are {', '.join(map(str, sizes)) or 'none'}",
            advice="Proofs are between published checkpoints; `accord audit checkpoint` signs one.",
        )
    return _published(row.note, row.at, verifier)


def _published(note: bytes, at: float, verifier: Verifier) -> Published:
    moment = datetime.fromtimestamp(at, UTC)
    key = verifier.at(moment) if isinstance(verifier, LogKeys) else verifier
    return Published(open_checkpoint(note, key), note, moment)


@dataclass(frozen=True)
class LogKeys:
    """The keys a log signed its checkpoints with over time (ADR 0018): each checkpoint is
    checked with the key in force when it was signed, ``(from, verifier)`` oldest first."""

    history: tuple[tuple[datetime | None, NoteVerifier], ...]

    def at(self, moment: datetime) -> NoteVerifier:
        found = self.history[0][1]
        for since, verifier in self.history[1:]:
            if since is not None and since <= moment:
                found = verifier
        return found


Verifier = NoteVerifier | LogKeys


# Proofs --------------------------------------------------------------------------------------


def entry(connection: Connection, index: int) -> Entry:
    row = connection.execute(select(audit_records).where(audit_records.c.idx == index)).first()
    if row is None:
        raise NotFoundError(
            f"no audit entry {index}; the log has {tree_size(connection)} entries",
            advice="Entry indexes start at 0.",
        )
    return Entry(index, _as_bytes(row.record), tuple(json.loads(row.parties)))


def prove_inclusion(connection: Connection, index: int, verifier: Verifier) -> InclusionProof:
    """RFC 9162 §2.1.3.1: entry ``index`` against the latest checkpoint."""
    found = entry(connection, index)
    latest = latest_checkpoint(connection, verifier)
    if latest is None or latest.checkpoint.size <= index:
        raise AuditError(
            f"entry {index} is not covered by a checkpoint yet",
            advice="Publish one with `accord audit checkpoint` (a running node does so "
            "every ACCORD_CHECKPOINT_INTERVAL seconds).",
        )
    size = latest.checkpoint.size
    hashes = inclusion_proof(index, size, PerfectReader(connection))
    return InclusionProof(index, size, found.record, tuple(hashes), latest.note)


def prove_consistency(
    connection: Connection, old: int, new: int, verifier: Verifier
) -> ConsistencyProof:
    """RFC 9162 §2.1.4.1: the checkpoint of size ``new`` extends that of size ``old``."""
    if old > new:
        raise AuditError(
            f"--from {old} is larger than --to {new}",
            advice="A consistency proof goes from an older (smaller) tree to a newer one.",
        )
    older, newer = (
        checkpoint_at(connection, old, verifier),
        checkpoint_at(connection, new, verifier),
    )
    hashes = consistency_proof(old, new, PerfectReader(connection)) if old else []
    return ConsistencyProof(older.note, newer.note, tuple(hashes))


# Local integrity -----------------------------------------------------------------------------


class _Frontier:
    """The complete subtrees of the leaves seen so far, largest first: enough to compute the
    root of every prefix while streaming the log once, in O(log n) memory."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []

    def push(self, leaf: bytes) -> None:
        level, digest = 0, leaf
        while self._stack and self._stack[-1][0] == level:
            digest = node_hash(self._stack.pop()[1], digest)
            level += 1
        self._stack.append((level, digest))

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1][1]
        for _level, left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def verify_local(connection: Connection, verifier: Verifier) -> tuple[int, int, int]:
    """Recompute the tree from the stored records and check it against every signed
    checkpoint. Raises LogCorrupted naming the first record that does not match; returns
    (records, checkpoints checked, records not yet covered by a checkpoint)."""
    checkpoints = [
        _published(row.note, row.at, verifier).checkpoint
        for row in connection.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.size))
    ]
    pending = list(checkpoints)
    frontier, size, first_bad = _Frontier(), 0, None
    covered_from = 0
    for checkpoint in _at_size(pending, 0):
        _check_root(checkpoint, EMPTY_ROOT, covered_from, first_bad)
    # streamed (a server-side cursor on PostgreSQL), closed when a mismatch raises
    with connection.execution_options(yield_per=4096).execute(
        select(audit_records.c.idx, audit_records.c.record, audit_records.c.leaf).order_by(
            audit_records.c.idx
        )
    ) as rows:
        for row in rows:
            if row.idx != size:
                raise LogCorrupted(
                    f"audit entry {size} is missing (the next stored entry is {row.idx})",
                    advice="Restore the database from a backup; report the incident.",
                )
            data = _as_bytes(row.record)
            leaf = leaf_hash(data)
            if first_bad is None and (_as_bytes(row.leaf) != leaf or not _names_index(data, size)):
                first_bad = size
            frontier.push(leaf)
            size += 1
            for checkpoint in _at_size(pending, size):
                _check_root(checkpoint, frontier.root(), covered_from, first_bad)
                covered_from = size
    if pending:
        raise LogCorrupted(
            f"checkpoint of size {pending[0].size} signs entries beyond the {size} stored",
            advice="Entries were deleted: restore the database from a backup.",
        )
    if first_bad is not None:
        raise LogCorrupted(
            f"audit entry {first_bad} does not match its leaf hash (not yet covered by a "
            "checkpoint)",
            advice="Restore the database from a backup; report the incident.",
        )
    return size, len(checkpoints), size - covered_from


def _at_size(pending: list[Checkpoint], size: int) -> list[Checkpoint]:
    due = [c for c in pending if c.size == size]
    del pending[: len(due)]
    return due


def _check_root(checkpoint: Checkpoint, root: bytes, start: int, first_bad: int | None) -> None:
    if root == checkpoint.root:
        return
    where = (
        f"audit entry {first_bad} no longer matches"
        if first_bad is not None
        else f"an entry in [{start}, {checkpoint.size}) no longer matches"
    )
    raise LogCorrupted(
        f"{where} the checkpoint of size {checkpoint.size} signed by this node",
        advice="Someone changed the stored log: restore the database from a backup and report "
        "the incident; the signed checkpoints and witnesses' copies are the evidence.",
    )


def _as_bytes(value: object) -> bytes:
    """A stored value as bytes, whatever a hand edit turned it into (SQLite keeps the type
    of what was written: ``replace()`` on a BLOB stores TEXT)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def _names_index(data: bytes, index: int) -> bool:
    try:
        return parse_object(data, what="record").get("index") == index
    except JsonInvalid:
        return False
