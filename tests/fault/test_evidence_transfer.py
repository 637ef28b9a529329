"""An evidence package in transfer between two running nodes: the receiver or the sender is
killed with SIGKILL mid-transfer and restarted, and a chunk is corrupted on the link. Each time
the transfer resumes from what the receiver confirmed (it does not start again), the package
arrives whole, verifies with the receiver's key, and the sender holds the receiver's receipt."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from accord.demo.federation import LocalFederation, LocalNode, free_port
from accord.envelope.core import sha256_hex as digest
from accord.evidence.courier import CHUNKS_IN_FLIGHT
from accord.evidence.inbound import Inbound
from accord.evidence.models import CHUNK_BYTES, Acquisition, Event
from accord.evidence.package import Package
from accord.evidence.seal import collect
from accord.evidence.service import Evidence
from accord.evidence.transfer import verify_receipt
from accord.evidence.verify import verify_package
from accord.federation.service import Federation

from .faultkit import (
    FAST,
    RECEIVER,
    SENDER,
    Link,
    LinkProxy,
    MakeFederation,
    opened,
    query,
    url_port,
    wait_until,
)

pytestmark = pytest.mark.slow
CHUNKS = 40
ACQUISITION = Acquisition(
    acquired_by="Capt. Nguyen Van A",
    acquired_at="2026-11-23T08:15:00Z",
    method="forensic image of a seized laptop",
    tool="ewfacquire 20231121",
    source="laptop seized at 12 Hang Bac, Ha Noi",
)


def _seal_and_send(federation: LocalFederation, tmp: Path) -> tuple[Package, str]:
    """A package of CHUNKS chunks, sealed on the sender and queued to the receiver."""
    source = tmp / "image"
    source.mkdir()
    with (source / "laptop.E01").open("wb") as handle:
        for _ in range(CHUNKS - 1):
            handle.write(os.urandom(CHUNK_BYTES))
        handle.write(os.urandom(CHUNK_BYTES // 2))  # the last chunk: half, with age overhead
    with opened(federation.nodes[SENDER]) as node:
        evidence = Evidence(node)
        manifest = evidence.seal(
            tuple(collect([source])),
            case="HN-2026-0042",
            to=[RECEIVER],
            acquisition=ACQUISITION,
            use_limitations=(),
            out=tmp / "package",
            progress=lambda _: None,
        )
        assert evidence.send(Package(tmp / "package"), []) == (RECEIVER,)
    assert sum(len(f.chunks) for f in manifest.files) == CHUNKS
    return Package(tmp / "package"), manifest.package_id


def _held(receiver: LocalNode) -> int:
    return int(query(receiver, "SELECT count(*) AS n FROM evidence_chunks")[0]["n"])


def _transfer(sender: LocalNode) -> dict[str, object]:
    [row] = query(sender, "SELECT * FROM evidence_outbound")
    return dict(row)


def _assert_arrived_whole(transfer: MidTransfer) -> None:
    sender, receiver = transfer.sender, transfer.receiver
    package, package_id = transfer.package, transfer.package_id
    row = _transfer(sender)
    assert row["state"] == "delivered", row
    with opened(receiver) as node:
        keys = Federation(node).directory().signing_key
        received = Package(Inbound(Federation(node)).received(package_id))
        verified = verify_package(received, keys, identity=node.keys.encryption)
    assert [r.event for r in verified.custody][-3:] == [Event.SENT, Event.RECEIVED, Event.VERIFIED]
    assert received.manifest_token() == package.manifest_token()
    receipt = verify_receipt(
        str(row["receipt"]).encode(),
        keys,
        package_id=package_id,
        manifest_sha256=digest(package.manifest_token()),
        receiver=RECEIVER,
    )
    assert receipt.custody_sha256 == digest(received.custody_chain()[-1])
    [inbound] = query(receiver, "SELECT state, receipt FROM evidence_inbound")
    assert (inbound["state"], inbound["receipt"]) == ("complete", row["receipt"])


@dataclass
class MidTransfer:
    """Two running nodes, the receiver behind a loopback proxy, a package at least ten of
    whose CHUNKS chunks the receiver holds."""

    federation: LocalFederation
    link: LinkProxy
    package: Package
    package_id: str

    @property
    def sender(self) -> LocalNode:
        return self.federation.nodes[SENDER]

    @property
    def receiver(self) -> LocalNode:
        return self.federation.nodes[RECEIVER]

    def wait_delivered(self) -> None:
        wait_until(
            "the transfer to be delivered", lambda: _transfer(self.sender)["state"] == "delivered"
        )


@pytest.fixture
def mid_transfer(make_federation: MakeFederation, tmp_path: Path) -> Iterator[MidTransfer]:
    federation = make_federation(FAST)
    receiver = federation.nodes[RECEIVER]
    with LinkProxy(url_port(receiver), free_port()) as link:
        receiver.start(port=link.target_port)
        federation.nodes[SENDER].start()
        package, package_id = _seal_and_send(federation, tmp_path)
        wait_until("ten chunks to be held", lambda: _held(receiver) >= 10, interval=0.005)
        yield MidTransfer(federation, link, package, package_id)


def test_receiver_killed_mid_transfer_resumes_from_its_confirmed_chunks(
    mid_transfer: MidTransfer,
) -> None:
    sender, receiver, link = mid_transfer.sender, mid_transfer.receiver, mid_transfer.link
    receiver.kill()
    held_at_kill = _held(receiver)
    assert 10 <= held_at_kill < CHUNKS
    wait_until(
        "the sender to retry against the dead receiver",
        lambda: str(_transfer(sender)["last_error"]).startswith("peer unreachable"),
    )
    receiver.start(port=link.target_port)
    mid_transfer.wait_delivered()
    # Resumed, not restarted: at most the chunks in flight at the kill were sent twice.
    assert CHUNKS <= link.puts <= CHUNKS + CHUNKS_IN_FLIGHT
    _assert_arrived_whole(mid_transfer)


def test_sender_killed_mid_transfer_resumes_and_a_corrupted_chunk_is_sent_again(
    mid_transfer: MidTransfer,
) -> None:
    sender, receiver, link = mid_transfer.sender, mid_transfer.receiver, mid_transfer.link
    sender.kill()
    held_at_kill = _held(receiver)
    assert 10 <= held_at_kill < CHUNKS
    assert _transfer(sender)["state"] == "sending"  # its lease outlives the process

    link.set(Link.CORRUPT_ONCE)
    sender.start()
    mid_transfer.wait_delivered()
    assert link.corrupted == 1
    # One chunk refused as corrupted and sent again, plus at most those in flight at the kill.
    assert CHUNKS + 1 <= link.puts <= CHUNKS + 1 + CHUNKS_IN_FLIGHT
    _assert_arrived_whole(mid_transfer)
    assert any("chunk rejected" in line for line in _log(receiver))


def _log(node: LocalNode) -> list[str]:
    if node.log_path is None or not node.log_path.exists():
        return []
    return node.log_path.read_text(errors="replace").splitlines()
