"""An alert between real nodes: sent to a group and to the areas it reaches, verified and stored
by each recipient, acknowledged, updated, then cancelled; every step audited."""

from __future__ import annotations

import pytest
from alert_nodes import DDPM, MOH, MPS, NONG_KHAI, RPN, ZA, alerts, deliver, epidemic
from sqlalchemy import select

from accord.alerts.models import MsgType
from accord.db.schema import audit_records
from accord.errors import AlertChainBroken, AlertNotEntitled, InputError
from unit.requests.nodes import Nodes


def _actions(nodes: Nodes, pid: str) -> list[str]:
    with nodes.open[pid].read_engine.connect() as connection:
        return list(connection.execute(select(audit_records.c.action)).scalars())


def test_an_alert_reaches_the_group_and_each_recipient_stores_it(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), ["asean-russia"])
    assert sorted(d.participant for d in sent.recipients) == sorted([RPN, MPS, DDPM])
    deliver(nodes)
    for pid in (RPN, MPS, DDPM):
        [(row, alert, state)] = alerts(nodes, pid).listed()
        assert (row.sender, row.direction, state) == (MOH, "received", "active")
        assert alert.identifier == sent.alert.identifier
        assert "alert.received" in _actions(nodes, pid)
    assert alerts(nodes, ZA).listed() == []
    assert "alert.sent" in _actions(nodes, MOH)


def test_an_alert_reaches_an_early_warning_participant_whose_area_it_meets(nodes: Nodes) -> None:
    fields = epidemic()
    for info in fields["info"]:
        info["area"] = [{"areaDesc": "Nong Khai", "polygon": [NONG_KHAI]}]
    sent = alerts(nodes, MOH).send(fields, [RPN])
    reasons = {d.participant: d.reason for d in sent.recipients}
    assert reasons[RPN] == "named"
    assert reasons[DDPM].startswith("area of interest 'Thailand' meets 'Nong Khai'")
    assert set(reasons) == {RPN, DDPM}


def test_preview_says_why_every_other_participant_does_not_receive_it(nodes: Nodes) -> None:
    prepared = alerts(nodes, MOH).prepare(epidemic(), [RPN])
    why = {d.participant: (d.included, d.reason) for d in prepared.decisions}
    assert why[RPN] == (True, "named")
    assert why[MPS] == (False, "not named, and declares no areas of interest")
    assert why[DDPM][0] is False
    assert "do not meet the alert's areas" in why[DDPM][1]
    assert why[ZA] == (False, "not named, and declares no areas of interest")
    assert MOH not in why


def test_each_recipient_reads_its_own_language_first(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), [RPN, MPS])
    deliver(nodes)
    mps = alerts(nodes, MPS).show(f"{MOH},{sent.alert.identifier}")
    assert [i.lang for i in mps.alert.for_languages(nodes.open[MPS].identity.languages)] == [
        "vi",
        "en",
    ]
    rpn = alerts(nodes, RPN).show(sent.alert.identifier)
    assert rpn.alert.for_languages(("ru", "en"))[0].lang == "en"


def test_the_sender_sees_per_recipient_delivered_acknowledged_or_silent(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), ["asean-russia"])
    ref = f"{MOH},{sent.alert.identifier}"
    deliver(nodes)
    alerts(nodes, RPN).ack(ref, by="Duty officer Ivanova", note="Border posts informed")
    deliver(nodes)
    nodes.advance(seconds=nodes.open[MOH].settings.alert_ack_timeout + 1)
    shown = alerts(nodes, MOH).show(ref)
    states = {r.participant: state for r, state in shown.recipients}
    assert states == {RPN: "acknowledged", MPS: "silent", DDPM: "silent"}
    [rpn] = [r for r, _ in shown.recipients if r.participant == RPN]
    assert rpn.ack_note == "Acknowledged by Duty officer Ivanova: Border posts informed"
    assert rpn.delivered_at is not None
    assert rpn.acked_at is not None
    assert "alert.acknowledged" in _actions(nodes, MOH)


def test_before_the_ack_timeout_an_unanswered_recipient_shows_its_delivery(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), [RPN])
    assert {s for _, s in alerts(nodes, MOH).show(sent.alert.identifier).recipients} == {"queued"}
    deliver(nodes)
    assert {s for _, s in alerts(nodes, MOH).show(sent.alert.identifier).recipients} == {
        "delivered"
    }


def test_an_alert_is_acknowledged_once(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), [RPN])
    deliver(nodes)
    alerts(nodes, RPN).ack(sent.alert.identifier)
    with pytest.raises(InputError, match="already acknowledged"):
        alerts(nodes, RPN).ack(sent.alert.identifier)


