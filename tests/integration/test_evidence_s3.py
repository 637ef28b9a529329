"""Evidence on an S3-compatible object store (a real moto_server on loopback): sealing,
verifying, exporting, disposing and transferring packages that live only in the store, each
node under its own prefix of one bucket; and a 200 MB package streamed in constant memory as
a multipart upload."""

from __future__ import annotations

import asyncio
import math
import os
import re
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from accord.app import create_app
from accord.clock import FixedClock
from accord.demo.federation import LocalFederation, _stewards
from accord.errors import EvidenceError
from accord.evidence.courier import Courier, TransferState
from accord.evidence.inbound import Inbound
from accord.evidence.models import CHUNK_BYTES, Event, Manifest
from accord.evidence.package import FILES, MANIFEST, PACKAGES, Package, stored
from accord.evidence.seal import collect
from accord.evidence.service import Evidence
from accord.evidence.verify import read_custody, verify_package
from accord.federation.service import Federation
from accord.node.home import Node
from peerwire import Wire
from s3kit import ACQUISITION, RU, SPECS, VN, S3Server

from .helpers import Accord, refused

MIB = 1024 * 1024
PART = 8 * MIB  # ACCORD_BLOB_PART_BYTES's default


@dataclass
class Pair:
    server: S3Server
    bucket: str
    open: dict[str, Node]
    wire: Wire
    tmp: Path

    def seal(self, files: dict[str, bytes] | None = None, to: str = RU) -> Manifest:
        source = self.tmp / "source"
        source.mkdir(exist_ok=True)
        for name, data in (files or {"mail.mbox": os.urandom(3 * CHUNK_BYTES + 999)}).items():
            (source / name).write_bytes(data)
        return self.seal_paths([source], to)

    def seal_paths(self, paths: list[Path], to: str = RU) -> Manifest:
        return Evidence(self.open[VN]).seal(
            collect(paths),
            case="HN-2026-0042",
            to=[to],
            acquisition=ACQUISITION,
            use_limitations=(),
            out=None,  # into the node's blob store
            progress=lambda _: None,
        )

    def sealed(self, manifest: Manifest) -> Package:
        return stored(self.open[VN].blobs, f"{PACKAGES}/{manifest.package_id}")

    def objects(self, prefix: str) -> list[str]:
        pages = self.server.client().get_paginator("list_objects_v2")
        found = pages.paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for page in found for item in page.get("Contents", []))

    def drain(self) -> None:
        courier = Courier(Federation(self.open[VN]), self.wire, rng=lambda: 1.0)
        asyncio.run(courier.drain())


@pytest.fixture
def pair(tmp_path: Path, s3_server: S3Server) -> Iterator[Pair]:
    bucket = s3_server.bucket()
    local = LocalFederation.create(tmp_path / "federation", SPECS, {"all": (VN, RU)})
    for pid, spec in local.nodes.items():  # one bucket, a prefix per node
        (spec.home / "settings.toml").write_text(
            s3_server.settings_toml(f"s3://{bucket}/{pid}", blob_timeout=10)
        )
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    opened = {pid: local.nodes[pid].open(clock) for pid in (VN, RU)}
    url = local.nodes[RU].url
    app = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(Federation(opened[RU]))), base_url=url
    )
    try:
        yield Pair(s3_server, bucket, opened, Wire({url: app}), tmp_path)
    finally:
        for node in opened.values():
            node.close()


def test_a_package_sealed_into_the_store_verifies_exports_and_is_disposed(pair: Pair) -> None:
    manifest = pair.seal({"mail.mbox": os.urandom(CHUNK_BYTES + 5), "notes.txt": b"seized"})
    package = pair.sealed(manifest)
    assert package.store is not None
    assert package.location == f"s3://{pair.bucket}/{VN}/{PACKAGES}/{manifest.package_id}"
    prefix = f"{VN}/{PACKAGES}/{manifest.package_id}/"
    names = ["custody.jws", "directory.json", "files/000001.age", "files/000002.age"]
    assert pair.objects(prefix) == [prefix + name for name in [*names, MANIFEST]]
    assert not (pair.open[VN].home / PACKAGES).exists()  # nothing kept in the node folder

    evidence = Evidence(pair.open[VN])
    verified = verify_package(
        package, evidence.keys(package), identity=pair.open[VN].ring.decryption_keys()
    )
    assert [f.path for f in verified.manifest.files] == ["source/mail.mbox", "source/notes.txt"]

    copy = pair.tmp / "for-the-court"
    evidence.export(package, copy, "court order 17/2026", lambda _: None)
    assert [r.event for r in read_custody(Package(copy), evidence.keys())[1]][-1] is Event.EXPORTED
    assert [r.event for r in read_custody(package, evidence.keys())[1]][-1] is Event.EXPORTED

    evidence.dispose(package, "case closed")
    assert pair.objects(prefix + FILES) == []
    assert pair.objects(prefix + MANIFEST) == [prefix + MANIFEST]  # the record stays
    assert read_custody(package, evidence.keys())[1][-1].event is Event.DISPOSED


