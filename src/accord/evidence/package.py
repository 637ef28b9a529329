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
from typing import BinaryIO

from accord.blobs import BlobStore, BlobWriter, LocalBlobStore
from accord.blobs.local import fsync_dir
from accord.blobs.store import copy_into
from accord.errors import BlobMissing, BlobStoreError, EvidenceError

MANIFEST = "manifest.jws"
CUSTODY = "custody.jws"
DIRECTORY = "directory.json"
FILES = "files"
ANCHORS = "anchors.jsonl"  # ADR 0018: proofs that signatures predate a key rotation
MAX_CUSTODY_BYTES = 16 * 1024 * 1024
PACKAGES = "evidence/packages"  # in the node's blob store, when sealed without --out
RECEIVED = "evidence/received"
COPY_BYTES = 8 * 1024 * 1024  # what a copy between stores holds in memory


@dataclass(frozen=True)
class Package:
    """A package: the folder ``root`` or, with a ``store``, the blobs under the key prefix
    ``root`` in that store (ADR 0022). Nothing is read until asked."""

    root: Path
    store: BlobStore | None = None

    @property
    def blobs(self) -> BlobStore:
        return self.store if self.store is not None else LocalBlobStore(self.root)

    @property
    def location(self) -> str:
        """Where the package is, as ``locate`` takes it back."""
        if self.store is None:
            return str(self.root.resolve())
        return f"{self.store.url.rstrip('/')}/{self.root.as_posix()}"

    def __str__(self) -> str:
        """The package as shown to a person: its folder as given, or its place in the store."""
        return self.location if self.store else str(self.root)

    def key(self, name: str) -> str:
        return name if self.store is None else f"{self.root.as_posix()}/{name}"

    def names(self) -> list[str]:
        """Every blob of the package, by its name inside it."""
        start, under = self.key(""), self.root.as_posix() if self.store else ""
        return [key.removeprefix(start) for key in self.blobs.keys(under)]

    def manifest_token(self) -> bytes:
        return self._read(MANIFEST, 64 * 1024 * 1024).strip()

    def custody_chain(self) -> list[bytes]:
        return [line for line in self._read(CUSTODY, MAX_CUSTODY_BYTES).split(b"\n") if line]

    def directory(self) -> bytes:
        return self._read(DIRECTORY, 16 * 1024 * 1024)

    def anchors(self) -> list[bytes]:
        """The anchors kept with the package (ADR 0018), one JSON document a line."""
        if self.blobs.size(self.key(ANCHORS)) is None:
            return []
        return [line for line in self._read(ANCHORS, 1024 * 1024).split(b"\n") if line]

    def add_anchor(self, document: bytes) -> None:
        self.blobs.append(self.key(ANCHORS), document.strip() + b"\n")

    def stored_bytes(self) -> int:
        """The size of every blob stored (what a verification reads; for progress only)."""
        blobs = self.blobs
        return sum(blobs.size(key) or 0 for key in blobs.keys(self.key(FILES)))

    def blob(self, name: str) -> Path:
        """The local file of blob ``name`` (a folder package only; else use open_blob)."""
        return self.root / name

    def blob_size(self, name: str) -> int | None:
        return self.blobs.size(self.key(name))

    def open_blob(self, name: str) -> BinaryIO:
        return self.blobs.open(self.key(name))

    def read_blob(self, name: str, offset: int, length: int) -> bytes:
        return self.blobs.read(self.key(name), offset, length)

    def _read(self, name: str, limit: int) -> bytes:
        where = f"{self}/{name}"
        try:
            data = self.blobs.read(self.key(name), 0, limit + 1)
        except BlobMissing:
            raise EvidenceError(
                f"{where} is missing: {self} is not a complete evidence package",
                advice="Pass the package folder written by `accord evidence seal`.",
            ) from None
        if len(data) > limit:
            raise EvidenceError(f"{where} is over {limit} bytes; this is not an Accord package")
        return data

    def append_custody(self, token: bytes) -> int:
        """Append one signed record durably; returns the chain's previous length (to undo)."""
        return self.blobs.append(self.key(CUSTODY), token + b"\n")

    def truncate_custody(self, length: int) -> None:
        self.blobs.truncate(self.key(CUSTODY), length)


