"""Hashing that keeps pace with encryption: constant memory, both cores.

``hashlib`` and ``cryptography`` release the GIL on large buffers, so the plaintext digest runs
in one thread while the caller encrypts, and each transfer chunk of ciphertext is hashed on its
own in another (chunk digests are independent, so they need no ordering). Every hashing thread
comes from :func:`hashing_pool`, which starts it with a clean vector state (ADR 0007).
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accord.evidence.models import CHUNK_BYTES
from accord.evidence.reader import reader

READ_BYTES = 4 * 1024 * 1024  # a multiple of reader.ALIGN
BUFFERS = 5  # being read, being used, the rest hashed or absorbing jitter: BUFFERS x READ_BYTES
AHEAD = 2  # blocks read from the disk while the caller has one: AHEAD + 1 <= BUFFERS


def hashing_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """Threads for SHA-256 that start with a clean vector state.

    A new thread inherits its creator's vector registers. ``cryptography``'s ChaCha20-Poly1305
    (OpenSSL 4.0 in ``cryptography`` 50) returns with their upper halves in use, and on this
    machine's CPU (AMD Zen 5) the SHA-NI instructions ``hashlib`` runs are then 18 % slower in
    that thread for as long as it lives: 0.62 s per GiB instead of 0.52 (ADR 0007). Every
    sealing and keyed verification creates its hashing threads after the age header's ChaCha20,
    so each thread first clears that state: AES-GCM's key set-up ends with VZEROUPPER, and
    encrypting nothing costs a few microseconds. On CPUs without the penalty it changes nothing.
    """
    return ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=_clear_vector_state)


def _clear_vector_state() -> None:
    AESGCM(bytes(16)).encrypt(bytes(12), b"", None)  # for its VZEROUPPER; see hashing_pool


def buffer(size: int) -> mmap.mmap:
    """A page-aligned buffer of ``size`` bytes in private memory, in huge pages where the
    kernel grants them (ADR 0007).

    ``mmap.mmap(-1, size)`` alone maps *shared* memory, which Linux backs with shmem: its
    first-touch faults and its release cost 57 ms for the 68 MiB a seal's buffers hold,
    against 33 ms for private memory and 5 ms for private memory in 2 MiB pages
    (``MADV_HUGEPAGE``; transparent huge pages are commonly granted only on request)."""
    memory = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        with contextlib.suppress(OSError):  # EINVAL: a kernel without transparent huge pages
            memory.madvise(mmap.MADV_HUGEPAGE)
    return memory


class ChunkDigests:
    """SHA-256 of each CHUNK_BYTES slice of a byte stream fed in pieces of any size, hashed in
    order in its own thread without copying: a piece must stay unchanged until the future
    :meth:`feed` returns for it is done. The caller waits for that future before reusing the
    piece (the sink's staging ring does), which also bounds what is queued and raises errors."""

    def __init__(self) -> None:
        self._pool = hashing_pool(1, "accord-chunks")
        self._digests: list[str] = []
        self._current = hashlib.sha256()
        self._filled = 0
        self.size = 0

    def feed(self, data: bytes | memoryview) -> Future[None]:
        self.size += len(data)
        return self._pool.submit(self._consume, data)

    def _consume(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), CHUNK_BYTES - self._filled)
            self._current.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == CHUNK_BYTES:
                self._digests.append(self._current.hexdigest())
                self._current, self._filled = hashlib.sha256(), 0

    def digests(self) -> list[str]:
        """Every chunk digest, in order (an empty stream is one empty chunk)."""
        self._pool.shutdown()  # waits for every piece fed
        if self._filled or not self._digests:
            self._digests.append(self._current.hexdigest())
        return self._digests


class PlainDigest:
    """SHA-256 of a stream, computed in its own thread in the order blocks were given. As for
    :class:`ChunkDigests`, the caller waits for the future :meth:`update` returns before
    reusing a block (:func:`blocks` and the sink do), so memory stays bounded."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._pool = hashing_pool(1, "accord-sha256")

    def update(self, block: bytes | bytearray | memoryview) -> Future[None]:
        return self._pool.submit(self._hash.update, block)

    def hexdigest(self) -> str:
        self._pool.shutdown()  # waits for every block given
        return self._hash.hexdigest()


def blocks(handle: BinaryIO, on_block: Callable[[memoryview], Future[Any]]) -> Iterator[memoryview]:
    """Read ``handle`` into a few reused buffers, each filled whole but the last (:mod:`.reader`
    says how). A file read from the disk is read by a thread of its own, AHEAD blocks ahead of
    the caller, which then never waits for the disk; a file copied out of the page cache is
    copied by the caller when it asks, so the block is still in the CPU's cache when used. A
    buffer is refilled only once the caller has moved past it and the future ``on_block``
    returned for its previous contents has finished."""
    buffers = [memoryview(buffer(READ_BYTES)) for _ in range(BUFFERS)]
    busy: list[Future[Any] | None] = [None] * BUFFERS
    read = reader(handle)
    reads: deque[Future[int]] = deque()  # of the blocks index, index + 1, ...
    with ThreadPoolExecutor(1, thread_name_prefix="accord-read") as reading:
        submit, ahead = (reading.submit, AHEAD + 1) if read.direct else (_now, 1)
        index = 0
        while True:
            while len(reads) < ahead:  # the caller is done with every buffer but these
                turn = (index + len(reads)) % BUFFERS
                previous = busy[turn]
                if previous is not None:
                    previous.result()
                reads.append(submit(read.readinto, buffers[turn]))
            count = reads.popleft().result()
            if not count:
                return
            view = buffers[index % BUFFERS][:count]
            busy[index % BUFFERS] = on_block(view)
            index += 1
            yield view


def _now(read: Callable[[memoryview], int], into: memoryview) -> Future[int]:
    """Read in the calling thread (an error is raised at once: it ends the reading anyway);
    the result as :meth:`ThreadPoolExecutor.submit` gives it."""
    done: Future[int] = Future()
    done.set_result(read(into))
    return done
