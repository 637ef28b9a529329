"""The operator's JSON API for alerts and exercises (the project's one error shape), and what a
node publishes for alert hubs: an Atom feed of its active public alerts, each alert's CAP
document at a stable URL (read back by feedparser, an independent Atom parser)."""

from __future__ import annotations

from datetime import timedelta

import feedparser
import httpx
from alert_nodes import MOH, RPN, T0, alerts, deliver, epidemic

from accord.alerts import cap, signature
from accord.alerts.xml import parse
from accord.jose import p256_from_jwk
from unit.requests.nodes import Nodes, _SyncASGI, body


def public(nodes: Nodes, pid: str) -> httpx.Client:
    return httpx.Client(transport=_SyncASGI(nodes.apps[pid]), base_url=nodes.local.nodes[pid].url)


def test_validate_lists_every_problem_in_the_error_shape(nodes: Nodes) -> None:
    fields = epidemic(scope="Private")
    fields["info"][0]["language"] = "en_US"
    answer = nodes.api(MOH).post("/api/v1/alerts/validate", json={"alert": fields})
    assert answer.status_code == 422
    data = body(answer)
    assert data["code"] == "alert_invalid"
    assert {(e["field"], e["rule"], e["article"]) for e in data["errors"]} == {
        ("alert.addresses", "required", "CAP 1.2 §3.2.1"),
        ("alert.info[0].language", "rfc3066", "CAP 1.2 §3.2.2"),
    }
    assert answer.headers["accord-signature"]  # every error is signed by the node


def test_validate_takes_a_cap_document_as_is(nodes: Nodes, samples: object) -> None:
    from pathlib import Path  # noqa: PLC0415

    data = (Path(str(samples)) / "a4-amber-multilingual.xml").read_bytes()
    answer = nodes.api(MOH).post(
        "/api/v1/alerts/validate", content=data, headers={"content-type": "application/cap+xml"}
    )
    # valid CAP 1.2, but Accord's profile asks every info block to say when it expires
    assert answer.status_code == 422
    assert {(e["field"], e["rule"]) for e in body(answer)["errors"]} == {
        ("alert.info[0].expires", "required"),
        ("alert.info[1].expires", "required"),
    }


def test_preview_send_list_show_and_ack_through_the_api(nodes: Nodes) -> None:
    api = nodes.api(MOH)
    preview = body(api.post("/api/v1/alerts/preview", json={"alert": epidemic(), "to": [RPN]}))
    assert [p["participant"] for p in preview["participants"] if p["included"]] == [RPN]
    sent = api.post("/api/v1/alerts", json={"alert": epidemic(), "to": [RPN]})
    assert sent.status_code == 201
    ref = body(sent)["ref"]
    deliver(nodes)
    [listed] = body(nodes.api(RPN).get("/api/v1/alerts"))["alerts"]
    assert (listed["ref"], listed["state"], listed["marking"]) == (ref, "active", "")
    shown = body(nodes.api(RPN).get(f"/api/v1/alerts/{ref}"))
    assert [i["language"] for i in shown["alert"]["info"]] == ["en", "vi"]
    acked = nodes.api(RPN).post(f"/api/v1/alerts/{ref}/ack", json={"by": "Duty officer"})
    assert acked.status_code == 200
    deliver(nodes)
    shown = body(api.get(f"/api/v1/alerts/{ref}"))
    assert [r["acknowledgement"] for r in shown["recipients"]] == ["acknowledged"]
    cap_doc = api.get(f"/api/v1/alerts/{ref}/cap")
    assert cap_doc.headers["content-type"] == "application/cap+xml"
    assert b"ds:Signature" in cap_doc.content


def test_update_and_cancel_through_the_api(nodes: Nodes) -> None:
    api = nodes.api(MOH)
    ref = body(api.post("/api/v1/alerts", json={"alert": epidemic(), "to": [RPN]}))["ref"]
    updated = body(api.post(f"/api/v1/alerts/{ref}/update", json={"alert": epidemic()}))
    assert updated["msg_type"] == "Update"
    cancelled = body(api.post(f"/api/v1/alerts/{updated['ref']}/cancel", json={"note": "over"}))
    assert cancelled["msg_type"] == "Cancel"
    again = api.post(f"/api/v1/alerts/{ref}/update", json={"alert": epidemic()})
    assert (again.status_code, body(again)["code"]) == (409, "alert_chain_broken")