def test_a_package_moves_from_one_nodes_store_to_the_others(pair: Pair) -> None:
    manifest = pair.seal()
    package = pair.sealed(manifest)
    assert Evidence(pair.open[VN]).send(package, []) == (RU,)
    pair.drain()

    [transfer] = [t for t in Evidence(pair.open[VN]).transfers() if t.direction == "out"]
    assert transfer.state == TransferState.DELIVERED
    inbound = Inbound(Federation(pair.open[RU]))
    received = inbound.received_package(manifest.package_id)
    assert received.location == f"s3://{pair.bucket}/{RU}/evidence/received/{manifest.package_id}"
    assert not inbound.incoming(manifest.package_id).exists()  # the spool is emptied
    assert not inbound.received(manifest.package_id).exists()  # and no folder copy kept
    keys = Federation(pair.open[RU]).directory().signing_key
    verified = verify_package(received, keys, identity=pair.open[RU].keys.encryption)
    assert [r.event for r in verified.custody][-3:] == [Event.SENT, Event.RECEIVED, Event.VERIFIED]
    mine = [r.event for r in read_custody(package, keys)[1]]
    assert mine == [Event.ACQUIRED, Event.SEALED, Event.SENT]  # appended in the sender's store


def test_a_package_missing_its_manifest_is_not_a_package(pair: Pair) -> None:
    manifest = pair.seal()
    package = pair.sealed(manifest)
    pair.open[VN].blobs.delete(package.key(MANIFEST))
    with pytest.raises(EvidenceError, match="not a complete evidence package"):
        verify_package(package, Evidence(pair.open[VN]).keys())


def test_a_200_mb_package_is_sealed_and_verified_in_constant_memory(pair: Pair) -> None:
    size = 200 * MIB
    source = pair.tmp / "image"
    source.mkdir()
    block = os.urandom(MIB)
    with (source / "disk.E01").open("wb") as handle:
        for number in range(size // MIB):  # generated: 200 distinct MiB
            handle.write(number.to_bytes(8, "big") + block[8:])

    tracemalloc.start()
    try:
        manifest = pair.seal_paths([source])
        sealing = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        package = pair.sealed(manifest)
        verified = verify_package(
            package,
            Evidence(pair.open[VN]).keys(package),
            identity=pair.open[VN].ring.decryption_keys(),
        )
        verifying = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert verified.manifest.files[0].size == size
    # Python-heap peaks (the sink's and reader's mmap rings come on top, a fixed 68 MiB):
    # a few parts of 8 MiB, never the 200 MB.
    print(f"python heap peak: sealing {sealing / MIB:.1f} MiB, verifying {verifying / MIB:.1f} MiB")
    assert sealing < 48 * MIB, sealing
    assert verifying < 48 * MIB, verifying
    [entry] = manifest.files
    head = pair.server.client().head_object(
        Bucket=pair.bucket, Key=f"{VN}/{PACKAGES}/{manifest.package_id}/{entry.blob}"
    )
    parts = math.ceil(entry.ciphertext_size / PART)
    assert head["ETag"].strip('"').endswith(f"-{parts}")  # one multipart upload of 8 MiB parts
    assert head["ContentLength"] == entry.ciphertext_size


def test_the_cli_seals_into_the_store_and_takes_the_address_it_prints(
    tmp_path: Path, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    federation = LocalFederation.create(tmp_path / "nodes", SPECS, {})
    home = federation.nodes[VN].home
    (home / "settings.toml").write_text(s3_server.settings_toml(f"s3://{bucket}/{VN}"))
    stewards = tmp_path / "stewards.json"
    stewards.write_text(_stewards(federation).model_dump_json())
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "mail.mbox").write_bytes(os.urandom(CHUNK_BYTES + 3))
    accord = Accord(tmp_path, federation.nodes[VN].env["ACCORD_PASSPHRASE"])
    sealing = accord.ok(
        "evidence", "seal", "evidence", "--case", "HN-2026-0042", "--to", RU, "--dir", str(home),
        "--acquired-by", "Capt. A", "--acquired-at", "2026-11-23T08:15:00Z",
        "--method", "copy", "--tool", "ftk 4.7", "--source", "mail server",
    )  # fmt: skip
    found = re.search(r"in (s3://\S+)", sealing.out)
    assert found, sealing
    location = found.group(1)
    assert location.startswith(f"s3://{bucket}/{VN}/{PACKAGES}/")
    assert not (home / "evidence").exists()

    accord.env["ACCORD_HOME"] = str(home)  # `verify` takes the store from the settings
    verified = accord.ok("evidence", "verify", location, "--stewards", str(stewards))
    assert "signature, custody (2 records) OK" in verified.out
    opened = accord.ok("evidence", "open", location, "--dir", str(home))
    assert location in opened.out
    elsewhere = location.replace(bucket, "another-bucket")
    refused(
        accord.many(["evidence", "open", elsewhere, "--dir", str(home)])[0],
        "is not in this node's object store",
    )
