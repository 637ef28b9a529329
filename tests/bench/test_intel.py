"""Intel benchmarks (issue 17), in one run on this machine:

- the same 10,000 indicators read back with taxii2-client from Accord and from medallion 3.0.0
  (OASIS's reference TAXII server, memory backend, installed in a virtualenv this benchmark
  makes, never in the project's dependencies): Accord >= 100 times medallion's objects/s;
- ingest with validation over TAXII (POSTs of 1,000): >= 5,000 objects/s;
- the cost of a page of 1,000 at 10,000, 100,000 and 1,000,000 stored objects: < 100 ms at
  every size (first page, middle, last);
- sync of 1,000,000 objects between two nodes on loopback: < 10 minutes.

Run: ``make bench`` (or ``uv run pytest tests/bench/test_intel.py -s -o addopts=""``).
ACCORD_BENCH_INTEL_MAX (default 1000000) lowers the largest size for a quick run.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from taxii2client.v21 import Collection, as_pages

from accord.demo.federation import LocalFederation, NodeSpec, free_port
from accord.federation.service import Federation
from accord.identity.models import Role
from accord.intel import sync, tokens
from accord.intel.markings import TLP2_IDS, Tlp, marking_of
from accord.intel.service import Intel
from accord.intel.stix import StixObject
from accord.intel.store import Incoming, store_objects

MAX = int(os.environ.get("ACCORD_BENCH_INTEL_MAX", "1000000"))
READ = int(os.environ.get("ACCORD_BENCH_INTEL_READ", "10000"))
TAXII = "application/taxii+json;version=2.1"
T = "2026-11-24T09:00:00.000Z"
NS = uuid.UUID("6d1b0c9a-2f3e-4a5b-8c7d-9e0f1a2b3c4d")
SPECS = [
    NodeSpec("vn-cert", "Viet Nam CERT", "VN", (Role.CERT,), ("vi", "en")),
    NodeSpec("ru-cert", "Russian Federation CERT", "RU", (Role.CERT,), ("ru", "en")),
]
SETTINGS = "intel_sync_interval = 86400\nrequest_timeout = 60\ncheckpoint_interval = 3600\n"


def indicator(n: int, prefix: str) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(NS, f'{prefix}{n}')}",
        "created": T,
        "modified": T,
        "name": f"Fraud shop host {n}",
        "description": "Payment page of a fake online shop seen in campaign HN-2026-0412.",
        "pattern": f"[ipv4-addr:value = '10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}']",
        "pattern_type": "stix",
        "valid_from": T,
        "indicator_types": ["malicious-activity"],
        "labels": ["online-fraud"],
        "object_marking_refs": [TLP2_IDS[Tlp.GREEN]],
    }


@dataclass
class Bench:
    federation: LocalFederation
    token: str
    url: str

    def intel(self, pid: str) -> tuple[Intel, Any]:
        node = self.federation.nodes[pid].open()
        return Intel(Federation(node)), node


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    root = tmp_path_factory.mktemp("intel-bench")
    federation = LocalFederation.create(root, SPECS, {"certs": ("vn-cert", "ru-cert")}, SETTINGS)
    node = federation.nodes["vn-cert"].open()
    token = tokens.create(node, "bench", read=("*",), write=("*",), red=False)
    node.close()
    federation.nodes["vn-cert"].start()
    try:
        yield Bench(federation, token, federation.nodes["vn-cert"].url)
    finally:
        federation.stop()


def create(bench: Bench, alias: str) -> str:
    intel, node = bench.intel("vn-cert")
    try:
        return intel.create_collection(alias, alias=alias, readers=["certs"]).id
    finally:
        node.close()


def read_all(collection: Collection, per_request: int) -> tuple[int, float]:
    start = time.perf_counter()
    count = sum(
        len(page.get("objects", []))
        for page in as_pages(collection.get_objects, per_request=per_request)
    )
    return count, time.perf_counter() - start


# medallion ----------------------------------------------------------------------------------


def medallion(root: Path, objects: list[dict[str, Any]]) -> tuple[subprocess.Popen[bytes], str]:
    """medallion 3.0.0 in a virtualenv of its own, memory backend, holding ``objects``."""
    venv = root / "medallion-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "medallion==3.0.0"]
    subprocess.run(pip, check=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    added = [
        f"2026-12-01T00:00:{i // 1_000_000:02d}.{i % 1_000_000:06d}Z" for i in range(len(objects))
    ]
    data = {
        "/discovery": {
            "title": "medallion",
            "default": f"{base}/api1/",
            "api_roots": [f"{base}/api1/"],
        },
        "api1": {
            "information": {
                "title": "api1",
                "versions": [TAXII],
                "max_content_length": 100_000_000,
            },
            "status": [],
            "collections": [
                {
                    "id": "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
                    "title": "bench",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [
                        {**o, "_date_added": d} for o, d in zip(objects, added, strict=True)
                    ],
                    "manifest": [
                        {
                            "id": o["id"],
                            "date_added": d,
                            "version": o["modified"],
                            "media_type": "application/stix+json;version=2.1",
                        }
                        for o, d in zip(objects, added, strict=True)
                    ],
                }
            ],
        },
    }
    (root / "data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(root / "data.json"),
        },
        "users": {"bench": "bench"},
        "taxii": {"max_page_size": 1000},
    }
    (root / "config.json").write_text(json.dumps(config))
    process = subprocess.Popen(
        [
            str(venv / "bin" / "medallion"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            str(root / "config.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/taxii2/", headers={"Accept": TAXII}, timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    return process, f"{base}/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/"


def test_reading_10000_indicators_back_side_by_side_with_medallion(
    bench: Bench, tmp_path: Path
) -> None:
    objects = [indicator(n, "read") for n in range(READ)]
    cid = create(bench, "read-back")
    for start in range(0, len(objects), 1000):
        body = json.dumps({"objects": objects[start : start + 1000]}).encode()
        answer = requests.post(
            f"{bench.url}/taxii2/api/collections/{cid}/objects/",
            data=body,
            timeout=120,
            headers={
                "Content-Type": TAXII,
                "Accept": TAXII,
                "Authorization": f"Bearer {bench.token}",
            },
        )
        assert answer.status_code == 202, answer.text
    accord = Collection(
        f"{bench.url}/taxii2/api/collections/{cid}/", user="bench", password=bench.token
    )
    accord_count, accord_seconds = read_all(accord, 1000)
    process, url = medallion(tmp_path, objects)
    try:
        medallion_count, medallion_seconds = read_all(
            Collection(url, user="bench", password="bench"), 1000
        )
    finally:
        process.terminate()
        process.wait()
    assert accord_count == medallion_count == READ
    accord_rate, medallion_rate = accord_count / accord_seconds, medallion_count / medallion_seconds
    print(
        f"\nread back 10,000 indicators with taxii2-client, pages of 1,000:\n"
        f"  Accord    {accord_seconds:8.2f} s  {accord_rate:10.0f} objects/s\n"
        f"  medallion {medallion_seconds:8.2f} s  {medallion_rate:10.1f} objects/s\n"
        f"  ratio {accord_rate / medallion_rate:.0f}x (target >= 100x)"
    )
    assert accord_rate >= 100 * medallion_rate


# Ingest ----------------------------------------------------------------------------------------


def post_all(url: str, token: str, bodies: list[bytes], clients: int) -> float:
    """Seconds to POST ``bodies`` with ``clients`` connections at once."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    headers = {"Content-Type": TAXII, "Accept": TAXII, "Authorization": f"Bearer {token}"}

    def run(share: list[bytes]) -> None:
        session = requests.Session()
        for body in share:
            assert session.post(url, data=body, headers=headers, timeout=120).status_code == 202

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, [bodies[i::clients] for i in range(clients)]))
    return time.perf_counter() - start


