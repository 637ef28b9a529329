"""Blob store benchmark (issue 19): seal and verify a 200 MiB package into the node folder
and into an S3-compatible store (moto_server on loopback), in MB/s.

Run: ``make bench`` (or ``uv run pytest tests/bench/test_blobs.py -s -o addopts=""``).
``ACCORD_BENCH_BLOB_MIB`` sets the size (default 200) and ``ACCORD_BENCH_RUNS`` the runs per
step (default 3; the median is reported with the range). The evidence is generated (a 64 MiB
random block repeated).

moto_server is a single Python process that hashes and keeps every part in its own memory.
So the S3 figures are a floor set by the test server sharing this 2-core machine with the
sealer: they show that the store's path streams and works, not what MinIO or AWS would
give. Each seal or verify is also reported as a fraction of the local folder's.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.blobs import BlobStore, LocalBlobStore
from accord.evidence.models import Acquisition
from accord.evidence.package import remove, stored
from accord.evidence.seal import Sealer, SealOrder, collect, seal
from accord.evidence.verify import verify_package
from s3kit import S3Server

MIB = 1024 * 1024
SIZE = int(os.environ.get("ACCORD_BENCH_BLOB_MIB", "200")) * MIB
RUNS = int(os.environ.get("ACCORD_BENCH_RUNS", "3"))
SIGNING = Ed25519PrivateKey.generate()
ENCRYPTION = X25519PrivateKey.generate()
ACQUISITION = Acquisition(
    acquired_by="bench", acquired_at=datetime.now(UTC), method="m", tool="t", source="s"
)


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("blob-bench") / "image"
    folder.mkdir()
    block = os.urandom(64 * MIB)
    with (folder / "disk.E01").open("wb") as handle:
        for offset in range(0, SIZE, len(block)):
            handle.write(block[: SIZE - offset])
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    started = S3Server().start(tmp_path_factory.mktemp("blob-bench-s3") / "moto.log")
    try:
        yield started
    finally:
        started.stop()


def _timed(act: Callable[[], object]) -> float:
    started = time.perf_counter()
    act()
    return time.perf_counter() - started


def _measure(store: BlobStore, evidence: Path) -> dict[str, list[float]]:
    order = SealOrder(
        collect([evidence]), "BENCH", (("bench", ENCRYPTION.public_key()),), ACQUISITION
    )
    sealer = Sealer("bench", SIGNING, b"{}")
    times: dict[str, list[float]] = {"seal": [], "verify": []}
    for run in range(RUNS):
        package = stored(store, f"evidence/packages/bench-{run}")
        if package.store is None:  # a folder store: its first package's parent
            package.root.parent.mkdir(parents=True, exist_ok=True)
        times["seal"].append(
            _timed(
                lambda p=package: seal(
                    order, sealer, out=p, now=datetime.now(UTC), package_id="bench"
                )
            )
        )
        times["verify"].append(
            _timed(lambda p=package: verify_package(p, lambda _: SIGNING.public_key()))
        )
        remove(package)
    return times


def _rate(seconds: list[float]) -> tuple[float, float, float]:
    rates = sorted(SIZE / MIB / s for s in seconds)
    return statistics.median(rates), rates[0], rates[-1]


def test_s3_store_throughput_beside_the_node_folder(
    evidence: Path, server: S3Server, tmp_path: Path
) -> None:
    local = _measure(LocalBlobStore(tmp_path / "node"), evidence)
    s3 = _measure(server.store(f"s3://{server.bucket()}/bench", part_bytes=8 * MIB), evidence)
    print(f"\nblob store throughput, {SIZE // MIB} MiB package, median of {RUNS} (range):")
    for step in ("seal", "verify"):
        here, there = _rate(local[step]), _rate(s3[step])
        print(
            f"  {step:6s} folder {here[0]:7.1f} MiB/s ({here[1]:.1f}-{here[2]:.1f})"
            f"   s3 {there[0]:6.1f} MiB/s ({there[1]:.1f}-{there[2]:.1f})"
            f"   s3/folder {there[0] / here[0]:.2f}"
        )
