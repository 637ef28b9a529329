"""The blob store interface: named byte streams of any size, written atomically (ADR 0022).

A blob is written through a :class:`BlobWriter` in pieces and becomes visible under its key
only when the writer commits: a reader sees the whole blob or none, never a part. Reading is a
stream too (:meth:`BlobStore.open`), or a byte range (:meth:`BlobStore.read`), so no blob is
ever held whole in memory. Keys are ``/``-separated relative names (``packages/ID/files/1``).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from accord.errors import BlobStoreError

_KEY = re.compile(r"^[A-Za-z0-9._=+-]+(/[A-Za-z0-9._=+-]+)*$")


def check_key(key: str) -> str:
    """``key`` if it is a relative name that cannot climb out of the store, else raise."""
    if not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise BlobStoreError(
            f"blob key {key!r} is not a relative name of letters, digits and ._=+-",
            advice="This is a bug in the caller: keys are made by Accord, never by a user.",
        )
    return key


class BlobWriter(abc.ABC):
    """One blob being written: :meth:`write` pieces in order, then :meth:`commit` (it appears
    whole) or :meth:`abort` (nothing appears). As a context manager it commits when the body
    succeeds and aborts when it raises."""

    @abc.abstractmethod
    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def abort(self) -> None:
        """Discard what was written; safe to call more than once, or after a failed commit."""

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is None:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()


class BlobStore(abc.ABC):
    """Where blobs live: a folder (:class:`~accord.blobs.local.LocalBlobStore`) or an
    S3-compatible object store (:class:`~accord.blobs.s3.S3BlobStore`)."""

    url: str  # where the store is, for messages: a folder path or s3://bucket/prefix

    @abc.abstractmethod
    def create(self, key: str) -> BlobWriter:
        """A writer for a new blob ``key`` (replacing any blob of that name when it commits)."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """The blob as a stream to read in order (``readinto`` fills whole buffers)."""

    @abc.abstractmethod
    def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        """``length`` bytes from ``offset`` (to the end when None): for small blobs and ranges."""

    @abc.abstractmethod
    def size(self, key: str) -> int | None:
        """The blob's size in bytes, or None when there is no complete blob ``key``."""

    @abc.abstractmethod
    def keys(self, prefix: str) -> Iterator[str]:
        """Every complete blob whose key starts with ``prefix``/, sorted."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; no error when it does not exist."""

    def path(self, key: str) -> Path | None:
        """The local file holding ``key`` when the store keeps blobs in files (the fast path
        that reads around the page cache), else None."""
        return None

    def put(self, key: str, pieces: Iterable[bytes | bytearray | memoryview]) -> int:
        """Write ``key`` from ``pieces`` atomically; returns its size."""
        size = 0
        with self.create(key) as writer:
            for piece in pieces:
                writer.write(piece)
                size += len(piece)
        return size

    def delete_prefix(self, prefix: str) -> None:
        for key in list(self.keys(prefix)):
            self.delete(key)

    def append(self, key: str, data: bytes) -> int:
        """Add ``data`` at the end of the small blob ``key``; returns its previous length.

        Object stores have no append: the blob is rewritten whole, atomically, so it is for
        blobs of a few MiB (custody chains, anchors)."""
        before = self.read(key) if self.size(key) is not None else b""
        self.put(key, [before, data])
        return len(before)

    def truncate(self, key: str, length: int) -> None:
        """Cut ``key`` back to ``length`` bytes (undoing an :meth:`append`)."""
        self.put(key, [self.read(key, 0, length)])


def copy_into(store: BlobStore, key: str, source: BinaryIO, chunk: int) -> int:
    """Stream ``source`` into ``key`` in pieces of ``chunk`` bytes; returns the size."""
    return store.put(key, iter(lambda: source.read(chunk), b""))