def test_ingest_with_validation_over_taxii(bench: Bench) -> None:
    """30,000 indicators in POSTs of 1,000, every object validated (schema, MUST rules, STIX
    pattern) and stored durably; by one client, then by two at once (the node validates one
    POST while it commits the other)."""
    lines, rates = [], {}
    for clients in (1, 2):
        cid = create(bench, f"ingest-{clients}")
        bodies = [
            json.dumps(
                {"objects": [indicator(b * 1000 + i, f"in{clients}-") for i in range(1000)]}
            ).encode()
            for b in range(30)
        ]
        seconds = post_all(
            f"{bench.url}/taxii2/api/collections/{cid}/objects/", bench.token, bodies, clients
        )
        rates[clients] = 30_000 / seconds
        lines.append(f"  {clients} client(s): {seconds:6.2f} s, {rates[clients]:6.0f} objects/s")
    print(
        "\ningest with validation over TAXII (30 POSTs of 1,000 indicators; target >= 5,000/s):\n"
        + "\n".join(lines)
    )
    assert max(rates.values()) >= 5000


# Page cost ---------------------------------------------------------------------------------------


def fill(bench: Bench, cid: str, start: int, end: int) -> None:
    """Store objects ``start``..``end`` directly (this measures reads, not ingest)."""
    _intel, node = bench.intel("vn-cert")
    try:
        for first in range(start, end, 5000):
            items = []
            for n in range(first, min(first + 5000, end)):
                value = indicator(n, "page")
                obj = StixObject(json.dumps(value).encode(), value)
                items.append(Incoming(obj, marking_of(value, {}), "vn-cert", None))
            node.writer.run(lambda c, items=items: store_objects(c, cid, items, node.clock.now()))
    finally:
        node.close()


