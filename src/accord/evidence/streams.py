"""Hashing that keeps pace with encryption: constant memory, both cores.

``hashlib`` and ``cryptography`` release the GIL on large buffers, so the plaintext digest runs
in one thread while the caller encrypts, and each transfer chunk of ciphertext is hashed on its
own in another (chunk digests are independent, so they need no ordering).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from accord.evidence.models import CHUNK_BYTES

READ_BYTES = 4 * 1024 * 1024
BUFFERS = 3  # one being read, one being hashed, one spare: memory stays at BUFFERS x READ_BYTES


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


class ChunkDigests:
    """SHA-256 of each CHUNK_BYTES slice of a byte stream fed in pieces of any size."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._pending = bytearray()
        self._futures: list[Future[str]] = []
        self.size = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self.size += len(data)
        self._pending += data
        if len(self._pending) >= CHUNK_BYTES:
            whole = len(self._pending) - len(self._pending) % CHUNK_BYTES
            view = bytes(self._pending[:whole])
            del self._pending[:whole]
            for start in range(0, whole, CHUNK_BYTES):
                self._futures.append(
                    self._pool.submit(sha256_hex, view[start : start + CHUNK_BYTES])
                )
            self._drain(keep=4)

    def digests(self) -> list[str]:
        """Every chunk digest, in order (an empty stream is one empty chunk)."""
        if self._pending or not self._futures:
            self._futures.append(self._pool.submit(sha256_hex, bytes(self._pending)))
            self._pending.clear()
        return [future.result() for future in self._futures]

    def _drain(self, keep: int) -> None:
        # bound memory: wait for all but the newest ``keep`` chunks (results stay small)
        for future in self._futures[:-keep]:
            future.result()


class PlainDigest:
    """SHA-256 of a stream, computed in its own thread in the order blocks were given."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accord-sha256")
        self._last: Future[None] | None = None

    def update(self, block: bytes | bytearray | memoryview) -> Future[None]:
        self._last = self._pool.submit(self._hash.update, block)
        return self._last

    def hexdigest(self) -> str:
        if self._last is not None:
            self._last.result()
        self._pool.shutdown()
        return self._hash.hexdigest()


def blocks(handle: BinaryIO, on_block: Callable[[memoryview], Future[Any]]) -> Iterator[memoryview]:
    """Read ``handle`` into a few reused buffers; a buffer is refilled only once the future
    ``on_block`` returned for its previous contents has finished."""
    buffers = [bytearray(READ_BYTES) for _ in range(BUFFERS)]
    busy: list[Future[Any] | None] = [None] * BUFFERS
    turn = 0
    while True:
        previous = busy[turn]
        if previous is not None:
            previous.result()
        count = handle.readinto(buffers[turn])  # type: ignore[attr-defined]
        if not count:
            return
        view = memoryview(buffers[turn])[:count]
        busy[turn] = on_block(view)
        yield view
        turn = (turn + 1) % BUFFERS
