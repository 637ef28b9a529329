"""The on-disk layout of an evidence package, and writing it so that nothing half-done remains.

::

    PACKAGE/
      manifest.jws      the signed manifest (compact JWS, one line)
      custody.jws       the chain of custody, one signed record per line, oldest first
      directory.json    the signed federation directory the package was sealed under
      files/000001.age  each file, encrypted to every recipient (age v1)

A package is built in a hidden sibling folder and renamed into place only when complete and
flushed to disk: a crash, a full disk or a vanished input leave no package at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from accord.errors import EvidenceError

MANIFEST = "manifest.jws"
CUSTODY = "custody.jws"
DIRECTORY = "directory.json"
FILES = "files"
ANCHORS = "anchors.jsonl"  # ADR 0018: proofs that signatures predate a key rotation
MAX_CUSTODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Package:
    """A package folder on disk (nothing is read until asked)."""

    root: Path

    def manifest_token(self) -> bytes:
        return self._read(MANIFEST, 64 * 1024 * 1024).strip()

    def custody_chain(self) -> list[bytes]:
        return [line for line in self._read(CUSTODY, MAX_CUSTODY_BYTES).split(b"\n") if line]

    def directory(self) -> bytes:
        return self._read(DIRECTORY, 16 * 1024 * 1024)

    def anchors(self) -> list[bytes]:
        """The anchors kept with the package (ADR 0018), one JSON document a line."""
        if not (self.root / ANCHORS).exists():
            return []
        return [line for line in self._read(ANCHORS, 1024 * 1024).split(b"\n") if line]

    def add_anchor(self, document: bytes) -> None:
        with (self.root / ANCHORS).open("ab") as handle:
            handle.write(document.strip() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def stored_bytes(self) -> int:
        """The size of every blob on disk (what a verification reads; for progress only)."""
        folder = self.root / FILES
        return sum(p.stat().st_size for p in folder.iterdir()) if folder.is_dir() else 0

    def blob(self, name: str) -> Path:
        return self.root / name

    def _read(self, name: str, limit: int) -> bytes:
        path = self.root / name
        try:
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            raise EvidenceError(
                f"{path} is missing: {self.root} is not a complete evidence package",
                advice="Pass the package folder written by `accord evidence seal`.",
            ) from None
        except OSError as exc:
            raise EvidenceError(f"cannot read {path}: {exc.strerror}") from exc
        if len(data) > limit:
            raise EvidenceError(f"{path} is over {limit} bytes; this is not an Accord package")
        return data

    def append_custody(self, token: bytes) -> int:
        """Append one signed record durably; returns the file's previous length (to undo)."""
        path = self.root / CUSTODY
        with path.open("ab") as handle:
            before = handle.tell()
            handle.write(token + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        return before

    def truncate_custody(self, length: int) -> None:
        with (self.root / CUSTODY).open("r+b") as handle:
            handle.truncate(length)
            os.fsync(handle.fileno())


def blob_name(number: int) -> str:
    return f"{FILES}/{number:06d}.age"


@contextlib.contextmanager
def building(destination: Path) -> Iterator[Path]:
    """A private folder next to ``destination`` that becomes it only if the body succeeds."""
    if destination.exists():
        raise EvidenceError(
            f"{destination} already exists", advice="Choose a new package name with --out."
        )
    parent = destination.parent
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=parent))
    except OSError as exc:
        raise EvidenceError(f"cannot write in {parent}: {exc.strerror}") from exc
    try:
        (work / FILES).mkdir()
        yield work
        sync_tree(work)
        work.rename(destination)
        fsync_dir(parent)
    except OSError as exc:
        raise EvidenceError(
            f"could not write {destination}: {exc.strerror or exc}; nothing was left behind",
            advice="Free disk space or choose another folder, then seal again.",
        ) from exc
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def sync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (its contents survive a power cut)."""
    for folder, _, names in os.walk(root):
        for name in names:
            fd = os.open(Path(folder) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
