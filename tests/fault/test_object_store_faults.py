"""The object store fails mid-upload of an evidence package: its server process is killed with
SIGKILL (it comes back empty, as a store restored from nothing would) or frozen with SIGSTOP
(it comes back with what it held). Each time the seal or the transfer fails with a clear
AccordError, nothing half-written is listed or verifiable as a package, and once the store is
back the same operation, tried again, succeeds."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from accord.app import create_app
from accord.clock import FixedClock
from accord.db.schema import audit_records
from accord.demo.federation import LocalFederation
from accord.errors import AccordError, BlobStoreError, EvidenceError
from accord.evidence.courier import Courier, TransferState
from accord.evidence.inbound import Inbound
from accord.evidence.models import Event, Manifest
from accord.evidence.package import PACKAGES, Package, stored
from accord.evidence.seal import collect
from accord.evidence.service import Evidence
from accord.evidence.verify import verify_package
from accord.federation.service import Federation
from accord.node.home import Node
from peerwire import Wire
from s3kit import ACQUISITION, RU, SPECS, VN, S3Server

pytestmark = pytest.mark.slow
MIB = 1024 * 1024
SIZE = 48 * MIB  # six parts of 8 MiB


@dataclass
class Stores:
    """Each node on its own object-store server, so that one can fail alone."""

    servers: dict[str, S3Server]
    buckets: dict[str, str]
    open: dict[str, Node]
    clock: FixedClock
    wire: Wire
    source: Path

    def seal(self, progress: Callable[[int], None] = lambda _: None) -> Manifest:
        return Evidence(self.open[VN]).seal(
            collect([self.source]),
            case="HN-2026-0042",
            to=[RU],
            acquisition=ACQUISITION,
            use_limitations=(),
            out=None,
            progress=progress,
        )

    def objects(self, pid: str) -> list[str]:
        listed = self.servers[pid].client().list_objects_v2(Bucket=self.buckets[pid])
        return [item["Key"] for item in listed.get("Contents", [])]

    def restart(self, pid: str, log: Path) -> None:
        server = self.servers[pid]
        server.start(log)
        server.client().create_bucket(Bucket=self.buckets[pid])  # moto came back empty

    def audited(self, pid: str) -> list[str]:
        with self.open[pid].read_engine.connect() as connection:
            return list(connection.scalars(select(audit_records.c.action)))

    def drain(self) -> None:
        courier = Courier(Federation(self.open[VN]), self.wire, rng=lambda: 1.0)
        asyncio.run(courier.drain())


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    servers = {pid: S3Server().start(tmp_path / f"{pid}-s3.log") for pid in (VN, RU)}
    try:
        buckets = {pid: server.bucket() for pid, server in servers.items()}
        local = LocalFederation.create(tmp_path / "federation", SPECS, {"all": (VN, RU)})
        for pid, spec in local.nodes.items():
            url = f"s3://{buckets[pid]}/{pid}"
            settings = servers[pid].settings_toml(url, blob_timeout=2.0)
            (spec.home / "settings.toml").write_text(settings + "retry_base = 1\nretry_max = 8\n")
        clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
        opened = {pid: local.nodes[pid].open(clock) for pid in (VN, RU)}
        url = local.nodes[RU].url
        app = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(Federation(opened[RU]))), base_url=url
        )
        source = tmp_path / "image"
        source.mkdir()
        (source / "laptop.E01").write_bytes(os.urandom(SIZE))
        try:
            yield Stores(servers, buckets, opened, clock, Wire({url: app}), source)
        finally:
            for node in opened.values():
                node.close()
    finally:
        for server in servers.values():
            if server.process is not None:
                server.process.send_signal(signal.SIGCONT)
            server.stop()


def _when_half_read(act: Callable[[], None]) -> Callable[[int], None]:
    """A seal's progress callback that acts once half the evidence was read (by then the
    sink's writer thread is uploading the first parts)."""
    read = [0]

    def progress(count: int) -> None:
        read[0] += count
        if read[0] >= SIZE // 2 and read[0] - count < SIZE // 2:
            act()

    return progress


