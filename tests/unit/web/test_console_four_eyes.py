"""Four eyes: a formal request composed in the console is sent only once a supervisor other
than its drafter approves it; the approval is signed with the node's key and audited."""

from __future__ import annotations

import json

from consoles import RU, VN, Browser, Nodes, form_of
from joserfc import jws
from sqlalchemy import select

from accord.db.schema import audit_records, outgoing, request_drafts, requests
from accord.jose import SIG_ALG, okp
from accord.web import approvals


def test_a_formal_request_waits_for_another_supervisor(nodes: Nodes) -> None:
    node = nodes.open[VN]
    sam, sara, vu = Browser(nodes, VN), Browser(nodes, VN), Browser(nodes, VN)
    sam.login("sam")
    sent = sam.post("/console/compose/mla", form_of("mla"))
    assert sent.status_code == 303, sent.text[:3000]
    assert sent.headers["location"] == "/console/approvals"
    with node.read_engine.connect() as connection:
        draft_id, request_id = connection.execute(
            select(request_drafts.c.id, request_drafts.c.record)
        ).one()
        request_id = json.loads(request_id)["message_id"]
        assert connection.execute(select(requests)).all() == []  # nothing sent yet
        assert connection.execute(select(outgoing)).all() == []
    vu.login("vu")  # an operator may not decide
    assert vu.post(f"/console/approvals/{draft_id}/approve", {}).status_code == 403
    own = sam.post(f"/console/approvals/{draft_id}/approve", {})  # nor may the drafter
    assert own.status_code == 403
    assert "drafter" in own.text
    sara.login("sara")
    approved = sara.post(f"/console/approvals/{draft_id}/approve", {})
    assert approved.status_code == 303
    assert approved.headers["location"] == f"/console/requests/{request_id}"
    nodes.settle()
    with nodes.open[RU].read_engine.connect() as connection:
        assert (
            connection.execute(
                select(requests.c.status).where(requests.c.request_id == request_id)
            ).scalar_one()
            == "SUBMITTED"
        )
    draft = approvals.get(nodes.requests(VN), draft_id)
    token = jws.deserialize_compact(
        draft.approval or "", okp(node.keys.signing.public_key()), algorithms=[SIG_ALG]
    )
    claims = json.loads(token.payload)
    assert (claims["drafter"], claims["approved_by"], claims["request_id"]) == (
        "sam",
        "sara",
        request_id,
    )
    assert claims["record_sha256"] == draft.sha256
    with node.read_engine.connect() as connection:
        actions = (
            connection.execute(
                select(audit_records.c.action).where(audit_records.c.object_id == request_id)
            )
            .scalars()
            .all()
        )
    assert actions[:3] == ["request.drafted", "request.sent", "request.event"]
    assert "request.approved" in actions
    again = sara.post(f"/console/approvals/{draft_id}/approve", {})
    assert again.status_code == 403  # decided once


def test_a_rejected_request_is_never_sent(nodes: Nodes) -> None:
    vu, sam = Browser(nodes, VN), Browser(nodes, VN)
    vu.login("vu")
    assert vu.post("/console/compose/extradition", form_of("extradition")).status_code in (303, 422)
    drafts = approvals.awaiting(nodes.requests(VN), 10)
    if not drafts:  # the example may not validate between these nodes: use MLA
        assert vu.post("/console/compose/mla", form_of("mla")).status_code == 303
        drafts = approvals.awaiting(nodes.requests(VN), 10)
    sam.login("sam")
    assert sam.post(f"/console/approvals/{drafts[0].id}/reject", {"reason": ""}).status_code == 403
    assert (
        sam.post(
            f"/console/approvals/{drafts[0].id}/reject", {"reason": "no dual criminality"}
        ).status_code
        == 303
    )
    assert approvals.get(nodes.requests(VN), drafts[0].id).state == "rejected"
    with nodes.open[VN].read_engine.connect() as connection:
        assert connection.execute(select(outgoing)).all() == []


def test_a_preservation_is_sent_when_composed(nodes: Nodes) -> None:
    vu = Browser(nodes, VN)
    vu.login("vu")
    form = form_of("preservation")
    del form["offence"]
    missing = vu.post("/console/compose/preservation", form)
    assert missing.status_code == 422
    assert "offence is required" in missing.text
    assert "Art. 42" in missing.text
    form["offence"] = ["Fraud committed by means of ICT systems"]
    sent = vu.post("/console/compose/preservation", form)
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/console/requests/")
