"""Reading evidence from the page cache when it holds the bytes and around it when it does
not (ADR 0007), and through it, reading ahead, where the kernel or filesystem cannot tell or
cannot read directly: every byte once, in order, whichever way."""

from __future__ import annotations

import errno
import fcntl
import io
import os
from pathlib import Path

import pytest

from accord.evidence import reader
from accord.evidence.streams import buffer

BLOCK = 4 * reader.ALIGN
Reads = list[tuple[int, bool]]  # (offset, whether O_DIRECT was set) of every read made


def _read_all(handle: io.BufferedReader | io.BytesIO, *, direct: bool = False) -> bytes:
    read, block, out = reader.reader(handle), memoryview(buffer(BLOCK)), bytearray()
    assert read.direct is direct  # whether it waits for the disk, and deserves a thread
    while count := read.readinto(block):
        out += block[:count]
    return bytes(out)


def _evict(path: Path, *, keep: int = 0) -> None:
    """Evict ``path`` from the page cache, then bring back its first ``keep`` bytes alone."""
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_RANDOM)  # no read-ahead
        os.pread(handle.fileno(), keep, 0)


def _cached(path: Path) -> int:
    with path.open("rb") as handle:
        pages = reader.cached_pages(handle.fileno(), 0, 0)
    assert pages is not None
    return pages


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    made: Reads = []
    real = os.preadv

    def recording(fd: int, buffers: list[memoryview], offset: int, *flags: int) -> int:
        made.append((offset, bool(fcntl.fcntl(fd, fcntl.F_GETFL) & reader._DIRECT)))
        return real(fd, buffers, offset, *flags)

    monkeypatch.setattr(reader.os, "preadv", recording)
    return made


