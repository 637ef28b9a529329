"""Evidence delivered under a request (UNCC Art. 36; convention-procedures.md §8.4 invariant 8):
the package names the request and carries the reply's use limitations, and the requesting
node cannot seal what it received for anyone the requested State has not authorised; the
attempt is refused, audited, and leaves nothing behind."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from flows import agreed, audit, create, executing, shown, step
from nodes import BG, RU, VN, ZA, Nodes
from sqlalchemy import select

from accord.db.schema import evidence_outbound, evidence_received_files
from accord.errors import OnwardTransferBlocked, RequestNotFound
from accord.evidence.inbound import Inbound
from accord.evidence.models import Acquisition, Manifest
from accord.evidence.package import Package
from accord.evidence.seal import collect
from accord.evidence.service import Evidence
from accord.evidence.transfer import Plan
from accord.evidence.verify import read_custody
from accord.federation.service import Federation

LIMITATION = "Only for the prosecution in case VN-C50-2026-117; not as evidence elsewhere."
ACQUISITION = Acquisition(
    acquired_by="Maj. I. Sokolov",
    acquired_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
    method="production order to the hosting provider",
    tool="provider export",
    source="hosting provider, contract 2026/114",
)


def _seal(
    nodes: Nodes,
    pid: str,
    files: dict[str, bytes],
    to: list[str],
    out: Path,
    *,
    request_id: str | None = None,
    limitations: tuple[str, ...] = (),
) -> Manifest:
    source = out.parent / f"{out.name}-files"
    source.mkdir()
    for name, data in files.items():
        (source / name).write_bytes(data)
    return Evidence(nodes.open[pid]).seal(
        collect([source]),
        case="VN-C50-2026-117",
        to=to,
        acquisition=ACQUISITION,
        use_limitations=limitations,
        out=out,
        progress=lambda _: None,
        request_id=request_id,
    )


def _hand_over(nodes: Nodes, sender: str, recipient: str, package: Path) -> None:
    """Send through the sender's evidence service and receive through the recipient's inbound
    side (what the HTTP routes call), every chunk, to the signed receipt."""
    evidence = Evidence(nodes.open[sender])
    evidence.send(Package(package), [recipient])
    manifest, _ = read_custody(Package(package), evidence.keys())
    with nodes.open[sender].read_engine.connect() as connection:
        row = connection.execute(
            select(evidence_outbound).where(
                evidence_outbound.c.package_id == manifest.package_id,
                evidence_outbound.c.recipient == recipient,
            )
        ).one()
    inbound = Inbound(Federation(nodes.open[recipient]))
    inbound.offer(sender, row.package_id, row.offer)
    for chunk in Plan.of(manifest).chunks:
        with (package / chunk.blob).open("rb") as handle:
            handle.seek(chunk.offset)
            inbound.put_chunk(sender, row.package_id, chunk.index, handle.read(chunk.length))
    assert inbound.complete(sender, row.package_id).count(".") == 2  # the signed receipt


@pytest.fixture
def delivered(nodes: Nodes, tmp_path: Path) -> tuple[Nodes, str, Manifest, Path]:
    """An MLA from VN executed by RU with a use limitation; RU's evidence under it, received
    and extracted on VN. Returns the request id, RU's manifest and VN's extracted folder."""
    rid = create(nodes, "mla")
    executing(nodes, rid)
    outcome = {"executed_items": ["server contract"], "use_limitations": [LIMITATION]}
    step(nodes, RU, rid, "execute", outcome)
    manifest = _seal(
        nodes,
        RU,
        {"contract.pdf": b"%PDF contract 2026/114"},
        [VN],
        tmp_path / "ru-pkg",
        request_id=rid,
    )
    _hand_over(nodes, RU, VN, tmp_path / "ru-pkg")
    received = Inbound(Federation(nodes.open[VN])).received(manifest.package_id)
    Evidence(nodes.open[VN]).extract(Package(received), tmp_path / "vn-out", lambda _: None)
    return nodes, rid, manifest, tmp_path / "vn-out"


def test_a_package_sealed_under_a_request_names_it_and_carries_the_replys_limitations(
    delivered: tuple[Nodes, str, Manifest, Path],
) -> None:
    nodes, rid, manifest, _ = delivered
    assert manifest.request_id == rid
    assert manifest.use_limitations == (LIMITATION,)
    with nodes.open[VN].read_engine.connect() as connection:
        [row] = connection.execute(select(evidence_received_files)).all()
    assert (row.package_id, row.origin, row.request_id) == (manifest.package_id, RU, rid)
    assert row.sha256 == manifest.files[0].sha256
    assert json.loads(row.limitations) == [LIMITATION]


def test_sealing_received_data_for_a_third_participant_is_refused_audited_and_leaves_nothing(
    delivered: tuple[Nodes, str, Manifest, Path], tmp_path: Path
) -> None:
    nodes, rid, manifest, extracted = delivered
    before = audit(nodes, VN)
    out = tmp_path / "to-za"
    with pytest.raises(OnwardTransferBlocked) as caught:
        Evidence(nodes.open[VN]).seal(
            collect([extracted]),
            case="VN-C50-2026-117",
            to=[ZA],
            acquisition=ACQUISITION,
            use_limitations=(),
            out=out,
            progress=lambda _: None,
        )
    error = caught.value
    assert f"supplied in package {manifest.package_id} under request {rid}" in error.message
    assert "UNCC Art. 36" in error.message
    assert [(e.field, e.rule, e.article) for e in error.errors] == [
        ("to", "onward_authorisation_required", "Art. 36")
    ]
    assert LIMITATION in error.errors[0].message
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert audit(nodes, VN) == [*before, ("evidence.forward_refused", manifest.package_id)]


def test_sending_back_to_the_supplying_state_is_allowed_and_the_limitations_travel(
    delivered: tuple[Nodes, str, Manifest, Path], tmp_path: Path
) -> None:
    nodes, _, _, extracted = delivered
    back = _seal_dir(nodes, extracted, [RU], tmp_path / "back")
    assert back.use_limitations == (LIMITATION,)


def _authorised(
    delivered: tuple[Nodes, str, Manifest, Path], *recipients: str
) -> tuple[Nodes, str, Manifest, Path]:
    """VN ingests the evidence; RU authorises onward transfer to each of ``recipients``."""
    nodes, rid = delivered[:2]
    step(nodes, VN, rid, "ingest")
    for pid in recipients:
        step(nodes, RU, rid, "authorise_onward", {"recipient": pid})
    return delivered


def test_the_requested_states_authorisation_opens_the_way_for_that_participant_only(
    delivered: tuple[Nodes, str, Manifest, Path], tmp_path: Path
) -> None:
    nodes, rid, _, extracted = _authorised(delivered, ZA)
    onward = _seal_dir(nodes, extracted, [ZA], tmp_path / "to-za")
    assert onward.recipients == (ZA, VN)
    assert onward.use_limitations == (LIMITATION,)  # ZA is bound as VN is
    before = audit(nodes, VN)
    with pytest.raises(OnwardTransferBlocked):
        _seal_dir(nodes, extracted, [ZA, BG], tmp_path / "to-za-bg")
    assert not (tmp_path / "to-za-bg").exists()
    assert audit(nodes, VN)[len(before) :] == [("evidence.forward_refused", ANY)]
    assert shown(nodes, VN, rid)["state"]["forwarded_to"] == [ZA]  # the refused one is not


def test_an_authorised_seal_is_a_forward_on_the_request_that_the_supplying_state_sees(
    delivered: tuple[Nodes, str, Manifest, Path], tmp_path: Path
) -> None:
    """UNCC Art. 36(3): each use of the authorisation is recorded on the request, committed
    with the seal, once per recipient however many of its files the package holds."""
    nodes, rid, _, extracted = _authorised(delivered, ZA, BG)
    [original] = (p for p in extracted.rglob("*") if p.is_file())
    (extracted / "copy.pdf").write_bytes(original.read_bytes())
    before = audit(nodes, VN)
    onward = _seal_dir(nodes, extracted, [ZA, BG, RU], tmp_path / "onward")
    recorded = audit(nodes, VN)[len(before) :]
    assert [row for row in recorded if row[0] != "message.sent"] == [
        ("evidence.sealed", onward.package_id),
        ("request.event", rid),
        ("request.event", rid),
    ]
    assert [action for action, _ in recorded].count("message.sent") == 2  # to RU, one each
    nodes.settle()
    state = agreed(nodes, rid)  # RU, which authorised it, holds the same record
    assert state["forwarded_to"] == [ZA, BG]  # RU supplied the data: sending it back is none
    kinds = [(e["kind"], e["payload"]) for e in shown(nodes, RU, rid)["events"]]
    assert kinds[-2:] == [("forward", {"recipient": ZA}), ("forward", {"recipient": BG})]


def test_a_forward_the_request_no_longer_allows_refuses_the_seal(
    delivered: tuple[Nodes, str, Manifest, Path], tmp_path: Path
) -> None:
    nodes, rid, manifest, extracted = _authorised(delivered, ZA)
    step(nodes, VN, rid, "close")
    before = audit(nodes, VN)
    with pytest.raises(OnwardTransferBlocked) as caught:
        _seal_dir(nodes, extracted, [ZA], tmp_path / "to-za")
    message = caught.value.message
    assert f"under request {rid}; sealing it for {ZA} is a forward on that request" in message
    assert "CLOSED" in message
    assert caught.value.errors  # the request machine's own field errors
    assert not (tmp_path / "to-za").exists()
    assert audit(nodes, VN) == [*before, ("evidence.forward_refused", manifest.package_id)]


def test_a_seal_whose_forward_cannot_be_stored_leaves_no_package_and_no_event(
    delivered: tuple[Nodes, str, Manifest, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes, rid, _, extracted = _authorised(delivered, ZA)
    before, events = audit(nodes, VN), shown(nodes, VN, rid)["events"]

    def full(_job: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nodes.open[VN].writer, "run", full)
    with pytest.raises(OSError, match="No space left"):
        _seal_dir(nodes, extracted, [ZA], tmp_path / "to-za")
    monkeypatch.undo()
    assert not (tmp_path / "to-za").exists()
    assert (audit(nodes, VN), shown(nodes, VN, rid)["events"]) == (before, events)


def test_a_package_listed_in_the_reply_is_bound_by_it_without_naming_the_request(
    nodes: Nodes, tmp_path: Path
) -> None:
    rid = create(nodes, "mla")
    executing(nodes, rid)
    manifest = _seal(nodes, RU, {"log.txt": b"access log"}, [VN], tmp_path / "ru-pkg")
    assert (manifest.request_id, manifest.use_limitations) == (None, ())
    _hand_over(nodes, RU, VN, tmp_path / "ru-pkg")
    # not limited yet: the reply that binds it has not come
    _seal(nodes, VN, {"log.txt": b"access log"}, [BG], tmp_path / "before-reply")
    outcome = {
        "executed_items": ["access log"],
        "use_limitations": [LIMITATION],
        "evidence_packages": [manifest.package_id],
    }
    step(nodes, RU, rid, "execute", outcome)
    with pytest.raises(OnwardTransferBlocked) as caught:
        _seal(nodes, VN, {"log.txt": b"access log"}, [ZA], tmp_path / "after-reply")
    assert f"under request {rid}" in caught.value.message


def test_data_received_without_limitations_and_changed_bytes_are_not_restricted(
    nodes: Nodes, tmp_path: Path
) -> None:
    free = _seal(nodes, RU, {"a.txt": b"public notice"}, [VN], tmp_path / "free")
    limited = _seal(
        nodes, RU, {"b.txt": b"secret"}, [VN], tmp_path / "limited", limitations=(LIMITATION,)
    )
    for package in (free, limited):
        _hand_over(nodes, RU, VN, tmp_path / ("free" if package is free else "limited"))
    assert _seal(nodes, VN, {"a.txt": b"public notice"}, [ZA], tmp_path / "x").use_limitations == ()
    with pytest.raises(OnwardTransferBlocked):
        _seal(nodes, VN, {"b.txt": b"secret"}, [ZA], tmp_path / "y")
    # the screen matches bytes; ADR 0011 says why the limitation still binds the reader
    assert _seal(nodes, VN, {"b.txt": b"secret."}, [ZA], tmp_path / "z").use_limitations == ()


def test_the_same_bytes_received_again_without_limitations_do_not_lift_them(
    nodes: Nodes, tmp_path: Path
) -> None:
    """A second package with identical bytes, from another participant and without
    limitations (replayed or laundered), leaves the first package's terms in force."""
    _seal(nodes, RU, {"b.txt": b"secret"}, [VN], tmp_path / "ru", limitations=(LIMITATION,))
    _hand_over(nodes, RU, VN, tmp_path / "ru")
    _seal(nodes, ZA, {"copy.txt": b"secret"}, [VN, BG], tmp_path / "za")
    _hand_over(nodes, ZA, VN, tmp_path / "za")
    with pytest.raises(OnwardTransferBlocked) as caught:
        _seal(nodes, VN, {"b.txt": b"secret"}, [BG], tmp_path / "to-bg")
    assert f"{RU} supplied" in caught.value.message
    assert not (tmp_path / "to-bg").exists()


def test_sealing_under_an_unknown_request_is_refused_before_anything_is_written(
    nodes: Nodes, tmp_path: Path
) -> None:
    with pytest.raises(RequestNotFound):
        _seal(nodes, RU, {"a.txt": b"x"}, [VN], tmp_path / "pkg", request_id="no-such-request")
    assert not (tmp_path / "pkg").exists()


def _seal_dir(nodes: Nodes, folder: Path, to: list[str], out: Path) -> Manifest:
    return Evidence(nodes.open[VN]).seal(
        collect([folder]),
        case="VN-C50-2026-117",
        to=to,
        acquisition=ACQUISITION,
        use_limitations=(),
        out=out,
        progress=lambda _: None,
    )