def stored(store: BlobStore, prefix: str) -> Package:
    """The package under ``prefix`` in ``store``: a plain folder when the store is one."""
    folder = store.path(prefix)
    return Package(folder) if folder is not None else Package(Path(prefix), store)


def remove(package: Package, under: str = "") -> None:
    """Delete the package, or only its part ``under`` (``files``: a disposal). In a store the
    manifest goes first, so that a package half deleted is never taken for a complete one."""
    if package.store is None:
        target = package.root / under if under else package.root
        if target.exists():
            shutil.rmtree(target)
            fsync_dir(target.parent)
        return
    if not under:
        package.blobs.delete(package.key(MANIFEST))
    package.blobs.delete_prefix(package.key(under) if under else package.root.as_posix())


def publish(package: Package, target: Package) -> None:
    """Copy ``package`` to ``target`` (another store) in COPY_BYTES pieces, the manifest last;
    again after a failure, harmlessly: every blob is replaced whole."""
    for name in sorted(package.names(), key=lambda n: n == MANIFEST):
        with package.open_blob(name) as source:
            copy_into(target.blobs, target.key(name), source, COPY_BYTES)


def copy_out(package: Package, name: str, target: Path) -> None:
    """Copy blob ``name`` of ``package`` to the new file ``target`` (in the kernel when the
    package is a folder, else streamed COPY_BYTES at a time)."""
    source = package.blobs.path(package.key(name))
    if source is not None:
        shutil.copyfile(source, target)
        return
    with package.open_blob(name) as stream, target.open("wb") as copy:
        shutil.copyfileobj(stream, copy, COPY_BYTES)


def locate(location: str, store: BlobStore) -> Package:
    """The package at ``location`` (a folder, or a URL in the node's store: Package.location)."""
    base = store.url.rstrip("/") + "/"
    if store.path("x") is None and location.startswith(base):
        return Package(Path(location.removeprefix(base)), store)
    return Package(Path(location))


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


class Draft:
    """A package being written: each blob goes to :meth:`target`, the small files to
    :meth:`write`. It becomes a package only when the ``drafting`` body succeeds."""

    def __init__(self, work: Path) -> None:
        self.work = work

    def target(self, name: str) -> Path | BlobWriter:
        return self.work / name

    def write(self, name: str, data: bytes) -> None:
        (self.work / name).write_bytes(data)


class _StoredDraft(Draft):
    """In an object store there is no folder to rename: blobs are uploaded in place, the
    small files after them and the manifest last. A package without its manifest is not
    one (:meth:`Package._read` says so), and a failed draft deletes what it uploaded."""

    def __init__(self, package: Package) -> None:
        super().__init__(package.root)
        self.package = package
        self.writers: list[BlobWriter] = []
        self.small: dict[str, bytes] = {}

    def target(self, name: str) -> Path | BlobWriter:
        writer = self.package.blobs.create(self.package.key(name))
        self.writers.append(writer)
        return writer

    def write(self, name: str, data: bytes) -> None:
        self.small[name] = data

    def finish(self) -> None:
        blobs, key = self.package.blobs, self.package.key
        for name in sorted(self.small, key=lambda n: n == MANIFEST):  # the manifest last
            blobs.put(key(name), [self.small[name]])

    def discard(self) -> None:
        for writer in self.writers:
            writer.abort()
        with contextlib.suppress(BlobStoreError):  # the store may be what failed
            self.package.blobs.delete_prefix(self.package.root.as_posix())


@contextlib.contextmanager
def drafting(destination: Path | Package) -> Iterator[Draft]:
    """A draft that becomes the package ``destination`` only if the body succeeds; a folder
    is built beside it and renamed (:func:`building`), a stored package uploaded in place."""
    if isinstance(destination, Path) or destination.store is None:
        folder = destination if isinstance(destination, Path) else destination.root
        with building(folder) as work:
            yield Draft(work)
        return
    blobs = destination.blobs
    if next(blobs.keys(destination.root.as_posix()), None) is not None:
        raise EvidenceError(
            f"{destination.location} already exists", advice="Seal under a new package id."
        )
    draft = _StoredDraft(destination)
    try:
        yield draft
        draft.finish()
    except BaseException:
        draft.discard()
        raise
