"""Pages by key: walking the pages visits every row once, in order, ties on the time broken
by the id; a key the console did not make is refused; the turnaround plot's figures."""

from __future__ import annotations

import json
import re

import pytest
from consoles import VN, Browser, Nodes
from sqlalchemy import insert

from accord.audit.proofs import verify_document
from accord.audit.service import AuditLog
from accord.db.schema import alerts, requests
from accord.errors import InputError
from accord.web import pages, plots


def test_every_row_once_in_order_across_pages(nodes: Nodes) -> None:
    node = nodes.open[VN]
    template = {
        "type": "preservation",
        "role": "requesting",
        "requester": VN,
        "requested": "ru-gp-247",
        "record": "{}",
        "created_at": 0.0,
        "status": "SUBMITTED",
        "folded": "{}",
    }
    rows = [
        {**template, "request_id": f"r-{n:03d}", "updated_at": float(n // 7)} for n in range(230)
    ]  # 7 rows share each time: pages end inside a tie
    node.writer.run(lambda connection: connection.execute(insert(requests), rows))
    seen: list[str] = []
    after = None
    while True:
        page = pages.requests_page(node, pages.Filters(), after, 50)
        seen += [row.request_id for row in page.rows]
        if page.next is None:
            break
        after = page.next
    expected = sorted(rows, key=lambda r: (r["updated_at"], r["request_id"]), reverse=True)
    assert seen == [r["request_id"] for r in expected]
    only = pages.requests_page(node, pages.Filters(status="CLOSED"), None, 50)
    assert only.rows == []


def test_a_forged_page_key_is_refused(nodes: Nodes, browser: Browser) -> None:
    with pytest.raises(InputError, match="page key"):
        pages.requests_page(nodes.open[VN], pages.Filters(), "bm90LWEta2V5", 50)
    browser.login("vu")
    answer = browser.get("/console/requests?after=%3Cscript%3E")
    assert answer.status_code == 422
    assert "<script>" not in answer.text


def test_turnaround_spread() -> None:
    day = plots.DAY
    samples = [("ru-gp-247", "preservation", d * day) for d in (1, 2, 3, 4, 5)]
    [spread] = plots.spreads(samples)
    assert (spread.low, spread.median, spread.high, spread.count) == (1, 3, 5, 5)
    assert spread.q1 < spread.median < spread.q3
    svg = plots.spread_svg([spread], "T <&>", "days")
    assert svg.startswith("<svg")
    assert "T &lt;&amp;&gt;" in svg


def test_an_auditor_takes_an_entry_s_proof_that_verifies(nodes: Nodes) -> None:
    node = nodes.open[VN]
    auditor = Browser(nodes, VN)
    auditor.login("aud")
    log = AuditLog(node)
    log.checkpoint()
    page = auditor.get("/console/audit")
    assert "console.login" in page.text
    index = int(re.findall(r"/console/audit/proof\?index=(\d+)", page.text)[0])
    proof = auditor.get(f"/console/audit/proof?index={index}")
    assert proof.status_code == 200
    assert verify_document(proof.content, log.verifier)
    assert json.loads(proof.content)["index"] == index
    assert auditor.get("/console/audit/proof?index=999999").status_code == 404


def test_alerts_are_listed_newest_first_their_text_escaped(nodes: Nodes, browser: Browser) -> None:
    node = nodes.open[VN]
    rows = [
        {
            "sender": "moh@example.vn",
            "identifier": f"<script>alert({n})</script>",
            "sent": f"2026-12-0{n}T00:00:00+07:00",
            "sent_at": float(n),
            "status": "Actual",
            "msg_type": "Alert",
            "scope": "Public",
            "direction": "received",
            "origin": VN,
            "state": "active",
            "xml": b"<alert/>",
            "sha256": "0" * 64,
            "stored_at": float(n),
        }
        for n in (1, 2)
    ]
    node.writer.run(lambda connection: connection.execute(insert(alerts), rows))
    browser.login("vu")
    page = browser.get("/console/alerts").text
    assert "<script>alert" not in page
    assert page.index("alert(2)") < page.index("alert(1)")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
