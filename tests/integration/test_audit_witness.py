"""Witnessing between real nodes: partners co-sign each other's checkpoints, and a node that
shows two histories (to two witnesses, or to one over time) is caught with the evidence kept.

The misbehaving log is ``ke-odpp-ca``: in the directory, never started; the test holds its key
and forges two histories of its log.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.audit.log import log_origin
from accord.audit.merkle import consistency_proof, leaf_hash, perfect_from_leaves, root_of
from accord.audit.note import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignature,
)
from accord.audit.witness import ADD_CHECKPOINT, GOSSIP, format_add_checkpoint, witness_name
from accord.demo.federation import LocalFederation, NodeSpec
from accord.identity.models import Role

from .helpers import RU, VN, ZA, Accord, db_path, query, snapshot, start_all, wait_until

KE = NodeSpec("ke-odpp-ca", "Kenya ODPP", "KE", (Role.CENTRAL_AUTHORITY,), ("en", "sw"))
SETTINGS = "checkpoint_interval = 1\nretry_base = 0.05\nretry_max = 0.5\n"


@dataclass
class Fork:
    """One history of KE's log: its leaves and the checkpoints KE signs of it."""

    name: str
    leaves: list[bytes]

    @classmethod
    def of(cls, name: str, size: int) -> Fork:
        return cls(name, [leaf_hash(f"{name}-{i}".encode()) for i in range(size)])

    def note(self, signer: NoteSigner, size: int) -> bytes:
        root = root_of(self.leaves[:size])
        return sign_checkpoint(Checkpoint(signer.name, size, root), signer)

    def proof(self, old: int, new: int) -> list[bytes]:
        return consistency_proof(old, new, perfect_from_leaves(self.leaves[:new]))


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    created = LocalFederation.create(
        tmp_path_factory.mktemp("witness"), [VN, RU, ZA, KE], {}, settings_toml=SETTINGS
    )
    try:
        start_all(created.nodes[s.id] for s in (VN, RU, ZA))
        yield created
    finally:
        for node in created.nodes.values():
            node.kill()


@pytest.fixture(scope="module")
def ke(federation: LocalFederation) -> NoteSigner:
    return _signer(federation)


def _signer(federation: LocalFederation) -> NoteSigner:
    """KE's log key, taken from its folder: the test plays KE."""
    node = federation.nodes[KE.id].open()
    try:
        key: Ed25519PrivateKey = node.keys.signing
    finally:
        node.close()
    return NoteSigner(log_origin(KE.id), key)


def _post(
    federation: LocalFederation, witness: NodeSpec, body: bytes, path: str = ADD_CHECKPOINT
) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310 - loopback URL built by the test
        federation.nodes[witness.id].url + path, data=body, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _alarms(federation: LocalFederation, witness: NodeSpec) -> list[sqlite3.Row]:
    return query(
        db_path(federation.nodes[witness.id]),
        "SELECT * FROM audit_alarms WHERE participant = ? ORDER BY id",
        KE.id,
    )


def _witness_key(federation: LocalFederation, witness: NodeSpec) -> NoteVerifier:
    node = federation.nodes[witness.id].open()
    try:
        return NoteVerifier(witness_name(witness.id), node.keys.signing.public_key())
    finally:
        node.close()


def test_partners_cosign_each_others_checkpoints(federation: LocalFederation) -> None:
    """The running nodes submit their checkpoints to every partner (C2SP tlog-witness) and
    keep the cosignatures, which verify under the witnesses' directory keys."""

    def cosigned_by_both() -> list[sqlite3.Row]:
        rows = query(db_path(federation.nodes[VN.id]), "SELECT * FROM audit_cosignatures")
        return rows if {r["witness"] for r in rows} >= {RU.id, ZA.id} else []

    rows = wait_until(cosigned_by_both, "VN's checkpoint cosigned by RU and ZA")
    for row in rows:
        witness = RU if row["witness"] == RU.id else ZA
        verify_cosignature(bytes(row["note"]), _witness_key(federation, witness))
    seen = query(
        db_path(federation.nodes[RU.id]), "SELECT * FROM witnessed WHERE participant = ?", VN.id
    )
    assert seen, "RU keeps the latest checkpoint of VN it co-signed"


