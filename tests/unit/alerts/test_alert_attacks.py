"""Forged and replayed alerts, each refused by the receiving node with the reason, nothing
stored: a real envelope from a real participant (whose node signs it), carrying a CAP message
the participant is not entitled to send."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from alert_nodes import DDPM, MOH, MPS, RPN, ZA, alerts, deliver, drills, epidemic
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from accord.alerts import cap, signature
from accord.alerts.exercises import read_spec
from accord.alerts.models import cap_time
from accord.db.schema import alert_acks, exercises, outgoing
from accord.db.schema import alerts as alerts_table
from accord.envelope.models import Kind, Priority
from accord.errors import AlertNotEntitled, AlertNotFound
from accord.federation.service import Federation
from accord.identity.models import alert_kid
from unit.requests.nodes import Nodes

ROGUE = ec.generate_private_key(ec.SECP256R1())


def signed(
    nodes: Nodes, pid: str, fields: dict[str, Any], key: ec.EllipticCurvePrivateKey | None = None
) -> str:
    """A CAP document composed on ``pid``'s node and signed with its key (or ``key``)."""
    node = nodes.open[pid]
    root = alerts(nodes, pid).document({"msgType": "Alert", **fields})
    signing = key or node.keys.alerting
    assert signing is not None
    return cap.serialize(signature.sign(root, signing, alert_kid(pid))).decode()


def forge(
    nodes: Nodes, sender: str, recipient: str, body: dict[str, Any], kind: Kind = Kind.ALERT
) -> Any:
    """Queue ``body`` on the sender's node as a real envelope and hand it to the recipient."""
    node = nodes.open[sender]
    queue, message_id = Federation(node).prepare(recipient, kind, body, Priority.ROUTINE)
    node.writer.run(queue)
    with node.read_engine.connect() as connection:
        wire = connection.execute(
            select(outgoing.c.wire).where(outgoing.c.message_id == message_id)
        ).scalar_one()
    return nodes.post(recipient, wire)


def body(cap_text: str, **changes: Any) -> dict[str, Any]:
    return {
        "cap": cap_text,
        "expect": [],
        "exercise": None,
        "relay": None,
        "reason": "test",
        **changes,
    }


def held(nodes: Nodes, pid: str) -> int:
    with nodes.open[pid].read_engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(alerts_table)).scalar_one())


def refused(answer: Any, status: int, code: str) -> dict[str, Any]:
    data: dict[str, Any] = answer.json()
    assert (answer.status_code, data["code"]) == (status, code), data
    return data


def test_an_alert_signed_by_a_key_not_in_the_directory_is_refused(nodes: Nodes) -> None:
    forged = signed(nodes, MOH, epidemic(), ROGUE)
    data = refused(forge(nodes, MOH, RPN, body(forged)), 422, "alert_signature_invalid")
    assert data["errors"][0]["article"] == "CAP 1.2 §3.3.2.1"
    assert held(nodes, RPN) == 0


def test_an_embedded_certificate_that_would_verify_if_trusted_is_refused(nodes: Nodes) -> None:
    from signxml.algorithms import SignatureMethod  # noqa: PLC0415
    from signxml.signer import XMLSigner  # noqa: PLC0415
    from test_alert_signature import _certificate  # noqa: PLC0415

    root = alerts(nodes, MOH).document(epidemic())
    signer = XMLSigner(signature_algorithm=SignatureMethod.ECDSA_SHA256)
    forged = cap.serialize(signer.sign(root, key=ROGUE, cert=[_certificate(ROGUE)])).decode()
    refused(forge(nodes, MOH, RPN, body(forged)), 422, "alert_signature_invalid")
    assert held(nodes, RPN) == 0


def test_an_alert_whose_cap_sender_is_not_the_signing_node_is_refused(nodes: Nodes) -> None:
    forged = signed(nodes, MPS, epidemic(sender=MOH))  # MPS's own key, MOH's name
    data = refused(forge(nodes, MPS, RPN, body(forged)), 403, "alert_not_entitled")
    assert data["errors"][0]["field"] == "alert.sender"
    assert held(nodes, RPN) == 0