@pytest.fixture
def advice(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    calls: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def recording(fd: int, offset: int, length: int, what: int) -> None:
        calls.append((offset, length, what))
        real(fd, offset, length, what)

    monkeypatch.setattr(reader.os, "posix_fadvise", recording)
    monkeypatch.setattr(reader, "READ_AHEAD", 4 * BLOCK)
    return calls


@pytest.fixture
def around_cache(tmp_path: Path) -> None:
    """Skip where this kernel or filesystem cannot read around the page cache."""
    probe = tmp_path / "probe"
    probe.write_bytes(b"x")
    with probe.open("rb") as handle:
        if reader.cached_pages(handle.fileno(), 0, 0) is None:
            pytest.skip("the kernel has no cachestat (Linux 6.5)")
        try:
            flags = fcntl.fcntl(handle.fileno(), fcntl.F_GETFL)
            fcntl.fcntl(handle.fileno(), fcntl.F_SETFL, flags | reader._DIRECT)
        except OSError:
            pytest.skip("this filesystem refuses O_DIRECT")


@pytest.mark.usefixtures("around_cache")
def test_a_file_not_in_the_page_cache_is_read_around_it(tmp_path: Path, reads: Reads) -> None:
    data = os.urandom(10 * BLOCK + 123)  # the last block ends mid-page
    (path := tmp_path / "evidence").write_bytes(data)
    _evict(path)
    assert _cached(path) == 0

    with path.open("rb") as handle:
        assert _read_all(handle, direct=True) == data
        # the file object is left as a plain reader leaves it: at the end, reading buffered
        assert handle.tell() == len(data)
        assert not fcntl.fcntl(handle.fileno(), fcntl.F_GETFL) & reader._DIRECT

    assert _cached(path) == 0  # read straight into our buffers: nothing was cached, or pushed out
    assert reads == [(n * BLOCK, True) for n in range(11)]


@pytest.mark.usefixtures("around_cache")
def test_a_file_in_the_page_cache_is_copied_from_it(tmp_path: Path, reads: Reads) -> None:
    data = os.urandom(6 * BLOCK + 5)
    (path := tmp_path / "evidence").write_bytes(data)

    with path.open("rb") as handle:
        assert _read_all(handle) == data

    assert reads == []  # no direct read: the file object's own reads, from the cache


@pytest.mark.usefixtures("around_cache")
def test_a_file_partly_in_the_page_cache_is_read_around_it_whole(
    tmp_path: Path, reads: Reads
) -> None:
    """Copying the cached half out would set off the kernel's read-ahead into the rest."""
    data = os.urandom(8 * BLOCK)
    (path := tmp_path / "evidence").write_bytes(data)
    _evict(path, keep=4 * BLOCK)
    with path.open("rb") as handle:
        cached = [reader.cached_pages(handle.fileno(), n * BLOCK, BLOCK) for n in range(8)]
    assert cached == [BLOCK // reader.PAGE] * 4 + [0] * 4

    with path.open("rb") as handle:
        assert _read_all(handle, direct=True) == data

    assert reads == [(n * BLOCK, True) for n in range(9)]  # the ninth finds the end


@pytest.mark.usefixtures("around_cache")
def test_small_and_empty_files_not_in_the_cache(tmp_path: Path) -> None:
    for size in (0, 1, reader.ALIGN - 1, reader.ALIGN, reader.ALIGN + 1, BLOCK + 1):
        data = os.urandom(size)
        (path := tmp_path / f"f{size}").write_bytes(data)
        _evict(path)
        with path.open("rb") as handle:
            assert _read_all(handle, direct=size > 0) == data


@pytest.mark.usefixtures("around_cache")
def test_a_filesystem_that_refuses_direct_reads_is_read_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, advice: list[tuple[int, int, int]]
) -> None:
    real = os.preadv

    def refusing(fd: int, buffers: list[memoryview], offset: int, *flags: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & reader._DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, buffers, offset, *flags)

    monkeypatch.setattr(reader.os, "preadv", refusing)
    data = os.urandom(5 * BLOCK + 7)
    (path := tmp_path / "evidence").write_bytes(data)
    _evict(path)

    with path.open("rb") as handle:
        assert _read_all(handle, direct=True) == data
        assert not fcntl.fcntl(handle.fileno(), fcntl.F_GETFL) & reader._DIRECT
    assert advice  # from then on through the page cache, reading ahead


@pytest.mark.usefixtures("around_cache")
def test_a_read_error_is_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An I/O error (a failing or unplugged drive) reaches the caller, which leaves nothing."""

    def failing(fd: int, buffers: list[memoryview], offset: int, *flags: int) -> int:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(reader.os, "preadv", failing)
    (path := tmp_path / "evidence").write_bytes(os.urandom(BLOCK))
    _evict(path)
    with path.open("rb") as handle, pytest.raises(OSError, match="Input/output"):
        _read_all(handle, direct=True)


def test_reading_from_a_position_off_the_block_grid_goes_through_the_cache(
    tmp_path: Path, reads: Reads
) -> None:
    data = os.urandom(3 * BLOCK)
    (path := tmp_path / "evidence").write_bytes(data)
    with path.open("rb") as handle:
        handle.read(3)
        assert _read_all(handle) == data[3:]
    assert reads == []  # the file object's own reads, through the cache


def test_without_cachestat_a_file_is_read_through_the_cache_reading_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, advice: list[tuple[int, int, int]]
) -> None:
    monkeypatch.setattr(reader, "cached_pages", lambda fd, offset, length: None)
    data = os.urandom(20 * BLOCK + 123)
    (path := tmp_path / "evidence").write_bytes(data)
    read, ahead_at_each_read = b"", []
    with path.open("rb") as handle:
        read_into, block = reader.reader(handle).readinto, memoryview(buffer(BLOCK))
        while count := read_into(block):
            ahead_at_each_read.append(sum(length for _, length, _ in advice) - len(read))
            read += bytes(block[:count])
    assert read == data
    assert all(what == os.POSIX_FADV_WILLNEED for _, _, what in advice)
    offsets = [offset for offset, _, _ in advice]
    assert offsets[0] == 0
    for offset, (previous, length, _) in zip(offsets[1:], advice, strict=False):
        assert offset == previous + length  # contiguous ranges, each asked for once
    # when each block is read, at least half the read-ahead window past it was asked for
    assert min(ahead_at_each_read) >= 2 * BLOCK
    assert len(advice) < len(ahead_at_each_read)  # advice in batches, not once per block


def test_advice_that_fails_is_dropped_and_the_file_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def refusing(fd: int, offset: int, length: int, what: int) -> None:
        calls.append(offset)
        raise OSError(errno.ESPIPE, "Illegal seek")

    monkeypatch.setattr(reader, "cached_pages", lambda fd, offset, length: None)
    monkeypatch.setattr(reader.os, "posix_fadvise", refusing)
    data = os.urandom(10 * BLOCK)
    (path := tmp_path / "evidence").write_bytes(data)
    with path.open("rb") as handle:
        assert _read_all(handle) == data
    assert calls == [0]  # asked once, then not again


def test_a_stream_without_a_file_is_read_as_it_comes(
    advice: list[tuple[int, int, int]], reads: Reads
) -> None:
    data = os.urandom(5 * BLOCK + 1)
    assert _read_all(io.BytesIO(data)) == data
    assert advice == []
    assert reads == []
