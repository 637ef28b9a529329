"""Writing evidence straight to the disk, around the page cache (ADR 0007): a package's
ciphertext when sealing, the plaintext of the files extracted from it.

Evidence is written once and not read back by the process that writes it, so copying it into
the page cache buys nothing and costs the most of any step: on this machine the first buffered
gigabyte of a process takes 2 to 3 s, against 0.4 s with O_DIRECT (standards.md §4; the
figures are in ADR 0007). So the file is opened with O_DIRECT and written from a ring of
page-aligned staging buffers by a writer thread while the caller fills the next one; the last
block is padded to the alignment and the file cut back to its true length. A filesystem that
refuses O_DIRECT (tmpfs, some network filesystems) gets the same writes through the page cache.

The caller can produce its bytes directly inside a staging buffer (:meth:`Sink.fill`), so
what it encrypts or decrypts is never copied, and a ``tap`` (the transfer-chunk hashes, the
plaintext digest) reads each full buffer in its own thread beside the writer: a buffer is
refilled only once both are done with it. Without a file, a sink only taps (verification
decrypts and hashes without writing). Memory is the ring, whatever the size;
:meth:`Sink.close` makes the file durable.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from accord.blobs import BlobWriter
from accord.evidence.streams import buffer

ALIGN = 4096  # a multiple of every logical block size in use (512 B, 4 KiB)
STAGE_BYTES = 8 * 1024 * 1024
STAGES = 6  # one being filled, one being written and tapped, the rest absorb scheduling jitter

Tap = Callable[[memoryview], "Future[Any]"]


class Sink:
    """A new file (owner-only) written in order, a blob of a blob store (``path`` a
    :class:`BlobWriter`: each full stage is handed to it from the writer thread), or none if
    ``path`` is None; use as a context manager and call :meth:`close`.

    ``tap`` is given every byte written, in order, as read-only views that stay valid until
    the future it returns is done."""

    def __init__(self, path: Path | BlobWriter | None, tap: Tap | None = None) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        self._blob = path if isinstance(path, BlobWriter) else None
        self._fd = os.open(path, flags, 0o600) if isinstance(path, Path) else None
        self.direct = self._fd is not None and _try_direct(self._fd)
        self._tap = tap
        self._stages = [memoryview(buffer(STAGE_BYTES)) for _ in range(STAGES)]
        self._busy: list[list[Future[Any]]] = [[] for _ in range(STAGES)]
        self._scratch = bytearray()
        self._turn, self._filled, self.size = 0, 0, 0
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="accord-sink")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.size += len(view)
        while view:
            take = min(len(view), STAGE_BYTES - self._filled)
            self._stages[self._turn][self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == STAGE_BYTES:
                self._hand_over(STAGE_BYTES)

    def fill(self, size: int, produce: Callable[[memoryview], object]) -> None:
        """Append ``size`` bytes that ``produce`` writes into the view it is given: straight
        into the staging buffer when they fit in what is left of it (no copy), else through a
        scratch buffer."""
        end = self._filled + size
        if end > STAGE_BYTES:
            if len(self._scratch) < size:
                self._scratch = bytearray(size)
            scratch = memoryview(self._scratch)[:size]
            produce(scratch)
            self.write(scratch)
            return
        produce(self._stages[self._turn][self._filled : end])
        self._filled, self.size = end, self.size + size
        if end == STAGE_BYTES:
            self._hand_over(STAGE_BYTES)

    def _hand_over(self, length: int, padded: int | None = None) -> None:
        """Write and tap the current stage in the background; move on to the next one."""
        stage = self._stages[self._turn]
        busy = []
        if self._fd is not None:
            busy.append(self._writer.submit(_write_all, self._fd, stage[: padded or length]))
        elif self._blob is not None and length:
            busy.append(self._writer.submit(self._blob.write, stage[:length]))
        if self._tap is not None and length:
            busy.append(self._tap(stage[:length]))
        self._busy[self._turn] = busy
        self._turn, self._filled = (self._turn + 1) % STAGES, 0
        self._wait(self._turn)

    def _wait(self, turn: int) -> None:
        busy, self._busy[turn] = self._busy[turn], []
        for future in busy:
            future.result()

    def close(self) -> None:
        """Write what is staged, cut the padding off and fsync: the file is then durable."""
        tail = self._filled
        if tail:
            padded = tail
            if self.direct:  # O_DIRECT writes whole aligned blocks; the padding is cut below
                padded = -(-tail // ALIGN) * ALIGN
                self._stages[self._turn][tail:padded] = bytes(padded - tail)
            self._hand_over(tail, padded)
        for turn in range(STAGES):
            self._wait(turn)
        if self._fd is not None:
            os.ftruncate(self._fd, self.size)
            os.fsync(self._fd)
        if self._blob is not None:
            self._blob.commit()

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if error is not None:  # the threads finish with the buffers; the caller's error wins
                for future in (future for busy in self._busy for future in busy):
                    future.exception()
        finally:
            self._writer.shutdown()
            if self._blob is not None and error is not None:
                self._blob.abort()
            if self._fd is not None:
                os.close(self._fd)  # the staging buffers go with the object


def _try_direct(fd: int) -> bool:
    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        return False
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | direct)
    except OSError:  # EINVAL: this filesystem does not do direct I/O
        return False
    return True


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]
