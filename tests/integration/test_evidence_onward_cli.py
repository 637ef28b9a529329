"""UNCC Art. 36 end to end between running nodes, as operators meet it: VN asks RU for legal
assistance; RU executes it with a use limitation and seals the evidence under the request, so
the package names it and carries the limitation; VN receives and extracts it. Sealing those
files for South Africa is refused and audited and leaves nothing; once RU authorises ZA on the
request, the same seal succeeds, the limitation travels on and the seal is recorded as a forward
on the request, on both nodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.demo.cases import REGISTRY
from accord.demo.federation import LocalFederation, _stewards
from accord.identity.registry import read_registry
from accord.requests.validate import load

from .helpers import (
    RU,
    VN,
    ZA,
    Accord,
    db_path,
    query,
    refused,
    request_status,
    start_all,
    wait_until,
)

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).parents[2] / "examples" / "requests"
LIMITATION = "Only for the prosecution in case VN-C50-2026-117 (UNCC Art. 36)."
ACQUISITION = [
    "--acquired-by", "Maj. I. Sokolov", "--acquired-at", "2026-11-20T10:00:00Z",
    "--method", "production order 12/2026", "--tool", "provider export",
    "--source", "hosting provider, contract 2026/114",
]  # fmt: skip


def test_evidence_under_a_use_limitation_goes_on_only_with_the_authorisation(
    tmp_path: Path,
) -> None:
    federation = LocalFederation.create(
        tmp_path / "nodes", [VN, RU, ZA], {}, registry=read_registry(load(REGISTRY))
    )
    (tmp_path / "stewards.json").write_text(_stewards(federation).model_dump_json())
    accord = Accord(tmp_path, federation.nodes[VN.id].env["ACCORD_PASSPHRASE"])
    vn, ru = (str(federation.nodes[spec.id].home) for spec in (VN, RU))
    record = (EXAMPLES / "mla.toml").read_text()
    (tmp_path / "mla.toml").write_text(record.replace('message_id = "vn-2026-0040"', ""))
    (tmp_path / "executed.toml").write_text(
        f'outcome = "executed"\nexecuted_items = ["server contract"]\n'
        f"use_limitations = [{json.dumps(LIMITATION)}]\n"
    )
    (tmp_path / "za.toml").write_text(f'recipient = "{ZA.id}"\n')
    (tmp_path / "contract").mkdir()
    (tmp_path / "contract" / "договор-2026-114.pdf").write_bytes(b"%PDF-1.7 contract " * 1000)
    start_all(federation.nodes.values())
    try:
        sent = accord.ok("request", "new", "mla", "--to", RU.id, "--file", "mla.toml", "--dir", vn)
        rid = sent.out.split("mla request ")[1].split()[0]

        def status(home: str) -> str | None:
            return request_status(accord, home, rid)

        wait_until(lambda: status(ru) == "SUBMITTED", "the request on RU")
        for move in ("acknowledge", "begin_assessment", "start_execution"):
            accord.ok("request", "transition", rid, move, "--dir", ru)
        accord.ok("request", "reply", rid, "--file", "executed.toml", "--dir", ru)

        # RU seals under the request: the package names it and carries the reply's limitation
        seal = accord.ok(
            "evidence", "seal", "contract", "--case", "VN-C50-2026-117", "--to", VN.id,
            "--out", "ru-pkg", "--request", rid, *ACQUISITION, "--dir", ru,
        )  # fmt: skip
        assert f"use limitation: {LIMITATION}" in seal.out, seal
        accord.ok("evidence", "send", "ru-pkg", "--to", VN.id, "--dir", ru)

        def received() -> str | None:
            rows = json.loads(accord.ok("evidence", "transfers", "--json", "--dir", vn).stdout)
            done = [r for r in rows if r["direction"] == "in" and r["state"] == "complete"]
            return str(done[0]["detail"]) if done else None

        package = wait_until(received, "RU's package complete on VN")
        verified = accord.ok("evidence", "verify", package, "--stewards", "stewards.json")
        assert f"under request: {rid}" in verified.out, verified
        assert f"use limitation (UNCC Art. 36): {LIMITATION}" in verified.out, verified
        accord.ok("evidence", "extract", package, "--out", "vn-out", "--dir", vn)

        # Sealing what RU supplied for ZA: refused, audited, nothing left behind
        to_za = ["evidence", "seal", "vn-out", "--case", "VN-C50-2026-117", "--to", ZA.id,
                 *ACQUISITION, "--dir", vn]  # fmt: skip
        run = accord.many([*to_za, "--out", "za-pkg"])[0]
        refused(run, "(Art. 36)", f"to: {ZA.id} may not receive", LIMITATION, rid)
        assert not (tmp_path / "za-pkg").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".za-pkg")] == []
        actions = query(db_path(federation.nodes[VN.id]), "SELECT action FROM audit_records")
        assert [r["action"] for r in actions].count("evidence.forward_refused") == 1

        # RU authorises ZA on the request; the same seal now succeeds, the limitation with it
        accord.ok("request", "transition", rid, "ingest", "--dir", vn)
        wait_until(lambda: status(ru) == "DELIVERED_RESTRICTED", "the ingestion on RU")
        accord.ok("request", "transition", rid, "authorise_onward", "--file", "za.toml",
                  "--dir", ru)  # fmt: skip

        def authorised() -> bool:
            shown = json.loads(accord.ok("request", "show", rid, "--json", "--dir", vn).stdout)
            return bool(shown["state"]["onward_authorised"] == [ZA.id])

        wait_until(authorised, "RU's authorisation on VN")
        onward = accord.ok(*to_za, "--out", "za-pkg")
        assert f"recipients: {ZA.id}, {VN.id}" in onward.out, onward
        assert f"use limitation: {LIMITATION}" in onward.out, onward
        told = f"forwarded to {ZA.id} under request {rid} with the authorisation of {RU.id}"
        assert f"{told} (UNCC Art. 36(3))" in onward.out, onward

        # ... and RU, which authorised it, sees the use it was put to on its own copy
        def forwarded(home: str) -> list[str]:
            shown = json.loads(accord.ok("request", "show", rid, "--json", "--dir", home).stdout)
            return list(shown["state"]["forwarded_to"])

        assert forwarded(vn) == [ZA.id]
        wait_until(lambda: forwarded(ru) == [ZA.id], "the forward on RU's copy of the request")
    finally:
        federation.stop()
