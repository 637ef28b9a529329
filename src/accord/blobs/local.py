"""Blobs as files in a folder: the embedded default (the node's own folders, as before).

A blob is written to a hidden temporary file beside its final name, flushed (``fsync``) and
renamed over it, then the folder is flushed: after a crash there is the old blob, the new one
or none, never a part (POSIX ``rename(2)`` is atomic).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from accord.blobs.store import BlobStore, BlobWriter, check_key
from accord.errors import BlobMissing, BlobStoreError

TEMPORARY = ".tmp-"  # prefix of files being written; never listed as blobs


class LocalBlobStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def create(self, key: str) -> BlobWriter:
        return _FileWriter(self.path(key))

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise self._missing(key) from None
        except OSError as exc:
            raise _failed(f"cannot read {self.path(key)}", exc) from exc

    def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        with self.open(key) as handle:
            handle.seek(offset)
            try:
                return handle.read(-1 if length is None else length)
            except OSError as exc:
                raise _failed(f"cannot read {self.path(key)}", exc) from exc

    def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    def keys(self, prefix: str) -> Iterator[str]:
        folder = self.path(prefix) if prefix else self.root
        if not folder.is_dir():
            return iter(())
        found = (
            path.relative_to(self.root).as_posix()
            for path in folder.rglob("*")
            if path.is_file() and not path.name.startswith(TEMPORARY)
        )
        return iter(sorted(found))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def append(self, key: str, data: bytes) -> int:
        try:
            self.path(key).parent.mkdir(parents=True, exist_ok=True)
            with self.path(key).open("ab") as handle:
                before = handle.tell()
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise _failed(f"cannot write {self.path(key)}", exc) from exc
        return before

    def truncate(self, key: str, length: int) -> None:
        with self.path(key).open("r+b") as handle:
            handle.truncate(length)
            os.fsync(handle.fileno())

    def _missing(self, key: str) -> BlobMissing:
        return BlobMissing(f"{self.path(key)} does not exist", advice="Check the path.")


class _FileWriter(BlobWriter):
    def __init__(self, final: Path) -> None:
        self._final = final
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=TEMPORARY, dir=final.parent)
        except OSError as exc:
            raise _failed(f"cannot write in {final.parent}", exc) from exc
        self._temporary = Path(name)
        self._handle: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._handle is None:
            raise BlobStoreError(f"{self._final} is already committed or aborted")
        try:
            self._handle.write(data)
        except OSError as exc:
            raise _failed(f"cannot write {self._final}", exc) from exc

    def commit(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            raise BlobStoreError(f"{self._final} is already committed or aborted")
        try:
            with handle:
                handle.flush()
                os.fsync(handle.fileno())
            self._temporary.rename(self._final)
            fsync_dir(self._final.parent)
        except OSError as exc:
            raise _failed(f"cannot write {self._final}", exc) from exc

    def abort(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()
        with contextlib.suppress(FileNotFoundError):
            self._temporary.unlink()


def fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entries: a rename into it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _failed(what: str, exc: OSError) -> BlobStoreError:
    return BlobStoreError(
        f"{what}: {exc.strerror or exc}; nothing was changed",
        advice="Free disk space or fix the folder's permissions, then try again.",
    )
