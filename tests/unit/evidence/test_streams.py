"""Reading evidence in blocks, ahead of the caller and into reused buffers; hashing threads
that start clean; buffers in private memory (ADR 0007). Where the bytes come from (the page
cache or the disk directly) is tested in test_reader."""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from accord.envelope.core import sha256_hex
from accord.evidence import streams
from accord.evidence.streams import blocks

READ = 4096


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "READ_BYTES", READ)


@pytest.mark.parametrize("cached", [True, False], ids=["in the page cache", "read around it"])
def test_blocks_are_read_ahead_in_a_thread_and_no_buffer_is_reused_while_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached: bool
) -> None:
    """Every byte once, in order; a buffer is refilled only once the caller has moved past it
    and the work ``on_block`` started on it is done, however slow that work is."""
    data = os.urandom(23 * READ + 5)
    (path := tmp_path / "evidence").write_bytes(data)
    if not cached:
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    blocks_seen: list[bytes] = []
    futures: list[Future[None]] = []
    overwritten: list[int] = []
    readers: set[str] = set()
    real_reader = streams.reader

    def tracking(handle: Any) -> Any:
        read = real_reader(handle)

        def reading(view: memoryview) -> int:
            readers.add(threading.current_thread().name)
            return read.readinto(view)

        return read._replace(readinto=reading)

    def slow(view: memoryview) -> Future[None]:  # its work ends 5 ms later, in another thread
        future: Future[None] = Future()
        seen, number = bytes(view), len(blocks_seen)
        blocks_seen.append(seen)

        def finish() -> None:
            if bytes(view) != seen:
                overwritten.append(number)
            future.set_result(None)

        threading.Timer(0.005, finish).start()
        futures.append(future)
        return future

    monkeypatch.setattr(streams, "reader", tracking)
    with path.open("rb") as handle:
        read = b"".join(bytes(view) for view in blocks(handle, slow))
    wait(futures)
    assert read == data
    assert b"".join(blocks_seen) == data
    assert overwritten == [], "buffers were refilled while the work on them was not done"
    # the disk is waited for in a thread of its own; the cache is copied from by the caller
    assert readers == ({threading.current_thread().name} if cached else {"accord-read_0"})


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