def test_split_view_shown_to_two_witnesses_is_caught(
    federation: LocalFederation, ke: NoteSigner
) -> None:
    """KE shows RU one history and ZA another of the same size; RU co-signs its version,
    ZA its own, and the gossip between witnesses exposes KE with both signed notes."""
    first, second = Fork.of("a", 5), Fork.of("b", 5)
    shown_ru, shown_za = first.note(ke, 5), second.note(ke, 5)

    status, _ = _post(federation, RU, format_add_checkpoint(0, [], shown_ru))
    assert status == 200
    status, _ = _post(federation, ZA, format_add_checkpoint(0, [], shown_za))
    assert status in {200, 409}  # 409 when RU's gossip reached ZA first: caught there

    def alarm_anywhere() -> list[sqlite3.Row]:
        return _alarms(federation, RU) + _alarms(federation, ZA)

    alarms = wait_until(alarm_anywhere, "a split-view alarm on a witness")
    alarm = alarms[0]
    assert alarm["kind"] == "split_view"
    assert alarm["message"].startswith(f"{KE.id} showed two histories of its audit log")
    evidence = json.loads(alarm["evidence"])
    kept = {evidence["earlier"].encode(), evidence["shown"].encode()}
    assert {_text(note) for note in kept} == {_text(shown_ru), _text(shown_za)}
    for note in kept:  # both carry KE's own signature: proof of its misbehaviour
        open_checkpoint(note, ke.verifier())
    witness = RU if _alarms(federation, RU) else ZA
    local = federation.nodes[witness.id]
    accord = Accord(local.home, local.env["ACCORD_PASSPHRASE"])
    (shown,) = accord.many(["audit", "alarms", "--dir", str(local.home)])
    assert shown.code == 1, shown  # visible to the operator, and to scripts by the exit code
    assert KE.id in shown.out
    assert "split_view" in shown.out


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 404, "not_found"),
        (b"not a note", 404, "not_found"),
        (b"accord-audit/ke-odpp-ca\n5\nnot base64\n\n", 403, "checkpoint_untrusted"),
        (b"x" * (65 * 1024), 413, "payload_too_large"),
    ],
    ids=["empty", "garbage", "unsigned", "oversized"],
)
def test_malformed_or_forged_gossip_is_refused_and_changes_nothing(
    federation: LocalFederation, body: bytes, status: int, code: str
) -> None:
    database = db_path(federation.nodes[RU.id])
    before = _witness_state(database)
    answer, raw = _post(federation, RU, body, GOSSIP)
    assert (answer, json.loads(raw)["code"]) == (status, code)
    assert _witness_state(database) == before


def test_gossip_signed_by_a_key_outside_the_directory_is_refused(
    federation: LocalFederation,
) -> None:
    forger = NoteSigner(log_origin(KE.id), Ed25519PrivateKey.generate())
    database = db_path(federation.nodes[RU.id])
    before = _witness_state(database)
    answer, raw = _post(federation, RU, Fork.of("h", 5).note(forger, 5), GOSSIP)
    assert (answer, json.loads(raw)["code"]) == (403, "checkpoint_untrusted")
    assert _witness_state(database) == before


