"""``accord evidence send`` and ``transfers`` end to end between running nodes: VN seals a
package for RU and ZA and sends it; RU's node receives, verifies and signs a receipt; RU's
copy verifies offline and extracts; ZA is down, so its transfer waits and says why; sending
again, to a stranger or a missing package is refused and changes nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from accord.demo.federation import LocalFederation, _stewards
from accord.evidence.models import CHUNK_BYTES

from .helpers import RU, VN, ZA, Accord, Run, db_path, query, refused, start_all, wait_until

pytestmark = pytest.mark.slow


@dataclass
class Sent:
    accord: Accord
    federation: LocalFederation
    folder: Path
    package: Path
    package_id: str
    data: bytes
    send: Run  # `accord evidence send --to RU`, delivered before the tests run

    def home(self, node_id: str) -> str:
        return str(self.federation.nodes[node_id].home)

    def transfers(self, node_id: str) -> list[dict[str, object]]:
        run = self.accord.ok("evidence", "transfers", "--json", "--dir", self.home(node_id))
        rows: list[dict[str, object]] = json.loads(run.stdout)
        return rows


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    folder = tmp_path_factory.mktemp("evidence-transfer")
    federation = LocalFederation.create(folder / "nodes", [VN, RU, ZA], {})
    (folder / "stewards.json").write_text(_stewards(federation).model_dump_json())
    accord = Accord(folder, federation.nodes[VN.id].env["ACCORD_PASSPHRASE"])
    data = os.urandom(2 * CHUNK_BYTES + 12345)
    (folder / "evidence").mkdir()
    (folder / "evidence" / "выписка.bin").write_bytes(data)
    vn = str(federation.nodes[VN.id].home)
    run = accord.ok(
        "evidence", "seal", str(folder / "evidence"), "--case", "HN-2026-0042",
        "--to", f"{RU.id},{ZA.id}", "--out", str(folder / "pkg"),
        "--acquired-by", "Lt. Nguyễn Văn An", "--acquired-at", "2026-11-23T08:15:00Z",
        "--method", "export under warrant 17/2026", "--tool", "accord-imager 1.2",
        "--source", "mailbox of account 42", "--dir", vn,
    )  # fmt: skip
    package_id = run.out.split("as package ")[1].split()[0]
    start_all([federation.nodes[VN.id], federation.nodes[RU.id]])
    try:
        send = accord.ok("evidence", "send", str(folder / "pkg"), "--to", RU.id, "--dir", vn)

        def delivered() -> bool:
            rows = query(db_path(federation.nodes[VN.id]), "SELECT state FROM evidence_outbound")
            return [row["state"] for row in rows] == ["delivered"]

        wait_until(delivered, "the package to be delivered to RU")
        yield Sent(accord, federation, folder, folder / "pkg", package_id, data, send)
    finally:
        federation.stop()


def test_send_delivers_to_the_running_recipient_with_a_receipt(sent: Sent) -> None:
    assert f"queued {sent.package} to {RU.id}" in sent.send.out, sent.send
    [out] = [row for row in sent.transfers(VN.id) if row["peer"] == RU.id]
    assert (out["direction"], out["peer"], out["state"]) == ("out", RU.id, "delivered")
    assert out["chunks_held"] == out["chunks_total"] == 3
    assert str(out["receipt"]).count(".") == 2  # a compact JWS
    [arrived] = sent.transfers(RU.id)
    assert (arrived["direction"], arrived["peer"], arrived["state"]) == ("in", VN.id, "complete")
    assert arrived["receipt"] == out["receipt"]
    table = sent.accord.ok("evidence", "transfers", "--dir", sent.home(RU.id))
    cells = [c.strip() for c in table.stdout.split("│")]
    at = cells.index(sent.package_id)
    assert cells[at - 1 : at + 4] == ["from", sent.package_id, VN.id, "complete", "3/3"], table

    received = str(arrived["detail"])
    anchor = ["--stewards", str(sent.folder / "stewards.json")]
    custody = sent.accord.ok("evidence", "custody", received, *anchor)
    cells = [c.strip() for c in custody.stdout.split("│")]
    for seq, event, actor in (
        ("2", "sent", VN.id),
        ("3", "received", RU.id),
        ("4", "verified", RU.id),
    ):
        at = cells.index(event)
        assert (cells[at - 1], cells[at + 1]) == (seq, actor), custody
    assert "5 records, each signed and linked to the one before: OK" in custody.out, custody
    assert f"to={RU.id}" in custody.out, custody
    out_dir = sent.folder / "ru-out"
    sent.accord.ok("evidence", "extract", received, "--out", str(out_dir), "--dir",
                   sent.home(RU.id))  # fmt: skip
    assert (out_dir / "evidence" / "выписка.bin").read_bytes() == sent.data
    actions = [
        row["action"]
        for row in query(db_path(sent.federation.nodes[RU.id]), "SELECT action FROM audit_records")
    ]
    assert "evidence.received" in actions
    assert "evidence.extracted" in actions


def test_a_recipient_that_is_down_is_retried_and_says_why(sent: Sent) -> None:
    sent.accord.ok("evidence", "send", str(sent.package), "--to", ZA.id, "--dir", sent.home(VN.id))

    def waiting() -> dict[str, object] | None:
        rows = [r for r in sent.transfers(VN.id) if r["peer"] == ZA.id]
        return rows[0] if rows and str(rows[0]["detail"]).startswith("peer unreachable") else None

    row = wait_until(waiting, "the transfer to ZA to record why it waits")
    assert row["state"] in ("retrying", "sending")
    assert row["chunks_held"] == 0


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--to", RU.id], f"already delivered to {RU.id}"),
        (["--to", "xx-stranger"], "xx-stranger"),
        (["--to", VN.id], "names no other recipient"),
    ],
)
def test_refused_sends_change_nothing(sent: Sent, argv: list[str], says: str) -> None:
    custody = (sent.package / "custody.jws").read_bytes()
    queued = "SELECT package_id, recipient, created_at, offer FROM evidence_outbound ORDER BY 2"
    before = query(db_path(sent.federation.nodes[VN.id]), queued)
    (run,) = sent.accord.many(
        ["evidence", "send", str(sent.package), *argv, "--dir", sent.home(VN.id)]
    )
    refused(run, says)
    assert (sent.package / "custody.jws").read_bytes() == custody
    after = query(db_path(sent.federation.nodes[VN.id]), queued)
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


def test_sending_a_folder_that_is_not_a_package_is_refused(sent: Sent) -> None:
    (run,) = sent.accord.many(
        ["evidence", "send", str(sent.folder / "evidence"), "--dir", sent.home(VN.id)]
    )
    refused(run, "is not a complete evidence package")
