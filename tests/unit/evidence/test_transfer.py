"""Package transfer between two real nodes in this process: the sender's courier talks to the
receiver's real HTTP app through an in-memory transport that can break, corrupt and forge.

Every test runs twice (ADR 0022): with packages in the node folders, and with the packages
sealed and received kept in an S3-compatible store (a real moto_server on loopback), each
node under its own prefix of one bucket."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Row, select

from accord.app import create_app
from accord.clock import FixedClock
from accord.db.schema import audit_records, evidence_chunks, evidence_inbound, evidence_outbound
from accord.demo.federation import LocalFederation, NodeSpec
from accord.envelope.core import sha256_hex as digest
from accord.errors import InputError
from accord.evidence.courier import EVIDENCE_PATH, Courier, TransferState
from accord.evidence.inbound import Inbound
from accord.evidence.models import CHUNK_BYTES, Acquisition, Event, Manifest
from accord.evidence.package import PACKAGES, Package, stored
from accord.evidence.seal import collect
from accord.evidence.service import Evidence
from accord.evidence.transfer import Offer, Plan, verify_receipt
from accord.evidence.verify import read_custody, verify_package
from accord.federation.auth import AUTH_HEADER, sign_request
from accord.federation.service import Federation
from accord.federation.transport import PeerResponse
from accord.identity.models import Role
from accord.jose import b64url_decode
from accord.node.home import Node
from peerwire import Wire
from s3kit import S3Server

VN, RU, ZA = "vn-mps-247", "ru-gp-ca", "za-npa-ca"
SPECS = [
    NodeSpec(VN, "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en")),
    NodeSpec(RU, "Russian Federation CA", "RU", (Role.CENTRAL_AUTHORITY,), ("ru", "en")),
    NodeSpec(ZA, "South Africa CA", "ZA", (Role.CENTRAL_AUTHORITY,), ("en",)),
]
SETTINGS = "retry_base = 1\nretry_max = 8\nrequest_timeout = 5\ndelivery_timeout = 600\n"
ACQUISITION = Acquisition(
    acquired_by="Capt. Nguyen Van A",
    acquired_at=datetime(2026, 11, 23, 8, 15, tzinfo=UTC),
    method="logical copy of a mailbox export",
    tool="FTK Imager 4.7.1",
    source="Example Telecom mail server",
)
BIG = os.urandom(3 * CHUNK_BYTES + 1000)  # four chunks, the last one short


@dataclass
class Nodes:
    clock: FixedClock
    local: LocalFederation
    open: dict[str, Node]
    wire: Wire
    tmp: Path
    store: str  # "folder" or "s3": where packages are kept

    def evidence(self, participant: str) -> Evidence:
        return Evidence(self.open[participant])

    def seal(self, to: list[str], name: str = "pkg") -> Package:
        source = self.tmp / f"{name}-source"
        source.mkdir()
        (source / "mail.mbox").write_bytes(BIG)
        (source / "notes.txt").write_bytes("изъято 23 ноября".encode())
        out = self.tmp / name if self.store == "folder" else None  # None: the node's store
        manifest = self.evidence(VN).seal(
            tuple(collect([source])),
            case="HN-2026-0042",
            to=to,
            acquisition=ACQUISITION,
            use_limitations=("Use only for case HN-2026-0042 (UNCC Art. 36)",),
            out=out,
            progress=lambda _: None,
        )
        return (
            Package(out)
            if out
            else stored(self.open[VN].blobs, f"{PACKAGES}/{manifest.package_id}")
        )

    def courier(self) -> Courier:
        return Courier(Federation(self.open[VN]), self.wire, rng=lambda: 1.0)

    def drain(self) -> None:
        asyncio.run(self.courier().drain())

    def outbound(self, recipient: str = RU) -> Row[Any]:
        with self.open[VN].read_engine.connect() as connection:
            return connection.execute(
                select(evidence_outbound).where(evidence_outbound.c.recipient == recipient)
            ).one()

    def inbound(self, node: str = RU) -> list[Row[Any]]:
        with self.open[node].read_engine.connect() as connection:
            return list(connection.execute(select(evidence_inbound)).all())

    def held(self, node: str = RU) -> list[int]:
        with self.open[node].read_engine.connect() as connection:
            return list(connection.scalars(select(evidence_chunks.c.idx)))

    def actions(self, node: str) -> list[str]:
        with self.open[node].read_engine.connect() as connection:
            return list(connection.scalars(select(audit_records.c.action)))

    def advance(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))


@pytest.fixture(params=["folder", "s3"])
def nodes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Nodes]:
    local = LocalFederation.create(
        tmp_path / "federation", SPECS, {"all": (VN, RU, ZA)}, settings_toml=SETTINGS
    )
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        bucket = server.bucket()
        for pid, spec in local.nodes.items():
            # added to what init wrote (the database_url of a PostgreSQL node among it)
            with (spec.home / "settings.toml").open("a") as settings:
                settings.write(server.settings_toml(f"s3://{bucket}/{pid}"))
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    opened = {pid: local.nodes[pid].open(clock) for pid in (VN, RU, ZA)}
    apps = {
        local.nodes[pid].url: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(Federation(opened[pid]))),
            base_url=local.nodes[pid].url,
        )
        for pid in (RU, ZA)
    }
    try:
        yield Nodes(clock, local, opened, Wire(apps), tmp_path, request.param)
    finally:
        for node in opened.values():
            node.close()


def test_a_package_arrives_whole_with_its_custody_and_a_signed_receipt(nodes: Nodes) -> None:
    package = nodes.seal([RU])
    assert nodes.evidence(VN).send(package, []) == (RU,)
    nodes.drain()

    row = nodes.outbound()
    assert row.state == TransferState.DELIVERED
    assert (row.chunks_confirmed, row.chunks_total) == (5, 5)  # 4 + 1 for notes.txt
    assert [status for _, status in nodes.wire.puts()] == [200] * 5
    received = Package(Inbound(Federation(nodes.open[RU])).received(package.root.name))
    assert not received.root.exists()  # named by package id, not by the sender's folder name
    [inbound] = nodes.inbound()
    received = Inbound(Federation(nodes.open[RU])).received_package(inbound.package_id)
    keys = Federation(nodes.open[RU]).directory().signing_key
    verified = verify_package(received, keys, identity=nodes.open[RU].keys.encryption)
    assert [r.event for r in verified.custody] == [
        Event.ACQUIRED,
        Event.SEALED,
        Event.SENT,
        Event.RECEIVED,
        Event.VERIFIED,
    ]
    assert [r.actor for r in verified.custody[2:]] == [VN, RU, RU]
    assert verified.manifest.use_limitations == ("Use only for case HN-2026-0042 (UNCC Art. 36)",)
    receipt = verify_receipt(
        row.receipt.encode(),
        keys,
        package_id=inbound.package_id,
        manifest_sha256=digest(package.manifest_token()),
        receiver=RU,
    )
    assert receipt.custody_sha256 == digest(received.custody_chain()[-1])
    assert receipt.chunks == 5
    assert "evidence.received" in nodes.actions(RU)
    assert nodes.actions(VN)[-2:] == ["evidence.sent", "evidence.delivered"]
    assert nodes.held() == []  # chunk bookkeeping is dropped once complete
    # The sender's own copy records the sending, not the receiver's events.
    mine = [r.event for r in read_custody(package, keys)[1]]
    assert mine == [Event.ACQUIRED, Event.SEALED, Event.SENT]


def test_a_chunk_corrupted_on_the_way_is_refused_and_sent_again(nodes: Nodes) -> None:
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])
    corrupted: list[str] = []

    def flip_once(method: str, target: str, body: bytes) -> bytes:
        if method == "PUT" and target.endswith("/chunks/2") and not corrupted:
            corrupted.append(target)
            return body[:100] + bytes([body[100] ^ 1]) + body[101:]
        return body

    nodes.wire.tamper = flip_once
    nodes.drain()
    puts = nodes.wire.puts()
    assert sorted(puts) == [("0", 200), ("1", 200), ("2", 200), ("2", 422), ("3", 200), ("4", 200)]
    assert puts.index(("2", 422)) < puts.index(("2", 200))  # refused, then sent again
    assert nodes.outbound().state == TransferState.DELIVERED


def test_an_interrupted_transfer_resumes_from_the_last_confirmed_chunk(nodes: Nodes) -> None:
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])
    nodes.wire.fail = lambda method, target: method == "PUT" and target.endswith("/chunks/2")
    nodes.drain()
    row = nodes.outbound()
    assert row.state == TransferState.RETRYING
    assert "link dropped" in row.last_error
    held = nodes.held()
    assert 2 not in held
    assert row.chunks_confirmed == len(held) >= 1  # the chunks in flight beside 2 landed

    nodes.wire.fail = None
    nodes.advance(row.next_attempt_at - nodes.clock.now().timestamp())
    nodes.drain()
    assert nodes.outbound().state == TransferState.DELIVERED
    # Resumed, not restarted: every chunk was uploaded exactly once.
    assert sorted(index for index, _ in nodes.wire.puts()) == ["0", "1", "2", "3", "4"]


def test_a_receipt_not_signed_by_the_recipient_is_not_accepted(nodes: Nodes) -> None:
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])

    async def forged(original: Callable[..., Awaitable[PeerResponse]], *args: Any) -> PeerResponse:
        answer = await original(*args)
        if args[1].endswith("/complete") and answer.status == 200:
            body = json.loads(answer.body)
            body["receipt"] = body["receipt"][:-4] + "AAAA"
            return PeerResponse(200, json.dumps(body).encode())
        return answer

    real = nodes.wire.request

    async def request(*args: Any) -> PeerResponse:
        return await forged(real, *args)

    nodes.wire.request = request  # type: ignore[method-assign]
    nodes.drain()
    row = nodes.outbound()
    assert row.state == TransferState.RETRYING
    assert "receipt from ru-gp-ca does not hold" in row.last_error
    assert row.receipt is None


def test_a_damaged_local_copy_fails_the_transfer_with_its_reason(nodes: Nodes) -> None:
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])
    blob = package.key("files/000001.age")
    data = bytearray(package.blobs.read(blob))
    data[CHUNK_BYTES + 7] ^= 0xFF
    package.blobs.put(blob, [bytes(data)])
    nodes.drain()
    row = nodes.outbound()
    assert row.state == TransferState.FAILED
    assert "chunk 1 of this node's copy" in row.last_error
    assert "delivery.failed" in nodes.actions(VN)


def test_a_transfer_without_progress_fails_after_the_delivery_timeout(nodes: Nodes) -> None:
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])
    nodes.wire.fail = lambda _method, _target: True
    for _ in range(200):
        nodes.drain()
        row = nodes.outbound()
        if row.state == TransferState.FAILED:
            break
        nodes.advance(max(0.0, row.next_attempt_at - nodes.clock.now().timestamp()))
    assert row.state == TransferState.FAILED
    assert row.last_error.startswith("no chunk confirmed for 600 s (0 of 5 held)")


def test_a_group_address_sends_to_each_member_it_was_sealed_for(nodes: Nodes) -> None:
    package = nodes.seal([RU, ZA])
    assert nodes.evidence(VN).send(package, ["all"]) == (RU, ZA)
    nodes.drain()
    assert nodes.outbound(RU).state == nodes.outbound(ZA).state == TransferState.DELIVERED
    [za] = nodes.inbound(ZA)
    assert za.state == "complete"


# Refusals on the sending side --------------------------------------------------------------


def test_sending_to_a_participant_the_package_was_not_sealed_for_changes_nothing(
    nodes: Nodes,
) -> None:
    package = nodes.seal([RU])
    chain = package.custody_chain()
    with pytest.raises(InputError) as caught:
        nodes.evidence(VN).send(package, [ZA])
    assert caught.value.errors[0].field == "to"
    assert "za-npa-ca is not a recipient" in caught.value.errors[0].message
    assert package.custody_chain() == chain
    assert "evidence.sent" not in nodes.actions(VN)


def test_sending_twice_is_refused_until_the_first_transfer_failed(nodes: Nodes) -> None:
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])
    chain = package.custody_chain()
    with pytest.raises(InputError, match="already queued to ru-gp-ca"):
        nodes.evidence(VN).send(package, [RU])
    assert package.custody_chain() == chain


# Attacks on the receiving side, over its HTTP API ------------------------------------------


def _signed(nodes: Nodes, signer: str, method: str, target: str) -> dict[str, str]:
    node = nodes.open[signer]
    token = sign_request(
        participant=signer,
        key=node.keys.signing,
        audience=RU,
        method=method,
        target=target,
        now=nodes.clock.now(),
    )
    return {AUTH_HEADER: token}


def _call(
    nodes: Nodes, signer: str | None, method: str, target: str, body: bytes = b""
) -> httpx.Response:
    headers = _signed(nodes, signer, method, target) if signer else {}
    client = nodes.wire.apps[nodes.local.nodes[RU].url]

    async def go() -> httpx.Response:
        return await client.request(method, target, content=body, headers=headers)

    return asyncio.run(go())


def _offered(nodes: Nodes) -> tuple[Package, Offer, str]:
    """A package sent to RU whose offer RU accepted (no chunk sent yet)."""
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])
    offer = Offer.from_json(nodes.outbound().offer)
    package_id = nodes.outbound().package_id
    answer = _call(nodes, VN, "POST", f"{EVIDENCE_PATH}/{package_id}/offer", offer.to_json())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"state": "receiving", "chunks": 5, "held": 0, "missing": [[0, 5]]}
    return package, offer, package_id


def _manifest(package: Package) -> Manifest:
    payload = package.manifest_token().split(b".")[1].decode()
    return Manifest.model_validate(json.loads(b64url_decode(payload)))


def _chunk(package: Package, index: int) -> bytes:
    chunk = Plan.of(_manifest(package)).chunks[index]
    return package.read_blob(chunk.blob, chunk.offset, chunk.length)


def test_a_substituted_chunk_is_refused_and_not_kept(nodes: Nodes) -> None:
    package, _, package_id = _offered(nodes)
    answer = _call(nodes, VN, "PUT", f"{EVIDENCE_PATH}/{package_id}/chunks/1", _chunk(package, 2))
    assert answer.status_code == 422
    assert answer.json()["code"] == "evidence_chunk_rejected"
    assert "does not match its SHA-256 in the signed manifest" in answer.json()["message"]
    assert answer.json()["errors"][0]["rule"] == "chunk.sha256"
    assert nodes.held() == []


def test_a_replayed_chunk_and_a_replayed_offer_change_nothing(nodes: Nodes) -> None:
    package, offer, package_id = _offered(nodes)
    target = f"{EVIDENCE_PATH}/{package_id}/chunks/0"
    for _ in range(2):
        assert _call(nodes, VN, "PUT", target, _chunk(package, 0)).status_code == 200
    again = _call(nodes, VN, "POST", f"{EVIDENCE_PATH}/{package_id}/offer", offer.to_json())
    assert again.json()["missing"] == [[1, 5]]
    assert nodes.held() == [0]
    assert len(nodes.inbound()) == 1


def test_chunks_from_another_participant_are_refused(nodes: Nodes) -> None:
    package, _, package_id = _offered(nodes)
    target = f"{EVIDENCE_PATH}/{package_id}/chunks/0"
    answer = _call(nodes, ZA, "PUT", target, _chunk(package, 0))
    assert answer.status_code == 409
    assert "is being sent by vn-mps-247, not za-npa-ca" in answer.json()["message"]
    unsigned = _call(nodes, None, "PUT", target, _chunk(package, 0))
    assert unsigned.status_code == 401
    assert nodes.held() == []


def test_an_offer_to_a_node_that_is_not_a_recipient_is_refused(nodes: Nodes) -> None:
    package = nodes.seal([ZA])
    nodes.evidence(VN).send(package, [ZA])
    offer = nodes.outbound(ZA)
    answer = _call(nodes, VN, "POST", f"{EVIDENCE_PATH}/{offer.package_id}/offer", offer.offer)
    assert answer.status_code == 409
    assert "ru-gp-ca is not a recipient" in answer.json()["message"]
    assert nodes.inbound() == []


def test_an_offer_whose_custody_does_not_end_with_the_senders_sending_is_refused(
    nodes: Nodes,
) -> None:
    package = nodes.seal([RU])
    offer = Offer(package.manifest_token(), tuple(package.custody_chain()), package.directory())
    package_id = _manifest(package).package_id
    answer = _call(nodes, VN, "POST", f"{EVIDENCE_PATH}/{package_id}/offer", offer.to_json())
    assert answer.status_code == 409
    assert "ends with sealed by vn-mps-247, not with the sending" in answer.json()["message"]
    assert nodes.inbound() == []


def test_an_offer_of_another_manifest_under_a_known_id_is_refused(nodes: Nodes) -> None:
    _, offer, package_id = _offered(nodes)
    other = nodes.seal([RU], name="other")
    nodes.evidence(VN).send(other, [RU])
    forged = Offer.from_json(
        next(r for r in _outbound_rows(nodes) if r.package_id != package_id).offer
    )
    target = f"{EVIDENCE_PATH}/{package_id}/offer"
    answer = _call(nodes, VN, "POST", target, forged.to_json())
    assert answer.status_code == 409
    assert "the offer is for package" in answer.json()["message"]
    assert offer.manifest != forged.manifest
    [row] = nodes.inbound()
    assert row.manifest_sha256 == digest(offer.manifest)


def _outbound_rows(nodes: Nodes) -> list[Row[Any]]:
    with nodes.open[VN].read_engine.connect() as connection:
        return list(connection.execute(select(evidence_outbound)).all())


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        (b"[]", "offer"),
        (b'{"manifest": "", "custody": [], "directory": "{}"}', "manifest"),
        (b'{"manifest": "a.b.c", "custody": [1], "directory": "{}"}', "custody"),
        (b'{"manifest": "a.b.c", "custody": ["x"], "directory": "{}", "extra": 1}', "extra"),
    ],
)
def test_a_malformed_offer_names_the_field(nodes: Nodes, body: bytes, field_name: str) -> None:
    answer = _call(nodes, VN, "POST", f"{EVIDENCE_PATH}/0193-abc/offer", body)
    assert answer.status_code == 422
    assert field_name in [e["field"] for e in answer.json()["errors"]]
    assert nodes.inbound() == []


def test_an_oversized_chunk_is_refused_before_it_is_read_whole(nodes: Nodes) -> None:
    _, _, package_id = _offered(nodes)
    target = f"{EVIDENCE_PATH}/{package_id}/chunks/0"
    answer = _call(nodes, VN, "PUT", target, b"\0" * (CHUNK_BYTES + 1))
    assert answer.status_code == 413
    assert nodes.held() == []


def test_a_chunk_index_outside_the_manifest_is_refused(nodes: Nodes) -> None:
    _package, _, package_id = _offered(nodes)
    answer = _call(nodes, VN, "PUT", f"{EVIDENCE_PATH}/{package_id}/chunks/5", b"x")
    assert answer.status_code == 422
    assert "chunk 5 does not exist: the package has 5 chunks" in answer.json()["message"]
    assert nodes.held() == []


def test_a_package_id_that_is_not_a_folder_name_is_refused(nodes: Nodes) -> None:
    answer = _call(nodes, VN, "POST", f"{EVIDENCE_PATH}/..%2F..%2Fetc/offer", b"{}")
    assert answer.status_code in (404, 422)
    assert nodes.inbound() == []


def test_completion_before_every_chunk_is_held_names_the_missing_ones(nodes: Nodes) -> None:
    package, _, package_id = _offered(nodes)
    _call(nodes, VN, "PUT", f"{EVIDENCE_PATH}/{package_id}/chunks/0", _chunk(package, 0))
    answer = _call(nodes, VN, "POST", f"{EVIDENCE_PATH}/{package_id}/complete")
    assert answer.status_code == 409
    assert "1 of 5 chunks are held; missing 1..4" in answer.json()["message"]
    [row] = nodes.inbound()
    assert row.state == "receiving"
    assert row.receipt is None


def test_a_node_without_room_refuses_the_offer_and_the_sender_retries(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])

    class Full:
        free = 1024

    monkeypatch.setattr("accord.evidence.inbound.shutil.disk_usage", lambda _path: Full)
    nodes.drain()
    row = nodes.outbound()
    assert row.state == TransferState.RETRYING
    assert "HTTP 507 insufficient_storage" in row.last_error
    assert nodes.inbound() == []


def test_a_receiver_that_forgets_confirmed_chunks_does_not_keep_the_sender_looping(
    nodes: Nodes,
) -> None:
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])
    real = nodes.wire.request

    async def amnesiac(*args: Any) -> PeerResponse:
        answer = await real(*args)
        if args[1].endswith("/offer"):
            forgot = {"state": "receiving", "chunks": 5, "held": 0, "missing": [[0, 5]]}
            return PeerResponse(200, json.dumps(forgot).encode())
        return answer

    nodes.wire.request = amnesiac  # type: ignore[method-assign]
    nodes.drain()
    row = nodes.outbound()
    assert row.state == TransferState.RETRYING
    assert row.last_error == "ru-gp-ca still lacks chunks it confirmed or was sent"
    assert len(nodes.wire.puts()) == 5  # one round, not an endless one


def test_an_offer_with_a_directory_the_stewards_did_not_sign_is_refused(nodes: Nodes) -> None:
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])
    row = nodes.outbound()
    offer = Offer.from_json(row.offer)
    forged = Offer(offer.manifest, offer.custody, b'{"payload": "", "signatures": []}')
    target = f"{EVIDENCE_PATH}/{row.package_id}/offer"
    answer = _call(nodes, VN, "POST", target, forged.to_json())
    assert answer.status_code == 409
    assert "is not one this federation's stewards signed" in answer.json()["message"]
    assert nodes.inbound() == []


@pytest.mark.parametrize("fault", ["disk full", "short writes"])
def test_a_chunk_write_that_fails_or_writes_short_never_yields_a_receipt_for_gaps(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])
    real = os.pwrite

    def pwrite(fd: int, data: bytes | memoryview, offset: int) -> int:
        if fault == "disk full" and offset == 2 * CHUNK_BYTES:
            raise OSError(28, "No space left on device")
        return real(fd, data[: max(1, len(data) // 2)], offset)  # at most half per call

    monkeypatch.setattr("accord.evidence.inbound.os.pwrite", pwrite)
    nodes.drain()
    if fault == "disk full":
        row = nodes.outbound()
        assert row.state == TransferState.RETRYING
        assert "HTTP 507 insufficient_storage" in row.last_error
        assert 2 not in nodes.held()
        monkeypatch.setattr("accord.evidence.inbound.os.pwrite", real)
        nodes.advance(row.next_attempt_at - nodes.clock.now().timestamp())
        nodes.drain()
    assert nodes.outbound().state == TransferState.DELIVERED
    [inbound] = nodes.inbound()
    received = Inbound(Federation(nodes.open[RU])).received_package(inbound.package_id)
    keys = Federation(nodes.open[RU]).directory().signing_key
    verify_package(received, keys, identity=nodes.open[RU].keys.encryption)  # no gaps


def test_a_sending_lost_from_the_package_by_a_crash_is_recorded_before_the_transfer(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = nodes.seal([RU])
    before = package.custody_chain()
    # The process dies after the transfer is committed, before the custody line is written.
    monkeypatch.setattr("accord.evidence.service.record_sending", lambda *_: None)
    nodes.evidence(VN).send(package, [RU])
    assert package.custody_chain() == before
    nodes.drain()
    keys = Federation(nodes.open[VN]).directory().signing_key
    mine = read_custody(package, keys)[1]
    assert [r.event for r in mine] == [Event.ACQUIRED, Event.SEALED, Event.SENT]
    assert nodes.outbound().state == TransferState.DELIVERED


# Abandoned transfers --------------------------------------------------------------------------


def _expiry(nodes: Nodes) -> float:
    return nodes.open[RU].settings.evidence_incoming_expiry


def _receiver(nodes: Nodes) -> Inbound:
    return Inbound(Federation(nodes.open[RU]))


def test_an_abandoned_transfer_is_discarded_audited_and_can_start_again(nodes: Nodes) -> None:
    package, _, package_id = _offered(nodes)
    put = _call(nodes, VN, "PUT", f"{EVIDENCE_PATH}/{package_id}/chunks/0", _chunk(package, 0))
    assert put.status_code == 200
    receiver = _receiver(nodes)
    folder = receiver.incoming(package_id)
    nodes.advance(_expiry(nodes) - 1)
    assert receiver.expire() == []  # silent, but not for long enough yet
    assert folder.is_dir()

    nodes.advance(2)
    assert receiver.expire() == [package_id]
    assert (nodes.inbound(), nodes.held()) == ([], [])
    assert not folder.exists()
    assert nodes.actions(RU)[-1] == "evidence.incoming_expired"
    assert receiver.expire() == []  # once

    # A chunk after the expiry is refused as not offered, and recreates nothing.
    late = _call(nodes, VN, "PUT", f"{EVIDENCE_PATH}/{package_id}/chunks/1", _chunk(package, 1))
    assert late.status_code == 409
    assert late.json()["code"] == "evidence_transfer_incomplete"
    assert "its transfer expired unfinished" in late.json()["message"]
    assert (nodes.inbound(), folder.exists()) == ([], False)

    # The sender gave up long before (the expiry exceeds its delivery timeout); sending again
    # offers the package afresh and delivers it whole.
    nodes.drain()
    assert nodes.outbound().state == TransferState.FAILED
    assert nodes.outbound().last_error.startswith("no chunk confirmed for 600 s")
    nodes.wire.log.clear()
    assert nodes.evidence(VN).send(package, [RU]) == (RU,)
    nodes.drain()
    assert nodes.outbound().state == TransferState.DELIVERED
    assert sorted(index for index, _ in nodes.wire.puts()) == ["0", "1", "2", "3", "4"]
    assert [row.state for row in nodes.inbound()] == ["complete"]


def test_each_offer_or_chunk_postpones_the_expiry(nodes: Nodes) -> None:
    package, offer, package_id = _offered(nodes)
    receiver = _receiver(nodes)
    nodes.advance(_expiry(nodes) - 10)
    target = f"{EVIDENCE_PATH}/{package_id}/chunks/0"
    assert _call(nodes, VN, "PUT", target, _chunk(package, 0)).status_code == 200
    nodes.advance(20)
    assert receiver.expire() == []
    nodes.advance(_expiry(nodes) - 10)
    again = _call(nodes, VN, "POST", f"{EVIDENCE_PATH}/{package_id}/offer", offer.to_json())
    assert again.json()["held"] == 1
    nodes.advance(20)
    assert receiver.expire() == []
    assert nodes.held() == [0]


def test_a_chunk_arriving_while_the_expiry_decides_keeps_the_transfer(nodes: Nodes) -> None:
    package, _, package_id = _offered(nodes)
    receiver = _receiver(nodes)
    [stale] = nodes.inbound()
    nodes.advance(_expiry(nodes) + 1)
    target = f"{EVIDENCE_PATH}/{package_id}/chunks/0"
    assert _call(nodes, VN, "PUT", target, _chunk(package, 0)).status_code == 200
    now = nodes.clock.now()
    job = receiver._expire_job(stale, now.timestamp() - _expiry(nodes), now)  # read before
    assert nodes.open[RU].writer.run(job) is False
    assert nodes.held() == [0]
    assert "evidence.incoming_expired" not in nodes.actions(RU)


def test_a_received_package_never_expires(nodes: Nodes) -> None:
    package = nodes.seal([RU])
    nodes.evidence(VN).send(package, [RU])
    nodes.drain()
    [row] = nodes.inbound()
    nodes.advance(10 * _expiry(nodes))
    receiver = _receiver(nodes)
    assert receiver.expire() == []
    assert receiver.received_package(row.package_id).manifest_token()
    assert [r.state for r in nodes.inbound()] == ["complete"]


def test_a_folder_left_without_its_row_by_a_crash_is_removed(nodes: Nodes) -> None:
    _, _, package_id = _offered(nodes)
    receiver = _receiver(nodes)
    now = nodes.open[RU].clock.now().timestamp()
    orphan = receiver.incoming("0f" * 16)  # its row deleted, the process killed before rmtree
    # another process's offer, its folder made and its row not yet committed
    preparing = receiver.incoming("1e" * 16)
    for folder, changed in ((orphan, now - _expiry(nodes) - 1), (preparing, now)):
        (folder / "files").mkdir(parents=True)
        (folder / "files" / "000001.age").write_bytes(b"partial")
        os.utime(folder, (changed, changed))
    assert receiver.expire() == []
    assert not orphan.exists()
    assert preparing.is_dir()  # younger than the expiry: left to the process preparing it
    assert receiver.incoming(package_id).is_dir()  # a live transfer's folder stays


def test_a_running_node_sweeps_abandoned_transfers_from_its_start(nodes: Nodes) -> None:
    _, _, package_id = _offered(nodes)
    nodes.advance(_expiry(nodes) + 1)
    receiver = _receiver(nodes)
    app = create_app(Federation(nodes.open[RU]))

    async def serve_briefly() -> None:
        async with app.router.lifespan_context(app):  # what `accord serve` runs around the app
            for _ in range(200):
                if not receiver.incoming(package_id).exists():
                    return
                await asyncio.sleep(0.05)

    asyncio.run(serve_briefly())
    assert not receiver.incoming(package_id).exists()
    assert nodes.inbound() == []
    assert nodes.actions(RU)[-1] == "evidence.incoming_expired"
