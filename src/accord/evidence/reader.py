"""Reading evidence from wherever it costs least: the page cache when it holds the bytes, the
disk directly when it does not (ADR 0007).

Reading a file that is not in the page cache through the cache costs this machine 0.6 to 1.2 s
of kernel time per GiB: pages to allocate, fill, copy out and later reclaim. That is more than
hashing the same bytes (0.52 s). Read with O_DIRECT, the same bytes cost about 0.02 s and land
straight in the caller's buffer, and they push no other file out of the cache. Bytes that are
already cached are cheapest to copy out of it. So a file is read the way its pages are: the
kernel's ``cachestat`` (Linux 6.5) tells how much of it is cached; if (nearly) all, it is
copied out of the cache, if not, read around it. The sink writes around the cache for the same
reason.

Where the kernel has no ``cachestat``, the filesystem refuses O_DIRECT or the read does not
start on a block boundary, the file is read through the page cache, and the kernel is asked
to read ahead of the reader (``posix_fadvise`` WILLNEED): at its default read-ahead of
128 KiB it reads a cold file at half the disk's rate. A stream that is not a file is read as
it comes.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import sys
from collections.abc import Callable
from typing import BinaryIO, NamedTuple

ALIGN = 4096  # O_DIRECT offsets and lengths: a multiple of every logical block size in use
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
READ_AHEAD = 16 * 1024 * 1024  # what fadvise keeps in flight past the read position
MOSTLY_CACHED = 0.9  # a file this much in the page cache is read through it
SAMPLES, SAMPLE_BYTES = 16, 1024 * 1024  # where cachestat looks: 0.1 ms for a file of any size
_DIRECT = getattr(os, "O_DIRECT", 0)

ReadInto = Callable[[memoryview], int]


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _CacheStat(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")
    ]


def _cachestat_call() -> Callable[..., int] | None:
    # cachestat(2) is number 451 on every architecture that has the generic table (x86-64's
    # table gives it the same number); elsewhere we do not guess.
    if sys.platform != "linux" or platform.machine() not in {"x86_64", "aarch64", "arm64"}:
        return None
    syscall: Callable[..., int] = ctypes.CDLL(None, use_errno=True).syscall
    return syscall


_SYSCALL = _cachestat_call()
_CACHESTAT = 451


def cached_pages(fd: int, offset: int, length: int) -> int | None:
    """How many pages of ``fd`` in ``[offset, offset + length)`` are in the page cache, or
    None if the kernel cannot say (before Linux 6.5, not Linux, a file it does not track)."""
    if _SYSCALL is None:
        return None
    span, stat = _Range(offset, length), _CacheStat()
    number, flags = ctypes.c_long(_CACHESTAT), ctypes.c_uint(0)
    done = _SYSCALL(number, ctypes.c_uint(fd), ctypes.byref(span), ctypes.byref(stat), flags)
    return None if done != 0 else int(stat.nr_cache)


class Reader(NamedTuple):
    """``readinto`` fills a page-aligned buffer with the next bytes (fully, unless the end
    comes first) and returns how many it wrote, 0 at the end. ``direct``: it reads from the
    disk and waits for it, costing almost no CPU, so it is worth a thread of its own; copying
    out of the page cache is CPU work, best done by the caller (a thread for it made sealing
    a cached file 5 % slower)."""

    readinto: ReadInto
    direct: bool


def reader(handle: BinaryIO) -> Reader:
    """How to read ``handle`` from its current position."""
    try:
        fd, position = handle.fileno(), handle.tell()
    except (OSError, AttributeError, ValueError):  # not a file: read it as it comes
        return Reader(handle.readinto, direct=False)  # type: ignore[attr-defined]
    cached = _share_cached(fd, position, os.fstat(fd).st_size)
    if cached is None or not _DIRECT or position % ALIGN:
        return Reader(_ReadAhead(handle, fd, position).readinto, direct=False)
    if cached >= MOSTLY_CACHED:  # copy it out of the cache; the kernel reads the rest ahead
        return Reader(handle.readinto, direct=False)  # type: ignore[attr-defined]
    return Reader(_Direct(handle, fd, position).readinto, direct=True)


def _share_cached(fd: int, start: int, end: int) -> float | None:
    """The share of ``[start, end)`` in the page cache, from SAMPLES evenly spread windows
    (cachestat walks every page it is asked about: a whole GiB costs 18 ms here)."""
    if end <= start:
        return 1.0
    step, window = (end - start) / SAMPLES, min(SAMPLE_BYTES, end - start)
    cached = pages = 0
    for k in range(SAMPLES):
        offset = min(start + int(k * step), end - window) // PAGE * PAGE
        found = cached_pages(fd, offset, window)
        if found is None:
            return None
        cached, pages = cached + found, pages + -(-min(window, end - offset) // PAGE)
    return cached / pages


class _Direct:
    """With O_DIRECT, from the disk straight into the caller's buffer.

    A file only partly in the page cache is read this way whole: copying its cached part out
    would set off the kernel's read-ahead into the rest (``POSIX_FADV_RANDOM`` does not stop
    the read-ahead a page marked for it sets off), which would then look cached too."""

    def __init__(self, handle: BinaryIO, fd: int, position: int) -> None:
        self._handle, self._fd, self._position = handle, fd, position
        self._flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        self._fallback: _ReadAhead | None = None  # once O_DIRECT proves unusable here
        self._done = False

    def readinto(self, buffer: memoryview) -> int:
        if self._fallback is not None:
            return self._fallback.readinto(buffer)
        if self._done:
            return 0
        try:
            count = self._fill(buffer)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: this filesystem does not read directly
                raise
            self._fallback = _ReadAhead(self._handle, self._fd, self._position)
            return self._fallback.readinto(buffer)
        self._position += count
        if count < len(buffer):  # the end: leave the file object where the reading ended
            self._done = True
            self._handle.seek(self._position)
        return count

    def _fill(self, buffer: memoryview) -> int:
        fcntl.fcntl(self._fd, fcntl.F_SETFL, self._flags | _DIRECT)
        try:
            filled = 0
            while filled < len(buffer):
                count = os.preadv(self._fd, [buffer[filled:]], self._position + filled)
                filled += count
                if not count or count % ALIGN:  # the end of the file
                    break
            return filled
        finally:
            fcntl.fcntl(self._fd, fcntl.F_SETFL, self._flags)


class _ReadAhead:
    """Through the page cache, keeping READ_AHEAD bytes past the position on their way in."""

    def __init__(self, handle: BinaryIO, fd: int, position: int) -> None:
        self._handle, self._fd = handle, fd
        self._position = self._advised = position
        self._advise = True

    def readinto(self, buffer: memoryview) -> int:
        self._ask_ahead(len(buffer))
        count: int = self._handle.readinto(buffer)  # type: ignore[attr-defined]
        self._position += count
        return count

    def _ask_ahead(self, length: int) -> None:
        end = self._position + length + READ_AHEAD
        if not self._advise or end - self._advised < READ_AHEAD // 2:
            return
        try:
            os.posix_fadvise(self._fd, self._advised, end - self._advised, os.POSIX_FADV_WILLNEED)
        except OSError:  # advice only; a pipe or an odd filesystem reads as it can
            self._advise = False
        self._advised = end