def test_an_update_supersedes_and_a_cancel_ends_the_chain_on_every_node(nodes: Nodes) -> None:
    moh = alerts(nodes, MOH)
    first = moh.send(epidemic(), ["asean-russia"])
    deliver(nodes)
    nodes.advance(minutes=30)
    changed = epidemic()
    changed["info"][0]["headline"] = "H5N1 confirmed in a fourth province"
    second = moh.update(first.alert.identifier, changed)
    assert [r.identifier for r in second.alert.references] == [first.alert.identifier]
    assert second.alert.msg_type is MsgType.UPDATE
    deliver(nodes)
    nodes.advance(hours=2)
    third = moh.cancel(second.alert.identifier, note="Outbreak contained")
    assert {r.identifier for r in third.alert.references} == {
        first.alert.identifier,
        second.alert.identifier,
    }
    deliver(nodes)
    for pid in (MOH, RPN, MPS, DDPM):
        states = {
            row.identifier: (state, row.superseded_by)
            for row, _, state in alerts(nodes, pid).listed("all")
        }
        assert states[first.alert.identifier] == ("superseded", second.alert.identifier)
        assert states[second.alert.identifier] == ("cancelled", third.alert.identifier)
        assert states[third.alert.identifier][0] == "cancel"
        assert alerts(nodes, pid).listed() == []  # nothing live any more


def test_an_update_goes_to_everyone_who_had_the_alert_and_to_new_areas(nodes: Nodes) -> None:
    moh = alerts(nodes, MOH)
    first = moh.send(epidemic(), [RPN])
    deliver(nodes)
    wider = epidemic()
    for info in wider["info"]:
        info["area"].append({"areaDesc": "Nong Khai", "polygon": [NONG_KHAI]})
    second = moh.update(first.alert.identifier, wider)
    reasons = {d.participant: d.reason for d in second.recipients}
    assert reasons[RPN] == "received an earlier message of this alert"
    assert reasons[DDPM].startswith("area of interest 'Thailand'")
    deliver(nodes)
    [(row, _, state)] = alerts(nodes, DDPM).listed()
    assert (row.identifier, state) == (second.alert.identifier, "active")


def test_only_the_current_message_of_a_chain_can_be_updated(nodes: Nodes) -> None:
    moh = alerts(nodes, MOH)
    first = moh.send(epidemic(), [RPN])
    moh.update(first.alert.identifier, epidemic())
    with pytest.raises(AlertChainBroken, match="superseded"):
        moh.update(first.alert.identifier, epidemic())


def test_a_node_cannot_update_or_cancel_an_alert_it_received(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), [RPN])
    deliver(nodes)
    with pytest.raises(AlertNotEntitled, match="only its sender may update"):
        alerts(nodes, RPN).update(sent.alert.identifier, epidemic())
    with pytest.raises(AlertNotEntitled, match="only its sender may cancel"):
        alerts(nodes, RPN).cancel(sent.alert.identifier)


def test_an_expired_alert_leaves_the_live_view(nodes: Nodes) -> None:
    alerts(nodes, MOH).send(epidemic(), [RPN])
    deliver(nodes)
    nodes.advance(days=2, seconds=1)
    assert alerts(nodes, RPN).listed() == []
    [(_, _, state)] = alerts(nodes, RPN).listed("all")
    assert state == "expired"


def test_an_alert_nobody_would_receive_is_not_sent(nodes: Nodes) -> None:
    fields = epidemic(scope="Restricted", restriction="Health authorities only")
    with pytest.raises(InputError, match="nobody would receive this alert"):
        alerts(nodes, MOH).send(fields, [])
    assert alerts(nodes, MOH).listed("all") == []


def test_test_and_system_alerts_never_appear_among_live_alerts(nodes: Nodes) -> None:
    alerts(nodes, MOH).send(epidemic(status="Test"), [RPN])
    deliver(nodes)
    assert alerts(nodes, RPN).listed() == []
    [(row, _, _)] = alerts(nodes, RPN).listed("test")
    assert row.status.value == "Test"


def test_reading_an_alert_is_audited(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), [RPN])
    deliver(nodes)
    before = _actions(nodes, RPN).count("alert.read")
    alerts(nodes, RPN).show(sent.alert.identifier)
    assert _actions(nodes, RPN).count("alert.read") == before + 1


def test_a_message_carries_the_signed_cap_document_unchanged(nodes: Nodes) -> None:
    sent = alerts(nodes, MOH).send(epidemic(), [RPN])
    deliver(nodes)
    held = alerts(nodes, RPN).show(sent.alert.identifier).stored.xml
    assert held == sent.xml
    assert b"<ds:Signature" in held
