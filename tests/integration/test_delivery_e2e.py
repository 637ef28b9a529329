"""Delivery between running node processes: one-to-one, group fan-out, acknowledgement, and a
peer that is down."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from joserfc import jws

from accord.demo.federation import LocalFederation, NodeSpec
from accord.envelope.models import Kind
from accord.envelope.receipt import verify_receipt
from accord.federation.models import DeliveryState
from accord.federation.reading import Mailbox
from accord.federation.service import Federation
from accord.identity.directory import Directory
from accord.identity.models import Role
from accord.jose import SIG_ALG, okp
from accord.node.home import Node

from .helpers import RU, VN, ZA, db_path, query, start_all, wait_until

# In the directory, never started: its URL is a free port nobody listens on.
KE = NodeSpec("ke-odpp-ca", "Kenya ODPP", "KE", (Role.CENTRAL_AUTHORITY,), ("en", "sw"))
FAST_RETRIES = "retry_base = 0.05\nretry_max = 0.5\noutbox_poll = 0.1\n"


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    created = LocalFederation.create(
        tmp_path_factory.mktemp("delivery"),
        [VN, RU, ZA, KE],
        {"everyone": (VN.id, RU.id, ZA.id)},
        settings_toml=FAST_RETRIES,
    )
    try:
        start_all(created.nodes[s.id] for s in (VN, RU, ZA))
        yield created
    finally:
        for node in created.nodes.values():
            node.kill()


@pytest.fixture
def vn(federation: LocalFederation) -> Iterator[Node]:
    node = federation.nodes[VN.id].open()
    try:
        yield node
    finally:
        node.close()


def _note(subject: str) -> dict[str, object]:
    return {"subject": subject, "text": f"{subject}: details follow.", "attachments": []}


def _deliveries(database: Path, message_id: str) -> dict[str, sqlite3.Row]:
    rows = query(database, "SELECT * FROM deliveries WHERE message_id = ?", message_id)
    return {row["recipient"]: row for row in rows}


def _in_state(database: Path, message_id: str, state: DeliveryState) -> dict[str, sqlite3.Row]:
    rows = _deliveries(database, message_id)
    return rows if rows and all(r["state"] == state.value for r in rows.values()) else {}


def _outgoing(database: Path, message_id: str) -> sqlite3.Row:
    (row,) = query(database, "SELECT * FROM outgoing WHERE message_id = ?", message_id)
    return row


def _check_receipts(rows: dict[str, sqlite3.Row], sent: sqlite3.Row, directory: Directory) -> None:
    for recipient, row in rows.items():
        verify_receipt(
            row["receipt"],
            message_id=sent["message_id"],
            sha256=sent["sha256"],
            receiver=recipient,
            receiver_key=directory.signing_key(recipient),
        )


def _incoming_sha256(federation: LocalFederation, node: NodeSpec, message_id: str) -> str:
    database = db_path(federation.nodes[node.id])
    rows = query(database, "SELECT sha256, wire FROM incoming WHERE message_id = ?", message_id)
    assert len(rows) == 1, f"{node.id} holds {len(rows)} copies of {message_id}"
    assert hashlib.sha256(rows[0]["wire"]).hexdigest() == rows[0]["sha256"]
    return str(rows[0]["sha256"])


def test_one_to_one_and_group_messages_are_delivered_with_receipts(
    federation: LocalFederation, vn: Node
) -> None:
    sender = Federation(vn)
    direct = sender.send(RU.id, Kind.NOTE, _note("Advance notice"))
    group = sender.send("everyone", Kind.NOTE, _note("Contact details"))
    database = db_path(federation.nodes[VN.id])

    to_one = wait_until(
        lambda: _in_state(database, direct, DeliveryState.DELIVERED), "direct delivery"
    )
    to_group = wait_until(
        lambda: _in_state(database, group, DeliveryState.DELIVERED), "group delivery"
    )

    assert set(to_one) == {RU.id}
    assert set(to_group) == {RU.id, ZA.id}  # every member but the sender, one row each
    directory = sender.directory()
    _check_receipts(to_one, _outgoing(database, direct), directory)
    _check_receipts(to_group, _outgoing(database, group), directory)
    assert to_group[RU.id]["receipt"] != to_group[ZA.id]["receipt"]
    assert _outgoing(database, group)["address"] == "everyone"
    assert _incoming_sha256(federation, RU, direct) == _outgoing(database, direct)["sha256"]
    for receiver in (RU, ZA):
        assert _incoming_sha256(federation, receiver, group) == _outgoing(database, group)["sha256"]
    assert query(db_path(federation.nodes[VN.id]), "SELECT * FROM incoming") == []


def test_acknowledgement_by_the_receiver_reaches_the_sender(
    federation: LocalFederation, vn: Node
) -> None:
    message_id = Federation(vn).send(RU.id, Kind.NOTE, _note("Please confirm"))
    database = db_path(federation.nodes[VN.id])
    wait_until(lambda: _in_state(database, message_id, DeliveryState.DELIVERED), "delivery")

    ru = federation.nodes[RU.id].open()
    try:
        receiver = Mailbox(Federation(ru))
        assert [row.acked for row in receiver.inbox() if row.message_id == message_id] == [False]
        ack_id = receiver.acknowledge(message_id)
        assert [row.acked for row in receiver.inbox() if row.message_id == message_id] == [True]
    finally:
        ru.close()

    rows = wait_until(
        lambda: _in_state(database, message_id, DeliveryState.ACKNOWLEDGED), "acknowledgement"
    )
    row = rows[RU.id]
    assert row["acknowledged_at"] >= row["delivered_at"]
    ru_key = Federation(vn).directory().signing_key(RU.id)
    ack = json.loads(jws.deserialize_compact(row["ack"], okp(ru_key), algorithms=[SIG_ALG]).payload)
    assert (ack["kind"], ack["from"], ack["id"]) == ("ack", RU.id, ack_id)
    assert ack["body"]["message_id"] == message_id
    assert ack["body"]["sha256"] == _outgoing(database, message_id)["sha256"]
    (stored,) = query(
        db_path(federation.nodes[RU.id]),
        "SELECT opened_at, ack_message_id FROM incoming WHERE message_id = ?",
        message_id,
    )
    assert stored["opened_at"] is not None
    assert stored["ack_message_id"] == ack_id


def test_message_to_a_node_that_is_down_stays_retrying_with_a_reason(
    federation: LocalFederation, vn: Node
) -> None:
    message_id = Federation(vn).send(KE.id, Kind.NOTE, _note("Are you there?"))
    database = db_path(federation.nodes[VN.id])

    def retried_twice() -> sqlite3.Row | None:
        row = _deliveries(database, message_id)[KE.id]
        retrying = row["state"] == DeliveryState.RETRYING.value and row["attempts"] >= 2
        return row if retrying else None

    row = wait_until(retried_twice, "two failed attempts")

    assert "peer unreachable" in row["last_error"]
    assert row["receipt"] is None
    assert row["delivered_at"] is None
    (shown,) = [d for d in Mailbox(Federation(vn)).outbox() if d.message_id == message_id]
    assert shown.state in {DeliveryState.RETRYING, DeliveryState.SENT}  # never failed or lost


def test_signed_refusal_from_a_real_node_fails_the_delivery_with_its_reason(
    tmp_path: Path,
) -> None:
    """RU accepts smaller envelopes than VN sends: its signed 413 (bound to no body, since it
    refused before reading one) ends the delivery as failed, with RU's own words."""
    pair = LocalFederation.create(tmp_path, [VN, RU], {}, settings_toml=FAST_RETRIES)
    ru_settings = pair.nodes[RU.id].home / "settings.toml"
    with ru_settings.open("a") as handle:
        handle.write("max_message_bytes = 8192\n")
    try:
        start_all(pair.nodes[s.id] for s in (VN, RU))
        node = pair.nodes[VN.id].open()
        try:
            big = {"subject": "Logs", "text": "x" * 20_000, "attachments": []}
            message_id = Federation(node).send(RU.id, Kind.NOTE, big)
        finally:
            node.close()
        database = db_path(pair.nodes[VN.id])
        rows = wait_until(
            lambda: _in_state(database, message_id, DeliveryState.FAILED), "a final refusal"
        )
    finally:
        for started in pair.nodes.values():
            started.kill()
    row = rows[RU.id]
    assert row["last_error"].startswith(f"refused by {RU.id}: HTTP 413 payload_too_large:")
    assert "8192" in row["last_error"]
    assert row["attempts"] == 1  # a signed final refusal is not retried
    assert query(db_path(pair.nodes[RU.id]), "SELECT message_id FROM incoming") == []