def test_the_operator_api_needs_the_token(nodes: Nodes) -> None:
    answer = public(nodes, MOH).get("/api/v1/alerts")
    assert (answer.status_code, body(answer)["code"]) == (401, "operator_token_required")


def test_an_unknown_view_is_refused(nodes: Nodes) -> None:
    answer = nodes.api(MOH).get("/api/v1/alerts", params={"view": "everything"})
    assert (answer.status_code, body(answer)["errors"][0]["field"]) == (422, "view")


def test_the_atom_feed_lists_active_public_alerts_linking_their_signed_cap(nodes: Nodes) -> None:
    moh = alerts(nodes, MOH)
    live = moh.send(epidemic(), [RPN])
    moh.send(epidemic(status="Test"), [RPN])  # never in the feed
    moh.send(epidemic(scope="Restricted", restriction="Health authorities"), [RPN])  # not public
    client = public(nodes, MOH)
    answer = client.get("/alerts/feed.atom")
    assert answer.headers["content-type"] == "application/atom+xml"
    parsed = feedparser.parse(answer.content)
    assert parsed.version == "atom10"
    assert not parsed.bozo
    [entry] = parsed.entries
    assert entry.title == "H5N1 cases in poultry in the Mekong delta"
    [link] = [link for link in entry.links if link.type == "application/cap+xml"]
    path = link.href.removeprefix(nodes.local.nodes[MOH].url)
    document = client.get(path)
    assert document.content == live.xml
    jwk = nodes.local.nodes[MOH].participant.alert_key
    assert jwk is not None
    verified = signature.verify(parse(document.content, max_bytes=10**6), p256_from_jwk(jwk), MOH)
    assert cap.check(verified).identifier == live.alert.identifier


def test_a_cancelled_alert_leaves_the_feed_and_its_cancel_is_listed(nodes: Nodes) -> None:
    moh = alerts(nodes, MOH)
    live = moh.send(epidemic(), [RPN])
    cancel = moh.cancel(live.alert.identifier)
    entries = feedparser.parse(public(nodes, MOH).get("/alerts/feed.atom").content).entries
    assert [e.id.rsplit("/", 1)[1] for e in entries] == [f"{cancel.alert.identifier}.xml"]
    assert public(nodes, MOH).get(f"/alerts/cap/{live.alert.identifier}.xml").status_code == 200


def test_a_restricted_alert_has_no_public_url(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(scope="Restricted", restriction="Health"), [RPN])
    answer = public(nodes, MOH).get(f"/alerts/cap/{sent.alert.identifier}.xml")
    assert (answer.status_code, body(answer)["code"]) == (404, "alert_not_found")


def test_an_expired_alert_leaves_the_feed(nodes: Nodes) -> None:
    alerts(nodes, MOH).send(epidemic(), [RPN])
    nodes.advance(days=2, seconds=1)
    assert feedparser.parse(public(nodes, MOH).get("/alerts/feed.atom").content).entries == []
    assert nodes.clock.now() > T0 + timedelta(days=2)


def test_exercises_through_the_api_report_in_json_and_html(nodes: Nodes) -> None:
    api = nodes.api(MOH)
    now = nodes.clock.now()
    spec = {
        "id": "flood-2026",
        "name": "Mekong flood exercise",
        "participants": [RPN],
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
    }
    assert api.post("/api/v1/exercises", json=spec).status_code == 201
    inject = {"id": "warning", "at": (now + timedelta(minutes=1)).isoformat(), "alert": epidemic()}
    shown = body(api.post("/api/v1/exercises/flood-2026/injects", json=inject))
    assert [i["inject_id"] for i in shown["injects"]] == ["warning"]
    assert body(api.post("/api/v1/exercises/flood-2026/start", json={}))["started_at"]
    made = body(api.get("/api/v1/exercises/flood-2026/report"))
    assert made["marking"] == "EXERCISE"
    html = api.get("/api/v1/exercises/flood-2026/report", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html")
    assert "EXERCISE" in html.text
    bad = api.post("/api/v1/exercises", json={**spec, "id": "Bad Id"})
    assert (bad.status_code, body(bad)["code"]) == (422, "exercise_invalid")