def test_an_update_from_another_sender_is_refused(nodes: Nodes) -> None:
    original = alerts(nodes, MOH).send(epidemic(), [RPN, DDPM])
    deliver(nodes)
    reference = original.alert.reference().text()
    update = signed(nodes, DDPM, epidemic(msgType="Update", references=reference))
    data = refused(forge(nodes, DDPM, RPN, body(update)), 403, "alert_not_entitled")
    assert "only its sender may update or cancel it" in data["message"]
    [(row, _, state)] = alerts(nodes, RPN).listed()
    assert (row.identifier, state) == (original.alert.identifier, "active")


def test_a_cancel_of_an_unknown_alert_is_refused(nodes: Nodes) -> None:
    unknown = f"{MOH},never-sent,{cap_time(nodes.clock.now() - timedelta(hours=1))}"
    cancel = signed(
        nodes,
        MOH,
        {"status": "Actual", "msgType": "Cancel", "scope": "Public", "references": unknown},
    )
    data = refused(forge(nodes, MOH, RPN, body(cancel)), 409, "alert_chain_broken")
    assert data["errors"][0]["rule"] == "cancels_known"
    assert held(nodes, RPN) == 0
    with pytest.raises(AlertNotFound):
        alerts(nodes, MOH).cancel("never-sent")


def _flood(nodes: Nodes) -> dict[str, Any]:
    now = nodes.clock.now()
    spec = read_spec(
        {
            "id": "flood-2026",
            "name": "Mekong flood exercise",
            "participants": [RPN, DDPM],
            "starts_at": now,
            "ends_at": now + timedelta(hours=4),
            "scenario": "Upstream dam release",
        }
    )
    return drills(nodes, MOH).create(spec).record()


def test_an_exercise_alert_sent_to_a_non_participant_is_refused(nodes: Nodes) -> None:
    record = _flood(nodes)
    fields = epidemic(status="Exercise", note="EXERCISE flood-2026")
    forged = signed(nodes, MOH, fields)
    data = refused(forge(nodes, MOH, MPS, body(forged, exercise=record)), 403, "alert_not_entitled")
    assert "not a participant of exercise flood-2026" in data["message"]
    assert held(nodes, MPS) == 0
    with nodes.open[MPS].read_engine.connect() as connection:
        assert connection.execute(select(exercises)).first() is None
    with pytest.raises(AlertNotEntitled, match="not a participant of exercise flood-2026"):
        alerts(nodes, MOH).send(fields, [MPS], "flood-2026")


def test_an_exercise_alert_without_its_exercise_is_refused(nodes: Nodes) -> None:
    forged = signed(nodes, MOH, epidemic(status="Exercise", note="EXERCISE flood-2026"))
    refused(forge(nodes, MOH, RPN, body(forged)), 422, "exercise_invalid")
    assert held(nodes, RPN) == 0


def test_an_alert_replayed_after_expiry_is_refused(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), [RPN])
    deliver(nodes)
    nodes.advance(days=2, seconds=1)
    data = refused(forge(nodes, MOH, DDPM, body(sent.xml.decode())), 422, "alert_expired")
    assert "expired at" in data["message"]
    assert held(nodes, DDPM) == 0


def test_a_participant_relaying_another_participants_alert_is_refused(nodes: Nodes) -> None:
    """A relay may carry an external feed's alert, never one in a participant's name."""
    sent = alerts(nodes, MOH).send(epidemic(), [RPN])
    key = nodes.open[MOH].keys.alerting
    assert key is not None
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    relay = {"feed": "http://127.0.0.1:9/feed.atom", "key": pem.decode()}
    refused(
        forge(nodes, MPS, DDPM, body(sent.xml.decode(), relay=relay)), 403, "alert_not_entitled"
    )
    assert held(nodes, DDPM) == 0


