"""``accord request`` end to end between two running nodes, as operators use it: VN sends a
preservation request to RU, RU acknowledges and confirms a hold, both see the same state and
timeline; the operator API answers the same; refused commands change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from accord.demo.cases import REGISTRY
from accord.demo.federation import LocalFederation
from accord.identity.registry import read_registry
from accord.requests.validate import load

from .helpers import (
    RU,
    VN,
    Accord,
    db_path,
    query,
    refused,
    request_status,
    snapshot,
    start_all,
    wait_until,
)

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).parents[2] / "examples" / "requests"


def test_a_preservation_request_between_running_nodes(tmp_path: Path) -> None:
    federation = LocalFederation.create(
        tmp_path / "nodes", [VN, RU], {}, registry=read_registry(load(REGISTRY))
    )
    accord = Accord(tmp_path, federation.nodes[VN.id].env["ACCORD_PASSPHRASE"])
    vn, ru = (str(federation.nodes[spec.id].home) for spec in (VN, RU))
    record = (EXAMPLES / "preservation.toml").read_text().replace('"ru-gp-247"', f'"{RU.id}"')
    (tmp_path / "preservation.toml").write_text(record.replace('message_id = "vn-2026-0042"', ""))
    broken = record.replace('facts_summary = "', 'unknown_field = "')
    (tmp_path / "broken.toml").write_text(broken)
    start_all(federation.nodes.values())
    try:
        # A broken record: every problem at once, nothing stored or queued
        before = _requests_state(federation, VN.id)
        run = accord.many(
            ["request", "new", "preservation", "--to", RU.id, "--file", "broken.toml", "--dir", vn]
        )[0]
        refused(run, "facts_summary", "required", "Art. 42", "unknown_field")
        assert _requests_state(federation, VN.id) == before

        sent = accord.ok(
            "request", "new", "preservation", "--to", RU.id, "--file", "preservation.toml",
            "--dir", vn,
        )  # fmt: skip
        request_id = sent.out.split("preservation request ")[1].split()[0]
        assert "SUBMITTED" in sent.out

        def status(home: str) -> str | None:
            return request_status(accord, home, request_id)

        wait_until(lambda: status(ru) == "SUBMITTED", "the request on RU")
        for move in ("acknowledge", "begin_assessment", "start_execution"):
            accord.ok("request", "transition", request_id, move, "--dir", ru)
        # A hold shorter than 60 days is refused (Art. 42) and changes nothing
        short = tmp_path / "short.toml"
        short.write_text(
            'outcome = "preserved"\npreserved_at = 2026-11-24T09:00:00Z\n'
            "hold_until = 2026-12-24T09:00:00Z\n"
        )
        before = _requests_state(federation, RU.id)
        run = accord.many(["request", "reply", request_id, "--file", str(short), "--dir", ru])[0]
        refused(run, "shorter than 60 days", "Art. 42")
        assert _requests_state(federation, RU.id) == before
        hold = tmp_path / "hold.toml"
        hold.write_text(
            'outcome = "preserved"\npreserved_at = 2026-11-24T09:00:00Z\n'
            "hold_until = 2027-02-22T09:00:00Z\n"
        )
        accord.ok("request", "reply", request_id, "--file", str(hold), "--dir", ru)
        wait_until(lambda: status(vn) == "PRESERVED", "the hold confirmed on VN")

        # Both sides show the same events and state; VN sees what is due: the hold's end
        shown = {
            home: json.loads(
                accord.ok("request", "show", request_id, "--json", "--dir", home).stdout
            )
            for home in (vn, ru)
        }
        assert shown[vn]["state"] == shown[ru]["state"]
        assert shown[vn]["events"] == shown[ru]["events"]
        assert [e["kind"] for e in shown[vn]["events"]] == [
            "validate", "submit", "acknowledge", "begin_assessment", "start_execution",
            "confirm_hold",
        ]  # fmt: skip
        assert shown[vn]["state"]["hold"]["until"].startswith("2027-02-22")
        due = json.loads(accord.ok("request", "due", "--json", "--dir", vn).stdout)
        assert [(d["what"], d["owed_by"], d["article"]) for d in due] == [
            ("hold_until", "this node", "Art. 42")
        ]
        text = accord.ok("request", "show", request_id, "--dir", vn).out
        assert "confirm_hold" in text
        assert "PRESERVED" in text

        # Printable in the requested State's language (ru first in the registry), or another
        html = accord.ok("request", "render", request_id, "--dir", vn).stdout
        assert '<html lang="ru" dir="ltr">' in html
        assert "Статья 42" in html
        assert "Mail.example LLC, Moscow" in html  # free text as written
        vi = accord.ok("request", "render", request_id, "--lang", "vi", "--dir", ru).stdout
        assert "Điều 42" in vi
        ar = accord.ok("request", "render", request_id, "--lang", "ar", "--dir", ru).stdout
        assert '<html lang="ar" dir="rtl">' in ar
        assert "المادة 42 من اتفاقية الأمم المتحدة لمكافحة الجريمة السيبرانية" in ar
        run = accord.many(["request", "render", request_id, "--lang", "xx", "--dir", vn])[0]
        refused(run, "xx")

        # Only the requested State may confirm a hold: VN trying is refused (not entitled)
        run = accord.many(["request", "transition", request_id, "expire", "--dir", vn])[0]
        refused(run, "requested State")

        # The operator API gives the same, behind the node's token
        node = federation.nodes[RU.id]
        token = (node.home / "operator-token").read_text().strip()
        answer = httpx.get(f"{node.url}/api/v1/requests/{request_id}", headers={
            "authorization": f"Bearer {token}"
        }, timeout=10)  # fmt: skip
        assert answer.status_code == 200
        assert answer.json()["state"] == shown[ru]["state"]
        denied = httpx.get(f"{node.url}/api/v1/requests", timeout=10)
        assert denied.status_code == 401
        assert denied.json()["code"] == "operator_token_required"
        rows = query(
            db_path(node), "SELECT action FROM audit_records WHERE object_id = ?", request_id
        )
        assert [r["action"] for r in rows].count("request.event") == 6
    finally:
        federation.stop()


def _requests_state(federation: LocalFederation, node_id: str) -> dict[str, object]:
    """What a refused request command must not change (the outbox and the witnesses of the
    running node change other tables meanwhile)."""
    tables = snapshot(db_path(federation.nodes[node_id]))
    return {name: tables[name] for name in ("requests", "request_events", "outgoing")}
