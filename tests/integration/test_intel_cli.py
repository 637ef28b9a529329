"""``accord intel`` as a user runs it: collections, add (every problem listed, nothing
stored), list, show (byte for byte), preview, share refused for an audience a marking forbids,
tokens made and revoked (audited, only a hash kept), MISP import and export; and the
operator API behind the operator token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from pymisp import MISPEvent

from accord.app import create_app
from accord.federation.service import Federation
from accord.intel.markings import Tlp
from intel_fixtures import bundle, indicator

from .helpers import Accord, db_path, query, refused
from .intel_nodes import create, opened

pytestmark = pytest.mark.slow


def test_the_intel_commands(tmp_path: Path) -> None:
    certs = create(tmp_path / "fed")
    accord = Accord(tmp_path)
    accord.env["ACCORD_PASSPHRASE"] = certs.node("vn-cert").env["ACCORD_PASSPHRASE"]
    vn = str(certs.node("vn-cert").home)
    ioc = indicator(7001, tlp=Tlp.AMBER, by="vn-cert")
    (tmp_path / "campaign.json").write_bytes(bundle([ioc]))
    bad = dict(indicator(7002), pattern="[ipv4-addr:value = ]", confidence=500)
    (tmp_path / "bad.json").write_bytes(bundle([bad]))
    event = MISPEvent()
    event.info = "Fake shops"
    event.distribution = 1
    event.add_tag("tlp:green")
    event.add_attribute("domain", "shop-deals-2026.example", to_ids=True)
    (tmp_path / "event.json").write_text(event.to_json())

    added, invalid, made = accord.many(
        ("intel", "add", "campaign.json", "--collection", "fraud", "--dir", vn),
        ("intel", "add", "bad.json", "--dir", vn),
        ("intel", "token", "create", "misp-1", "--read", "fraud", "--dir", vn),
    )
    assert added.code == 0, added
    assert "6 objects valid, 6 new stored" in added.out  # the indicator and 5 TLP definitions
    refused(invalid, f"{bad['id']}.pattern", f"{bad['id']}.confidence", "STIX 2.1 §9")
    assert made.code == 0, made
    token = made.stdout.strip()
    stored = query(db_path(certs.node("vn-cert")), "SELECT sha256, name FROM intel_tokens")
    assert [r["name"] for r in stored] == ["siem", "misp-1"]
    assert token not in json.dumps([dict(r) for r in stored])  # only the hash is kept

    listed, shown, preview, outside = accord.many(
        ("intel", "list", "--collection", "fraud", "--type", "indicator", "--dir", vn),
        ("intel", "show", ioc["id"], "--dir", vn),
        ("intel", "preview", ioc["id"], "--to", "asean-russia", "--dir", vn),
        ("intel", "share", ioc["id"], "--to", "za-cert", "--dir", vn),
    )
    assert ioc["id"] in listed.out
    assert "TLP:AMBER" in listed.out
    assert json.dumps(ioc) in shown.stdout
    assert (
        "ru-cert receives" in preview.out.replace("│", "").replace("  ", " ")
        or "yes" in preview.out
    )
    assert "TLP:AMBER reaches the addressed" in preview.out  # za-cert, and why
    assert outside.code == 0  # vn-cert is the originator: it may address za-cert itself

    imported = accord.ok("intel", "import-misp", "event.json", "--collection", "fraud", "--dir", vn)
    assert "MISP event imported" in imported.out
    feed = accord.ok(
        "intel",
        "export-misp",
        "--feed",
        str(tmp_path / "feed"),
        "--collection",
        "fraud",
        "--dir",
        vn,
    )
    assert "manifest.json" in feed.out
    manifest = json.loads((tmp_path / "feed" / "manifest.json").read_text())
    assert manifest[event.uuid]["info"] == "Fake shops"

    revoked = accord.ok("intel", "token", "revoke", "misp-1", "--dir", vn)
    assert "revoked" in revoked.out
    again = accord.many(("intel", "token", "revoke", "misp-1", "--dir", vn))[0]
    refused(again, "no live token named 'misp-1'")
    actions = {
        r["action"]
        for r in query(db_path(certs.node("vn-cert")), "SELECT action FROM audit_records")
    }
    assert {"intel.added", "intel.token_created", "intel.token_revoked", "intel.shared"} <= actions


def test_the_operator_api_previews_and_refuses_with_the_one_error_shape(tmp_path: Path) -> None:
    certs = create(tmp_path / "fed")
    ioc = indicator(7003, tlp=Tlp.RED, by="vn-cert")
    with opened(certs.node("vn-cert")) as node:
        federation = Federation(node)
        from accord.intel.service import Intel  # noqa: PLC0415

        Intel(federation).add(certs.collection, bundle([ioc]), asker=node.id)
        app = create_app(federation)
        headers = {"Authorization": f"Bearer {node.operator_token}"}

        async def calls() -> tuple[httpx.Response, ...]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://vn") as client:
                return (
                    await client.post(
                        "/api/v1/intel/preview",
                        json={"ids": [ioc["id"]], "to": "asean-russia"},
                        headers=headers,
                    ),
                    await client.post(
                        "/api/v1/intel/share",
                        json={"ids": [ioc["id"]], "to": "asean-russia"},
                        headers=headers,
                    ),
                    await client.post("/api/v1/intel/share", json={"ids": "x"}, headers=headers),
                    await client.post(
                        "/api/v1/intel/preview", json={"ids": [ioc["id"]], "to": "ru-cert"}
                    ),
                )

        preview, red_to_group, malformed, no_token = asyncio.run(calls())
    rows = {p["participant"]: p for p in preview.json()["preview"]}
    assert rows["ru-cert"]["receives"] is False  # RED: a group names nobody one by one
    assert "TLP:RED" in rows["ru-cert"]["why"]
    assert red_to_group.status_code == 403
    assert red_to_group.json()["code"] == "sharing_refused"
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "ids"
    assert no_token.status_code == 401
