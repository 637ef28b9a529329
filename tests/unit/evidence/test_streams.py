"""Reading evidence in blocks: every byte once, in order, with the kernel asked to read ahead
of the reader on a real file (a cold file reads at twice the rate, ADR 0007), and no harm where
that advice cannot be given."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import io
import os
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from accord.envelope.core import sha256_hex
from accord.evidence import streams
from accord.evidence.streams import blocks

READ = 4096


def _done(_view: memoryview) -> Future[None]:
    future: Future[None] = Future()
    future.set_result(None)
    return future


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "READ_BYTES", READ)
    monkeypatch.setattr(streams, "READ_AHEAD", 4 * READ)


@pytest.fixture
def advice(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    calls: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def recording(fd: int, offset: int, length: int, what: int) -> None:
        calls.append((offset, length, what))
        real(fd, offset, length, what)

    monkeypatch.setattr(streams.os, "posix_fadvise", recording)
    return calls


def test_a_file_is_read_whole_with_the_kernel_reading_ahead(
    tmp_path: Path, advice: list[tuple[int, int, int]]
) -> None:
    data = os.urandom(20 * READ + 123)
    (tmp_path / "f").write_bytes(data)
    read, ahead_at_each_read = b"", []
    with (tmp_path / "f").open("rb") as handle:
        for view in blocks(handle, _done):
            ahead_at_each_read.append(sum(length for _, length, _ in advice) - len(read))
            read += bytes(view)
    assert read == data
    assert all(what == os.POSIX_FADV_WILLNEED for _, _, what in advice)
    offsets = [offset for offset, _, _ in advice]
    assert offsets[0] == 0
    for offset, (previous, length, _) in zip(offsets[1:], advice, strict=False):
        assert offset == previous + length  # contiguous ranges, each asked for once
    # before each read, at least half the read-ahead window past the block is already asked for
    assert min(ahead_at_each_read) >= READ + 2 * READ
    assert len(advice) < len(ahead_at_each_read)  # advice in batches, not once per block


def test_advice_that_fails_is_dropped_and_the_file_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def refusing(fd: int, offset: int, length: int, what: int) -> None:
        calls.append(offset)
        raise OSError(errno.ESPIPE, "Illegal seek")

    monkeypatch.setattr(streams.os, "posix_fadvise", refusing)
    data = os.urandom(10 * READ)
    (tmp_path / "f").write_bytes(data)
    with (tmp_path / "f").open("rb") as handle:
        assert b"".join(bytes(view) for view in blocks(handle, _done)) == data
    assert calls == [0]  # asked once, then not again


def test_a_stream_without_a_file_is_read_without_advice(
    advice: list[tuple[int, int, int]],
) -> None:
    data = os.urandom(5 * READ + 1)
    assert b"".join(bytes(view) for view in blocks(io.BytesIO(data), _done)) == data
    assert advice == []


def test_every_hashing_thread_clears_its_vector_state_before_any_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The threads inherit the registers ChaCha20 left in use, which slows SHA-NI by 18 % on
    this machine (ADR 0007): each clears them once, first, and the digests are unchanged."""
    events: list[tuple[str, int]] = []
    real_clear, real_sha256 = streams._clear_vector_state, streams.hashlib.sha256

    def clearing() -> None:
        real_clear()
        events.append(("cleared", threading.get_ident()))

    def hashing(data: bytes | memoryview = b"") -> Any:
        events.append(("hashed", threading.get_ident()))
        return real_sha256(data)

    monkeypatch.setattr(streams, "_clear_vector_state", clearing)
    monkeypatch.setattr(streams.hashlib, "sha256", hashing)
    ChaCha20Poly1305(bytes(32)).encrypt(bytes(12), b"", None)  # the state a seal starts from
    plain, chunks = streams.PlainDigest(), streams.ChunkDigests()
    data = os.urandom(3 * 1024)
    plain.update(data).result()
    chunks.feed(data).result()
    with streams.hashing_pool(2, "accord-test") as pool:
        verified = [pool.submit(sha256_hex, data) for _ in range(8)]

    assert plain.hexdigest() == hashlib.sha256(data).hexdigest()
    assert chunks.digests() == [hashlib.sha256(data).hexdigest()]
    assert {future.result() for future in verified} == {hashlib.sha256(data).hexdigest()}
    workers = {ident for what, ident in events if what == "cleared"}
    assert len(workers) >= 3  # the plaintext thread, the chunk thread, the verify pool
    for ident in {ident for what, ident in events if what == "hashed"} - {threading.get_ident()}:
        first = next(what for what, who in events if who == ident)
        assert first == "cleared", "a hashing thread hashed before clearing its vector state"


def _mapping(address: int) -> tuple[str, list[str]]:
    """The name and the VmFlags of the mapping that holds ``address`` (proc(5) smaps)."""
    lines = Path("/proc/self/smaps").read_text().splitlines()
    for number, line in enumerate(lines):
        fields = line.split()
        if "-" in fields[0] and ":" not in fields[0]:
            start, end = (int(bound, 16) for bound in fields[0].split("-"))
            if start <= address < end:
                flags = next(other for other in lines[number + 1 :] if other.startswith("VmFlags:"))
                return " ".join(fields[5:]), flags.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux's proc(5)")
def test_buffers_are_private_page_aligned_memory_asking_for_huge_pages() -> None:
    """Shared anonymous memory (what ``mmap.mmap(-1, n)`` gives) is shmem, whose faults and
    release cost a seal 57 ms instead of 5 (ADR 0007); O_DIRECT needs page alignment."""
    memory = streams.buffer(2 * 1024 * 1024)
    memory[:4] = b"seal"
    address = ctypes.addressof(ctypes.c_char.from_buffer(memory))
    name, flags = _mapping(address)

    assert len(memory) == 2 * 1024 * 1024
    assert memory[:4] == b"seal"
    assert address % os.sysconf("SC_PAGE_SIZE") == 0
    assert name == "", f"the buffer is mapped from {name!r}: shared memory, not private"
    assert "sh" not in flags
    if Path("/sys/kernel/mm/transparent_hugepage/enabled").exists():
        assert "hg" in flags  # MADV_HUGEPAGE: the kernel may back it with 2 MiB pages