def test_an_exercise_update_of_a_live_alert_is_refused(nodes: Nodes) -> None:
    _flood(nodes)
    live = alerts(nodes, MOH).send(epidemic(), [RPN])
    deliver(nodes)
    fields = epidemic(
        status="Exercise",
        msgType="Update",
        references=live.alert.reference().text(),
        note="EXERCISE flood-2026",
    )
    record = _record(nodes)
    data = refused(
        forge(nodes, MOH, RPN, body(signed(nodes, MOH, fields), exercise=record)),
        409,
        "alert_chain_broken",
    )
    assert data["errors"][0]["rule"] == "same_status"


def _record(nodes: Nodes) -> dict[str, Any]:
    return drills(nodes, MOH).get("flood-2026").record()


def test_an_update_that_forks_the_chain_is_refused(nodes: Nodes) -> None:
    moh = alerts(nodes, MOH)
    first = moh.send(epidemic(), [RPN])
    moh.update(first.alert.identifier, epidemic())
    deliver(nodes)
    fork = signed(nodes, MOH, epidemic(msgType="Update", references=first.alert.reference().text()))
    data = refused(forge(nodes, MOH, RPN, body(fork)), 409, "alert_chain_broken")
    assert data["errors"][0]["rule"] == "current"


def test_an_update_arriving_before_its_alert_is_asked_to_come_again(nodes: Nodes) -> None:
    moh = alerts(nodes, MOH)
    first = moh.send(epidemic(), [RPN])
    second = moh.update(first.alert.identifier, epidemic())
    pending = nodes.pending()
    order = sorted(
        range(len(pending)), key=lambda i: b"<msgType>Update" not in _decrypted(nodes, pending[i])
    )
    early = nodes.post(pending[order[0]][0], pending[order[0]][2])
    refused(early, 425, "alert_not_yet_known")
    deliver(nodes)
    states = {row.identifier: state for row, _, state in alerts(nodes, RPN).listed("all")}
    assert states == {first.alert.identifier: "superseded", second.alert.identifier: "active"}


def _decrypted(nodes: Nodes, item: tuple[str, str, bytes]) -> bytes:
    from accord.federation.reading import Mailbox  # noqa: PLC0415

    shown = Mailbox(Federation(nodes.open[MOH])).open(item[1])
    return str(shown.opened.body["cap"]).encode()


def test_a_forged_ack_for_an_alert_never_sent_to_the_acker_is_refused(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), [RPN])
    ack = {
        "status": "Actual",
        "msgType": "Ack",
        "scope": "Private",
        "addresses": MOH,
        "references": sent.alert.reference().text(),
    }
    data = refused(forge(nodes, ZA, MOH, body(signed(nodes, ZA, ack))), 409, "alert_chain_broken")
    assert data["errors"][0]["rule"] == "sent_to_you"
    with nodes.open[MOH].read_engine.connect() as connection:
        assert connection.execute(select(alert_acks)).first() is None


def test_a_duplicate_alert_changes_nothing(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), [RPN])
    deliver(nodes)
    again = forge(nodes, MOH, RPN, body(sent.xml.decode()))
    assert again.status_code == 202
    assert held(nodes, RPN) == 1


def test_an_identifier_reused_with_other_content_is_refused(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), [RPN])
    deliver(nodes)
    other = signed(nodes, MOH, epidemic(identifier=sent.alert.identifier, note="changed"))
    refused(forge(nodes, MOH, RPN, body(other)), 409, "alert_chain_broken")
    assert held(nodes, RPN) == 1


def test_a_message_without_a_cap_document_is_refused(nodes: Nodes) -> None:
    refused(forge(nodes, MOH, RPN, {"expect": []}), 422, "alert_invalid")
    refused(forge(nodes, MOH, RPN, body("<alert")), 422, "alert_invalid")
    assert held(nodes, RPN) == 0