def test_a_store_killed_mid_seal_fails_it_cleanly_and_the_seal_succeeds_after_restart(
    stores: Stores, tmp_path: Path
) -> None:
    server = stores.servers[VN]
    with pytest.raises(BlobStoreError, match=r"object store .* unreachable") as caught:
        stores.seal(_when_half_read(server.kill))
    assert "ACCORD_BLOB_ENDPOINT" in caught.value.advice
    assert "evidence.sealed" not in stores.audited(VN)  # no package, so no audit record
    assert not (stores.open[VN].home / "evidence").exists()  # nothing left in the node folder

    stores.restart(VN, tmp_path / "vn-s3-again.log")
    assert stores.objects(VN) == []
    manifest = stores.seal()
    package = stored(stores.open[VN].blobs, f"{PACKAGES}/{manifest.package_id}")
    keys = Evidence(stores.open[VN]).keys(package)
    verified = verify_package(package, keys, identity=stores.open[VN].ring.decryption_keys())
    assert verified.manifest.files[0].size == SIZE
    assert stores.audited(VN).count("evidence.sealed") == 1


def test_a_store_that_stops_answering_mid_seal_keeps_nothing_that_looks_complete(
    stores: Stores,
) -> None:
    server = stores.servers[VN]
    assert server.process is not None
    frozen = server.process
    started = time.monotonic()
    with pytest.raises(BlobStoreError, match="unreachable"):
        stores.seal(_when_half_read(lambda: frozen.send_signal(signal.SIGSTOP)))
    assert time.monotonic() - started < 120  # timeouts bound the wait (3 tries of 2 s each)
    frozen.send_signal(signal.SIGCONT)  # the store is back, with what it held

    listed = stores.objects(VN)
    assert not any(key.endswith("manifest.jws") for key in listed), listed
    assert not any(key.endswith(".age") for key in listed), listed  # the upload never completed
    for key in {key.rsplit("/files/", 1)[0] for key in listed}:
        package = Package(Path(key.removeprefix(f"{VN}/")), stores.open[VN].blobs)
        with pytest.raises(EvidenceError, match="not a complete evidence package"):
            verify_package(package, Evidence(stores.open[VN]).keys())
    assert "evidence.sealed" not in stores.audited(VN)

    manifest = stores.seal()
    assert f"{VN}/{PACKAGES}/{manifest.package_id}/manifest.jws" in stores.objects(VN)


def test_a_receivers_store_killed_mid_upload_fails_the_transfer_which_resumes_after_restart(
    stores: Stores, tmp_path: Path
) -> None:
    manifest = stores.seal()
    package = stored(stores.open[VN].blobs, f"{PACKAGES}/{manifest.package_id}")
    Evidence(stores.open[VN]).send(package, [RU])
    receiver = stores.servers[RU]
    killed = threading.Event()

    def kill_once_uploading() -> None:  # the receiver's copy into its store has begun
        client = receiver.client()
        while not killed.is_set():
            uploads = client.list_multipart_uploads(Bucket=stores.buckets[RU]).get("Uploads")
            if uploads:
                receiver.kill()
                killed.set()
            time.sleep(0.02)

    watcher = threading.Thread(target=kill_once_uploading, daemon=True)
    watcher.start()
    stores.drain()
    killed.set()
    watcher.join()
    assert receiver.process is None  # it was killed during the transfer

    [out] = [t for t in Evidence(stores.open[VN]).transfers() if t.direction == "out"]
    assert out.state == TransferState.RETRYING
    assert "object store" in out.detail
    assert out.receipt is None  # no receipt for a package not safely stored
    inbound = Inbound(Federation(stores.open[RU]))
    assert inbound.incoming(manifest.package_id).is_dir()  # the spool still holds it

    stores.restart(RU, tmp_path / "ru-s3-again.log")
    received = inbound.received_package(manifest.package_id)
    with pytest.raises(AccordError, match="not a complete evidence package"):
        received.manifest_token()
    stores.clock.advance(timedelta(seconds=60))
    stores.drain()
    [out] = [t for t in Evidence(stores.open[VN]).transfers() if t.direction == "out"]
    assert out.state == TransferState.DELIVERED
    assert out.receipt is not None
    keys = Federation(stores.open[RU]).directory().signing_key
    verified = verify_package(received, keys, identity=stores.open[RU].keys.encryption)
    assert [r.event for r in verified.custody][-2:] == [Event.RECEIVED, Event.VERIFIED]
    assert not inbound.incoming(manifest.package_id).exists()
    assert stores.audited(RU).count("evidence.received") == 1