def _witness_state(database: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table but RU's own checkpoints and their cosignatures, which RU's publisher
    refreshes every second (checkpoint_interval = 1) whatever the test sends."""
    state = snapshot(database)
    del state["audit_checkpoints"], state["audit_cosignatures"]
    return state


def _text(note: bytes) -> bytes:
    return note.split(b"\n\n", 1)[0]


def test_checkpoint_that_does_not_extend_the_last_one_is_refused_with_an_alarm(
    federation: LocalFederation, ke: NoteSigner
) -> None:
    """A witness co-signs only an extension of what it saw (RFC 9162 §2.1.4.2); asked to
    prove it, the log cannot, and the witness raises the alarm."""
    honest, rewritten = Fork.of("c", 9), Fork.of("d", 12)
    # VN first co-signs size 9 of one history …
    assert _post(federation, VN, format_add_checkpoint(0, [], honest.note(ke, 9)))[0] == 200
    before = len(_alarms(federation, VN))
    # … then KE claims size 12 of another, with that history's own proof from 9.
    body = format_add_checkpoint(9, rewritten.proof(9, 12), rewritten.note(ke, 12))
    with _serving(federation, rewritten):
        status, answer = _post(federation, VN, body)
    assert status == 422, answer
    assert json.loads(answer)["code"] == "proof_invalid"
    alarms = _alarms(federation, VN)
    assert len(alarms) == before + 1
    assert alarms[-1]["kind"] == "not_an_extension"
    assert _witnessed_sizes(federation, VN) == [9]  # nothing co-signed: the view is unchanged


def test_junk_proof_for_an_honest_log_is_refused_without_an_alarm(tmp_path: Path) -> None:
    """Anyone can pair two genuine checkpoints with a junk proof: the witness refuses it, asks
    the log, gets a valid proof, and raises no alarm against an honest log."""
    federation = LocalFederation.create(tmp_path, [RU, KE], {}, settings_toml=SETTINGS)
    honest = Fork.of("g", 20)
    try:
        start_all([federation.nodes[RU.id]])
        signer = _signer(federation)
        assert (
            _post(federation, RU, format_add_checkpoint(0, [], honest.note(signer, 14)))[0] == 200
        )
        junk = [bytes(32)] * len(honest.proof(14, 20))
        with _serving(federation, honest):
            body = format_add_checkpoint(14, junk, honest.note(signer, 20))
            status, answer = _post(federation, RU, body)
        alarms = _alarms(federation, RU)
    finally:
        for node in federation.nodes.values():
            node.kill()
    assert status == 422, answer
    assert json.loads(answer)["code"] == "proof_invalid"
    assert alarms == []


def _witnessed_sizes(federation: LocalFederation, witness: NodeSpec) -> list[int]:
    rows = query(
        db_path(federation.nodes[witness.id]),
        "SELECT size FROM witnessed WHERE participant = ? ORDER BY size",
        KE.id,
    )
    return [row["size"] for row in rows]


@contextlib.contextmanager
def _serving(federation: LocalFederation, fork: Fork) -> Iterator[None]:
    """KE's node on its directory URL, answering consistency requests from ``fork``."""
    handler = type("Handler", (_LyingLog,), {"fork": fork})
    port = urllib.parse.urlsplit(federation.nodes[KE.id].url).port
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port or 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


class _LyingLog(http.server.BaseHTTPRequestHandler):
    """KE's node as a liar runs it: it answers any consistency request with a proof from the
    history it showed ZA (the best it can do: no proof joins two forks)."""

    fork: Fork

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        old, new = int(query["old"][0]), int(query["new"][0])
        document = {
            "type": "accord-consistency-proof/v1",
            "old": "",
            "new": "",
            "proof": [base64.b64encode(h).decode() for h in self.fork.proof(old, new)],
        }
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def test_split_view_with_different_sizes_is_caught_by_asking_the_log(
    tmp_path: Path,
) -> None:
    """KE shows RU size 6 of one history and ZA size 8 of another. When the witnesses gossip,
    the sizes differ, so they ask KE to prove the larger extends the smaller: it cannot."""
    federation = LocalFederation.create(tmp_path, [VN, RU, ZA, KE], {}, settings_toml=SETTINGS)
    shown_ru, shown_za = Fork.of("e", 6), Fork.of("f", 8)
    try:
        start_all(federation.nodes[s.id] for s in (VN, RU, ZA))
        liar = _signer(federation)
        with _serving(federation, shown_za):
            note = shown_ru.note(liar, 6)
            assert _post(federation, RU, format_add_checkpoint(0, [], note))[0] == 200
            note = shown_za.note(liar, 8)
            assert _post(federation, ZA, format_add_checkpoint(0, [], note))[0] == 200

            def alarms() -> list[sqlite3.Row]:
                return _alarms(federation, RU) + _alarms(federation, ZA)

            alarm = wait_until(alarms, "an alarm after the witnesses gossip")[0]
    finally:
        for node in federation.nodes.values():
            node.kill()
    assert alarm["kind"] == "not_an_extension"
    assert "consistency" in alarm["message"]
