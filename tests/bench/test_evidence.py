"""Evidence benchmark (issue: evidence packages): seal and verify 1 GiB and 10 GiB.

Run: ``make bench`` (or ``uv run pytest tests/bench/test_evidence.py -s -o addopts=""``).
``ACCORD_BENCH_EVIDENCE_GIB`` sets the sizes (default ``1,10``). Data is generated on the fly
(a 64 MiB random block repeated) in a temporary folder and deleted afterwards.

Each step runs in its own process so its peak resident memory is its own. In the same run the
single-core SHA-256 throughput over the same file is measured, and seal and verify are reported
as a fraction of it. Targets: at least 0.7 for both, and peak memory under 200 MiB at 10 GiB.
Seal includes fsync of the package; verify is keyless (what a court clerk runs), first with
the package only on the disk (as the seal leaves it: it writes around the page cache) and then
in the page cache, and keyed (decrypt and check every plaintext, what ``extract`` costs without
writing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

GIB = 1024**3
MIB = 1024**2
SIZES = [int(s) for s in os.environ.get("ACCORD_BENCH_EVIDENCE_GIB", "1,10").split(",")]

CHILD = r"""
import hashlib, json, os, resource, sys, time
from datetime import UTC, datetime
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from accord.evidence.models import Acquisition
from accord.evidence.package import Package
from accord.evidence.seal import SealOrder, Sealer, collect, seal
from accord.evidence.verify import verify_package

step, data, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
signing = Ed25519PrivateKey.from_private_bytes(bytes(32))
encryption = X25519PrivateKey.from_private_bytes(bytes(range(32)))
keys = lambda _id: signing.public_key()
started = time.perf_counter()
if step == "sha256":
    digest = hashlib.sha256()
    with data.open("rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
elif step == "seal":
    acquisition = Acquisition(acquired_by="bench", acquired_at=datetime.now(UTC), method="m",
                              tool="t", source="s")
    order = SealOrder(collect([data]), "BENCH", (("bench", encryption.public_key()),), acquisition)
    seal(order, Sealer("bench", signing, b"{}"), out=work / "pkg", now=datetime.now(UTC),
         package_id="bench")
else:
    verify_package(Package(work / "pkg"), keys,
                   identity=encryption if step == "verify-keyed" else None)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak": peak}))
"""


def _generate(path: Path, size: int) -> None:
    block = os.urandom(64 * MIB)
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())


def _run(step: str, data: Path, work: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, step, str(data), str(work)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"{step} failed:\n{done.stderr}"
    result: dict[str, float] = json.loads(done.stdout)
    return result


def test_seal_and_verify_throughput_against_sha256() -> None:
    for gib in SIZES:
        size = gib * GIB
        with tempfile.TemporaryDirectory(prefix="accord-bench-", dir=Path.cwd()) as folder:
            work = Path(folder)
            data = work / "evidence.bin"
            _generate(data, size)
            sha = _run("sha256", data, work)
            # The seal writes around the page cache, so the first verify reads the package from
            # the disk (cold); the second finds it in the page cache, as the SHA-256 reference
            # finds the data it has just generated (warm).
            results = {
                label: _run(step, data, work)
                for label, step in (
                    ("seal", "seal"),
                    ("verify cold", "verify"),
                    ("verify warm", "verify"),
                    ("verify-keyed", "verify-keyed"),
                )
            }
            sha_rate = size / MIB / sha["seconds"]
            print(f"\n{gib} GiB: single-core SHA-256 {sha_rate:,.0f} MiB/s")
            for step, measured in results.items():
                rate = size / MIB / measured["seconds"]
                print(
                    f"  {step:<13} {measured['seconds']:7.2f} s  {rate:7,.0f} MiB/s  "
                    f"{rate / sha_rate:.2f} of SHA-256  peak RSS {measured['peak'] / MIB:.0f} MiB"
                )
            for measured in results.values():
                assert measured["peak"] < 200 * MIB  # the memory target holds at every size
