"""Backing a node up while it runs, and restoring it (ADR 0019).

A backup is one tar file:

- ``accord.db``: a consistent snapshot taken with SQLite's online backup API while the
  writer keeps committing (WAL readers see one transaction boundary);
- then every other file of the node folder: the encrypted keys exactly as they are on disk
  (``keys/``, with every generation), ``node.toml``, ``settings.toml``, and the evidence
  folders (``evidence/``), copied *after* the snapshot, so every package the database names
  is complete in it (a package is written before the record that names it commits);
- ``BACKUP.json`` last: the node, the time, and the size and SHA-256 of every member.

Left out: the operator token (a bearer secret in clear; a restored node makes a new one),
logs, and SQLite's ``-wal``/``-shm`` files (the snapshot has what they held).

``restore`` checks every member against ``BACKUP.json`` before anything is written, refuses
links, absolute paths and ``..``, writes into a new folder, and opens the node once (the
passphrase must unlock its keys; migrations run; the audit log is verified).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from accord.boundedjson import DEFAULT, parse_object
from accord.clock import to_rfc3339
from accord.errors import NodeError

MANIFEST = "BACKUP.json"
FORMAT = "accord-backup/v1"
DATABASE = "accord.db"
SKIPPED = {"operator-token", "serve.log", "accord.db-wal", "accord.db-shm", DATABASE}
CHUNK = 1 << 20


@dataclass(frozen=True)
class Backed:
    files: int
    bytes: int


def backup(home: Path, out: Path, *, node_id: str, now: datetime) -> Backed:
    """Write a consistent backup of the node folder ``home`` to ``out`` (atomically)."""
    if out.exists():
        raise NodeError(f"{out} exists", advice="Choose a new file; backups are never overwritten.")
    staged = out.with_name(out.name + ".partial")
    members: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        snapshot = Path(scratch) / DATABASE
        _snapshot(home / DATABASE, snapshot)
        with tarfile.open(staged, "w", format=tarfile.PAX_FORMAT) as tar:
            members[DATABASE] = _add(tar, snapshot, DATABASE)
            for path in _files(home):
                name = path.relative_to(home).as_posix()
                members[name] = _add(tar, path, name)
            manifest = {
                "type": FORMAT,
                "node": node_id,
                "created_at": to_rfc3339(now),
                "members": members,
            }
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    with staged.open("rb+") as handle:
        os.fsync(handle.fileno())
    staged.replace(out)
    total = sum(int(str(m["size"])) for m in members.values())
    return Backed(len(members), total)


def _snapshot(database: Path, target: Path) -> None:
    """SQLite's online backup (sqlite3_backup_*): a consistent copy while writers commit."""
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy, pages=4096)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        copy.close()
        source.close()


def _files(home: Path) -> Iterator[Path]:
    for path in sorted(home.rglob("*")):
        if path.is_symlink():
            raise NodeError(f"{path} is a symbolic link", advice="A node folder holds none.")
        if path.is_file() and path.name not in SKIPPED and not path.name.endswith(".new"):
            yield path


def _add(tar: tarfile.TarFile, path: Path, name: str) -> dict[str, object]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
        size = handle.tell()
        handle.seek(0)
        info = tarfile.TarInfo(name)
        info.size, info.mode = size, 0o600
        tar.addfile(info, handle)
    return {"size": size, "sha256": digest.hexdigest()}


# Restore ---------------------------------------------------------------------------------------


def restore(archive: Path, home: Path) -> dict[str, object]:
    """Unpack ``archive`` into the new folder ``home``, every member checked first; returns
    the backup's manifest."""
    if home.exists() and any(home.iterdir()):
        raise NodeError(f"{home} is not empty", advice="Restore into a new, empty folder.")
    try:
        with tarfile.open(archive, "r:") as tar:
            manifest = _manifest(tar)
            members = _checked(tar, manifest)
            staged = Path(tempfile.mkdtemp(prefix=".restore-", dir=home.parent))
            try:
                for member in members:
                    _extract(tar, member, staged, manifest)
                home.mkdir(mode=0o700, exist_ok=True)
                for child in staged.iterdir():
                    child.replace(home / child.name)
            finally:
                shutil.rmtree(staged, ignore_errors=True)
    except (tarfile.TarError, OSError) as exc:
        raise NodeError(
            f"{archive} is not a readable backup: {exc}",
            advice="Pass a file written by `accord backup`.",
        ) from exc
    return manifest


def _manifest(tar: tarfile.TarFile) -> dict[str, object]:
    try:
        member = tar.getmember(MANIFEST)
        handle = tar.extractfile(member)
        data = handle.read(DEFAULT.max_bytes + 1) if handle else b""
        manifest = parse_object(data, what=MANIFEST, limits=DEFAULT.but(max_items=1_000_000))
    except (KeyError, ValueError) as exc:
        raise NodeError(
            f"the backup has no valid {MANIFEST}: {exc}",
            advice="Pass a file written by `accord backup`.",
        ) from exc
    if manifest.get("type") != FORMAT or not isinstance(manifest.get("members"), dict):
        raise NodeError(f"{MANIFEST} is not an {FORMAT} manifest")
    return manifest


def _listed(manifest: dict[str, object]) -> dict[str, dict[str, object]]:
    members = manifest["members"]
    if not isinstance(members, dict) or not all(isinstance(m, dict) for m in members.values()):
        raise NodeError(f"{MANIFEST} lists no members")
    return members


def _checked(tar: tarfile.TarFile, manifest: dict[str, object]) -> list[tarfile.TarInfo]:
    listed = _listed(manifest)
    found = [m for m in tar.getmembers() if m.name != MANIFEST]
    names = [m.name for m in found]
    for member in found:
        path = PurePosixPath(member.name)
        if not member.isfile() or path.is_absolute() or ".." in path.parts:
            raise NodeError(f"backup member {member.name!r} is not a plain relative file")
    if sorted(names) != sorted(listed) or len(set(names)) != len(names):
        raise NodeError(
            "the backup's files are not the ones its manifest lists",
            advice="The file was altered or truncated; use another backup.",
        )
    return found


def _extract(
    tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path, manifest: dict[str, object]
) -> None:
    expected = _listed(manifest)[member.name]
    target = root / member.name
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:
        raise NodeError(f"backup member {member.name!r} cannot be read")
    digest = hashlib.sha256()
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        while block := source.read(CHUNK):
            digest.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != expected.get("sha256") or member.size != expected.get("size"):
        raise NodeError(
            f"backup member {member.name!r} does not match its SHA-256",
            advice="The file was altered; use another backup.",
        )
