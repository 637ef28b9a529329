"""After the transfer: a holder opens, exports and disposes of a package (custody events
``opened``, ``exported``, ``disposed``), each recorded in the package's chain of custody and in
the node's audit log, both or neither; bad input and failures change nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_evidence_package import ACQUISITION

from accord.clock import FixedClock
from accord.db.schema import audit_records
from accord.demo.federation import LocalFederation, NodeSpec
from accord.errors import EvidenceError, InputError, PackageDisposed, PackageTampered
from accord.evidence import service as service_module
from accord.evidence.models import Event
from accord.evidence.package import Package
from accord.evidence.seal import collect
from accord.evidence.service import Evidence
from accord.evidence.verify import read_custody, verify_package
from accord.identity.models import Role
from accord.node.home import Node

VN, RU = "vn-mps-247", "ru-gp-ca"
SPECS = [
    NodeSpec(VN, "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en")),
    NodeSpec(RU, "Russian Federation CA", "RU", (Role.CENTRAL_AUTHORITY,), ("ru", "en")),
]
FILES = {"mail.mbox": b"From: a@example.org\n" * 5000, "notes.txt": "изъято".encode()}


@dataclass
class World:
    nodes: dict[str, Node]
    package: Package  # RU's copy of a package VN sealed to RU
    tmp: Path

    def evidence(self, participant: str = RU) -> Evidence:
        return Evidence(self.nodes[participant])

    def chain(self, package: Package | None = None) -> list[tuple[Event, str]]:
        keys = self.evidence().keys()
        return [(r.event, r.actor) for r in read_custody(package or self.package, keys)[1]]

    def actions(self, participant: str = RU) -> list[str]:
        with self.nodes[participant].read_engine.connect() as connection:
            return list(connection.scalars(select(audit_records.c.action)))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    local = LocalFederation.create(tmp_path / "federation", SPECS, {})
    clock = FixedClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    nodes = {pid: local.nodes[pid].open(clock) for pid in (VN, RU)}
    source = tmp_path / "evidence"
    source.mkdir()
    for name, data in FILES.items():
        (source / name).write_bytes(data)
    sealed = tmp_path / "sealed"
    Evidence(nodes[VN]).seal(
        collect([source]),
        case="HN-2026-0042",
        to=[RU],
        acquisition=ACQUISITION,
        use_limitations=(),
        out=sealed,
        progress=lambda _: None,
    )
    copy = tmp_path / "ru-copy"
    shutil.copytree(sealed, copy)
    try:
        yield World(nodes, Package(copy), tmp_path)
    finally:
        for node in nodes.values():
            node.close()


def _failing_audit(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(_job: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(world.nodes[RU].writer, "run", fail)


def test_opening_checks_every_plaintext_and_is_recorded(world: World) -> None:
    before = sorted(p.name for p in world.tmp.iterdir())
    verified = world.evidence().open(world.package, lambda _: None)
    assert verified.decrypted
    assert world.chain()[-1] == (Event.OPENED, RU)
    assert world.actions()[-1] == "evidence.opened"
    assert sorted(p.name for p in world.tmp.iterdir()) == before  # nothing written


def test_opening_a_tampered_package_records_nothing(world: World) -> None:
    blob = world.package.root / "files" / "000001.age"
    data = bytearray(blob.read_bytes())
    data[-5] ^= 1
    blob.write_bytes(bytes(data))
    chain = world.package.custody_chain()
    with pytest.raises(PackageTampered):
        world.evidence().open(world.package, lambda _: None)
    assert world.package.custody_chain() == chain
    assert "evidence.opened" not in world.actions()


def test_an_export_is_a_verified_copy_recorded_in_both_chains(world: World) -> None:
    out = world.tmp / "for-court"
    purpose = "Hanoi People's Court, case 42/2026:   hearing of 2 December"
    world.evidence().export(world.package, out, purpose, lambda _: None)
    copy = Package(out)
    assert verify_package(copy, world.evidence().keys()).manifest.package_id
    assert copy.custody_chain() == world.package.custody_chain()  # the same signed records
    records = read_custody(copy, world.evidence().keys())[1]
    assert (records[-1].event, records[-1].actor) == (Event.EXPORTED, RU)
    assert records[-1].details == {
        "to": str(out),
        "purpose": "Hanoi People's Court, case 42/2026: hearing of 2 December",
    }
    for name in ("files/000001.age", "files/000002.age", "manifest.jws", "directory.json"):
        assert (out / name).read_bytes() == (world.package.root / name).read_bytes()
    assert world.actions()[-1] == "evidence.exported"


@pytest.mark.parametrize("purpose", ["", "   ", "x" * 501])
def test_an_export_without_a_plain_purpose_changes_nothing(world: World, purpose: str) -> None:
    chain, out = world.package.custody_chain(), world.tmp / "copy"
    with pytest.raises(InputError) as caught:
        world.evidence().export(world.package, out, purpose, lambda _: None)
    assert [(e.field, e.rule) for e in caught.value.errors] == [("purpose", "length")]
    assert (world.package.custody_chain(), out.exists()) == (chain, False)


def test_an_export_over_an_existing_folder_changes_nothing(world: World) -> None:
    chain, out = world.package.custody_chain(), world.tmp / "evidence"
    with pytest.raises(EvidenceError, match="already exists"):
        world.evidence().export(world.package, out, "archive", lambda _: None)
    assert world.package.custody_chain() == chain
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)


def test_an_export_whose_audit_record_fails_leaves_no_copy_and_no_record(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain, out = world.package.custody_chain(), world.tmp / "copy"
    _failing_audit(world, monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        world.evidence().export(world.package, out, "archive", lambda _: None)
    assert (world.package.custody_chain(), out.exists()) == (chain, False)
    assert not [p for p in world.tmp.iterdir() if p.name.startswith(".copy.")]


def test_disposal_deletes_the_files_and_keeps_the_chain(world: World) -> None:
    reason = "retention period ended (order 17/2026 of the prosecutor)"
    record = world.evidence().dispose(world.package, reason)
    assert (record.event, record.actor) == (Event.DISPOSED, RU)
    assert record.details == {
        "reason": reason,
        "files": "2",
        "bytes": str(sum(map(len, FILES.values()))),
    }
    assert sorted(p.name for p in world.package.root.iterdir()) == [
        "custody.jws",
        "directory.json",
        "manifest.jws",
    ]
    assert world.chain()[-1] == (Event.DISPOSED, RU)
    assert world.actions()[-1] == "evidence.disposed"
    message = "was disposed of by ru-gp-ca on 2026-11-24 09:00 UTC \\(retention period ended"
    with pytest.raises(PackageDisposed, match=message):
        verify_package(world.package, world.evidence().keys())
    with pytest.raises(PackageDisposed):
        world.evidence().open(world.package, lambda _: None)
    with pytest.raises(PackageDisposed):
        world.evidence().export(world.package, world.tmp / "copy", "archive", lambda _: None)
    assert not (world.tmp / "copy").exists()
    assert world.evidence().dispose(world.package, "again") == record  # recorded once
    assert world.actions().count("evidence.disposed") == 1


def test_a_disposal_cut_short_before_the_files_went_is_finished_by_the_next(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(_path: Path) -> None:
        raise KeyboardInterrupt  # the process stopped between the commit and the deletion

    monkeypatch.setattr(service_module.shutil, "rmtree", crash)
    with pytest.raises(KeyboardInterrupt):
        world.evidence().dispose(world.package, "retention period ended")
    assert (world.package.root / "files").is_dir()
    monkeypatch.undo()
    record = world.evidence().dispose(world.package, "")  # no new record, so no reason needed
    assert record.details["reason"] == "retention period ended"
    assert not (world.package.root / "files").exists()
    assert world.actions().count("evidence.disposed") == 1


def test_a_disposal_whose_audit_record_fails_deletes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = world.package.custody_chain()
    _failing_audit(world, monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        world.evidence().dispose(world.package, "retention period ended")
    assert world.package.custody_chain() == chain
    assert verify_package(world.package, world.evidence().keys()).custody


@pytest.mark.parametrize("reason", ["", " \n ", "y" * 501])
def test_a_disposal_without_a_plain_reason_changes_nothing(world: World, reason: str) -> None:
    chain = world.package.custody_chain()
    with pytest.raises(InputError) as caught:
        world.evidence().dispose(world.package, reason)
    assert [(e.field, e.rule) for e in caught.value.errors] == [("reason", "length")]
    assert world.package.custody_chain() == chain
    assert (world.package.root / "files").is_dir()


def test_a_package_being_sent_cannot_be_disposed_of_and_a_disposed_one_cannot_be_sent(
    world: World,
) -> None:
    sender = world.evidence(VN)
    sealed = Package(world.tmp / "sealed")
    assert sender.send(sealed, [RU]) == (RU,)
    chain = sealed.custody_chain()
    with pytest.raises(InputError, match="is being sent to ru-gp-ca"):
        sender.dispose(sealed, "retention period ended")
    assert (sealed.custody_chain(), (sealed.root / "files").is_dir()) == (chain, True)

    world.evidence().dispose(world.package, "retention period ended")
    with pytest.raises(PackageDisposed):
        world.evidence().send(world.package, [VN])