def page_ms(bench: Bench, cid: str) -> float:
    session = requests.Session()
    headers = {"Accept": TAXII, "Authorization": f"Bearer {bench.token}"}
    url = f"{bench.url}/taxii2/api/collections/{cid}/objects/?limit=1000"
    times = []
    for _ in range(7):
        start = time.perf_counter()
        response = session.get(url, headers=headers, timeout=60)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
        assert len(response.json()["objects"]) == 1000
    return statistics.median(times)


def deep_page_ms(bench: Bench, cid: str, pages: int) -> float:
    """The page after ``pages`` pages, reached with next cursors (the cursor is the seek)."""
    session = requests.Session()
    headers = {"Accept": TAXII, "Authorization": f"Bearer {bench.token}"}
    base = f"{bench.url}/taxii2/api/collections/{cid}/objects/?limit=1000"
    cursor = None
    for _ in range(pages):
        cursor = session.get(
            base + (f"&next={cursor}" if cursor else ""), headers=headers, timeout=60
        ).json()["next"]
    times = []
    for _ in range(7):
        start = time.perf_counter()
        response = session.get(f"{base}&next={cursor}", headers=headers, timeout=60)
        times.append((time.perf_counter() - start) * 1000)
        assert len(response.json()["objects"]) == 1000
    return statistics.median(times)


SIZES = [s for s in (10_000, 100_000, 1_000_000) if s <= MAX] or [MAX]


def test_a_page_of_1000_costs_the_same_at_every_size(bench: Bench) -> None:
    cid = create(bench, "pages")
    lines, stored = [], 0
    for size in SIZES:
        fill(bench, cid, stored, size)
        stored = size
        first = page_ms(bench, cid)
        middle = deep_page_ms(bench, cid, min(size // 2000, 50))
        lines.append(
            f"  {size:>9,} stored: first page {first:6.1f} ms, a later page {middle:6.1f} ms"
        )
        assert first < 100
        assert middle < 100
    print("\npage of 1,000 over HTTP (median of 7):\n" + "\n".join(lines))


# Sync ------------------------------------------------------------------------------------------


def test_sync_of_the_largest_collection_between_two_nodes(bench: Bench) -> None:
    cid = create(bench, "sync")
    fill(bench, cid, 0, MAX)
    intel, node = bench.intel("ru-cert")
    try:
        sub = sync.subscribe(
            intel,
            "vn-cert",
            "sync",
            into=None,
            types=("indicator",),
            labels=(),
            markings=("green",),
            added_after=None,
        )
        start = time.perf_counter()
        stored = asyncio.run(sync.pull(intel, sub, lambda _n, _t: None))
        seconds = time.perf_counter() - start
    finally:
        node.close()
    print(
        f"\nsync of {MAX:,} indicators between two nodes on loopback: {seconds:.1f} s, "
        f"{stored / seconds:.0f} objects/s (target < 600 s for 1,000,000)"
    )
    assert stored == MAX
    assert seconds < 600 * MAX / 1_000_000
