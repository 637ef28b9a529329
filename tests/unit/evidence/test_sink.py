"""The ciphertext sink: what is written is exactly what was given, in order, whether the
filesystem takes O_DIRECT or not, across staging-buffer boundaries; a disk that fills while the
writer thread writes fails the seal and leaves nothing behind."""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_evidence_package import make_package

from accord.errors import EvidenceError
from accord.evidence import sink as module
from accord.evidence.sink import ALIGN, Sink

STAGE = 4 * ALIGN  # small stages so random pieces cross many boundaries
NAMES = itertools.count()


@pytest.fixture(params=["direct", "page-cache"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(module, "STAGE_BYTES", STAGE)
    if request.param == "page-cache":  # as on tmpfs, which refuses O_DIRECT
        monkeypatch.setattr(module, "_try_direct", lambda _fd: False)
    return str(request.param)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.binary(max_size=3 * STAGE + 17), max_size=8))
def test_the_file_holds_exactly_the_pieces_in_order(
    mode: str, tmp_path: Path, pieces: list[bytes]
) -> None:
    path = tmp_path / f"blob-{next(NAMES)}"
    with Sink(path) as sink:
        for piece in pieces:
            sink.write(piece)
        sink.close()
    assert path.read_bytes() == b"".join(pieces)
    assert sink.size == path.stat().st_size
    assert path.stat().st_mode & 0o777 == 0o600


def _tapped(seen: list[bytes]) -> Callable[[memoryview], Future[None]]:
    def tap(view: memoryview) -> Future[None]:
        seen.append(bytes(view))
        done: Future[None] = Future()
        done.set_result(None)
        return done

    return tap


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.tuples(st.booleans(), st.binary(max_size=2 * STAGE + 5)), max_size=8))
def test_bytes_produced_in_place_are_written_and_tapped_in_order(
    mode: str, tmp_path: Path, pieces: list[tuple[bool, bytes]]
) -> None:
    """Pieces written or produced in place (straight into a staging buffer when they fit, else
    through the scratch buffer) reach the file and the tap in order, without the padding."""
    path, seen = tmp_path / f"blob-{next(NAMES)}", []
    with Sink(path, tap=_tapped(seen)) as sink:
        for in_place, piece in pieces:
            if in_place:
                sink.fill(
                    len(piece), lambda room, piece=piece: room.__setitem__(slice(None), piece)
                )
            else:
                sink.write(piece)
        sink.close()
    everything = b"".join(piece for _, piece in pieces)
    assert path.read_bytes() == everything
    assert b"".join(seen) == everything
    assert all(len(view) <= STAGE for view in seen)


def test_a_sink_without_a_file_only_taps(mode: str, tmp_path: Path) -> None:
    seen: list[bytes] = []
    data = os.urandom(2 * STAGE + 100)
    with Sink(None, tap=_tapped(seen)) as sink:
        sink.write(data)
        sink.close()
    assert b"".join(seen) == data
    assert sink.size == len(data)
    assert list(tmp_path.iterdir()) == []


def test_a_producer_that_fails_leaves_nothing_in_the_sink(mode: str, tmp_path: Path) -> None:
    def failing(room: memoryview) -> None:
        room[:] = b"x" * len(room)  # as decrypt_into may before the tag fails
        raise ValueError("tag")

    path = tmp_path / "blob"
    with Sink(path) as sink:
        sink.write(b"a" * 10)
        for size in (5, 2 * STAGE):  # in the staging buffer, then through the scratch buffer
            with pytest.raises(ValueError, match="tag"):
                sink.fill(size, failing)
        sink.write(b"b" * 10)
        sink.close()
    assert path.read_bytes() == b"a" * 10 + b"b" * 10


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        Sink(tmp_path / "blob")
    assert (tmp_path / "blob").read_bytes() == b"keep"


def test_a_disk_that_fills_while_writing_fails_the_seal_and_leaves_nothing(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.write
    written = []

    def filling(fd: int, data: memoryview) -> int:
        if written:  # the second stage no longer fits
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(len(data))
        return real(fd, data)

    monkeypatch.setattr(module.os, "write", filling)
    with pytest.raises(EvidenceError, match="No space left on device; nothing was left behind"):
        make_package(tmp_path, {"big.bin": os.urandom(5 * STAGE)})
    assert written == [STAGE]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence"]
