"""The audit log over real HTTP between running nodes: a party to an entry fetches its
inclusion proof with a signed request and checks it offline with only the log's public key;
nobody else learns the entry exists; every forged request is refused with the one error shape
and changes nothing; the C2SP tlog-witness endpoint co-signs only what it should."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.audit.log import log_origin
from accord.audit.note import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignature,
)
from accord.audit.proofs import verify_document
from accord.audit.service import AuditLog
from accord.audit.witness import ADD_CHECKPOINT, SIZE_MEDIA_TYPE, format_add_checkpoint
from accord.audit.witness import witness_name as cosigner
from accord.clock import SystemClock
from accord.demo.federation import LocalFederation, LocalNode
from accord.envelope.models import Kind
from accord.errors import CheckpointInvalid
from accord.federation.auth import AUTH_HEADER, MAX_AUTH_BYTES, sign_request
from accord.federation.service import Federation
from accord.jose import ed25519_from_jwk
from accord.node.home import Node

from .helpers import (
    DEADLINE,
    ERROR_KEYS,
    RU,
    VN,
    ZA,
    db_path,
    query,
    snapshot,
    start_all,
    wait_until,
)

SKEW = 300
SETTINGS = f"checkpoint_interval = 1\nretry_base = 0.05\nretry_max = 0.5\nclock_skew = {SKEW}\n"
NOTE = {"subject": "Preservation request", "text": "HN-2026-0412"}
MISSING = 10_000  # an index far beyond the log


def inclusion(index: int) -> str:
    return f"/audit/v1/inclusion?index={index}"


@dataclass
class Audit:
    """VN, RU and ZA serving; VN sent RU one message (entry ``index`` of VN's log). The test
    holds RU's and ZA's real signing keys to ask VN as them."""

    federation: LocalFederation
    keys: dict[str, Ed25519PrivateKey]
    index: int
    message_id: str

    @property
    def vn(self) -> LocalNode:
        return self.federation.nodes[VN.id]

    def sign(self, target: str, who: str = RU.id, **changes: Any) -> str:
        """The ``accord-auth`` header of ``who`` for GET ``target`` now, unless ``changes``
        sets another ``key``, ``method`` or ``now``."""
        claims = {
            "key": self.keys.get(who),
            "audience": VN.id,
            "method": "GET",
            "now": SystemClock().now(),
        }
        return sign_request(participant=who, target=target, **(claims | changes))

    def get(self, target: str, header: str | None) -> httpx.Response:
        headers = {} if header is None else {AUTH_HEADER: header}
        return httpx.get(self.vn.url + target, headers=headers, timeout=DEADLINE)

    def ask(self, target: str, who: str = RU.id) -> httpx.Response:
        return self.get(target, self.sign(target, who))


def _idle(database: Path, partners: set[str]) -> bool:
    """The log's latest checkpoint covers all of it and every running partner co-signed it:
    from here on the node's background rounds write nothing."""
    size = query(database, "SELECT count(*) AS n FROM audit_records")[0]["n"]
    latest = query(database, "SELECT max(size) AS n FROM audit_checkpoints")[0]["n"]
    rows = query(database, "SELECT witness FROM audit_cosignatures WHERE size = ?", size)
    return latest == size and {r["witness"] for r in rows} == partners


def _settled(federation: LocalFederation) -> bool:
    ids = set(federation.nodes)
    return all(_idle(db_path(n), ids - {n.spec.id}) for n in federation.nodes.values())


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audit]:
    federation = LocalFederation.create(
        tmp_path_factory.mktemp("audit-http"), [VN, RU, ZA], {}, settings_toml=SETTINGS
    )
    keys = {}
    for spec in (RU, ZA):
        node = federation.nodes[spec.id].open()
        keys[spec.id] = node.keys.signing
        node.close()
    try:
        start_all(federation.nodes.values())
        vn = federation.nodes[VN.id].open()
        try:
            message_id = Federation(vn).send(RU.id, Kind.NOTE, NOTE)
            database = db_path(federation.nodes[VN.id])
            states = "SELECT state FROM deliveries WHERE message_id = ?"
            wait_until(
                lambda: [r["state"] for r in query(database, states, message_id)] == ["delivered"],
                "VN's message delivered to RU",
            )
            AuditLog(vn).checkpoint()
        finally:
            vn.close()
        wait_until(lambda: _settled(federation), "every checkpoint co-signed by both partners")
        sent = "SELECT idx FROM audit_records WHERE action = 'message.sent' AND object_id = ?"
        (row,) = query(database, sent, message_id)
        yield Audit(federation, keys, row["idx"], message_id)
    finally:
        for node in federation.nodes.values():
            node.kill()


# The valid path ------------------------------------------------------------------------------


def test_party_gets_an_inclusion_proof_that_verifies_with_only_the_logs_key(audit: Audit) -> None:
    response = audit.ask(inclusion(audit.index))
    assert response.status_code == 200, response.text
    # built only from VN's participant card in the signed directory
    verifier = NoteVerifier(log_origin(VN.id), ed25519_from_jwk(audit.vn.participant.signing_key))
    document = response.json()
    size = document["tree_size"]
    summary = verify_document(response.content, verifier)
    assert summary == f"entry {audit.index} (message.sent) is in the log at size {size}"
    assert document["entry"].startswith('{"action":"message.sent","actor":"vn-mps-247"')
    assert f'"object":"{audit.message_id}","parties":["ru-gp-ca","vn-mps-247"]' in document["entry"]
    with pytest.raises(CheckpointInvalid, match="carries no Ed25519 note signature"):
        verify_document(
            response.content, NoteVerifier(verifier.name, audit.keys[ZA.id].public_key())
        )

    checkpoint = audit.ask("/audit/v1/checkpoint", ZA.id)  # any participant sees the size
    assert checkpoint.status_code == 200
    assert verify_document(checkpoint.content, verifier) == (
        f"checkpoint of {log_origin(VN.id)} at size {size} is signed"
    )
    published = query(db_path(audit.vn), "SELECT size FROM audit_checkpoints ORDER BY size")
    old, new = published[0]["size"], published[-1]["size"]
    assert old < new
    consistency = audit.ask(f"/audit/v1/consistency?old={old}&new={new}", ZA.id)
    assert consistency.status_code == 200, consistency.text
    assert verify_document(consistency.content, verifier) == (
        f"the log at size {new} extends the log at size {old}"
    )


def test_non_party_gets_the_same_404_as_for_a_missing_entry(audit: Audit) -> None:
    before = snapshot(db_path(audit.vn))
    other = audit.ask(inclusion(audit.index), ZA.id)
    missing = audit.ask(inclusion(MISSING), ZA.id)
    operator_only = audit.ask(inclusion(0), RU.id)  # directory.installed names no party

    assert other.status_code == missing.status_code == operator_only.status_code == 404
    assert other.json() == {
        "code": "not_found",
        "message": f"no audit entry {audit.index} concerning {ZA.id}",
        "advice": "Ask for the entries named in receipts you hold.",
        "errors": [],
    }
    same = other.json() | {"message": f"no audit entry {MISSING} concerning {ZA.id}"}
    assert missing.json() == same
    assert operator_only.json()["message"] == f"no audit entry 0 concerning {RU.id}"
    assert snapshot(db_path(audit.vn)) == before


# Attacks on the reading routes -----------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """``header`` forges the ``accord-auth`` header sent when asking for ``asked``."""

    header: Callable[[Audit, str], str | None]
    status: int
    code: str
    says: str
    errors: tuple[tuple[str, str], ...] = ()  # (field, rule) of each field error
    asked: str = "/audit/v1/inclusion?index={index}"  # by default VN's message.sent entry


def _skewed(sign: int) -> datetime:
    return SystemClock().now() + sign * timedelta(seconds=SKEW + 60)


UNAUTHENTICATED = (401, "request_unauthenticated")
NO_SIGNED_REQUEST = (*UNAUTHENTICATED, "accord-auth: a signed request is required")
NOT_A_PARTICIPANT = (*UNAUTHENTICATED, "accord-auth: not signed by a participant of the directory")
ANOTHER_REQUEST = (*UNAUTHENTICATED, "accord-auth: signed for another request")
OUTSIDE_WINDOW = (*UNAUTHENTICATED, f"more than {SKEW} s from now")
ATTACKS = {
    "no_header": Attack(lambda a, t: None, *NO_SIGNED_REQUEST),
    "garbage_header": Attack(lambda a, t: "garbage", *NO_SIGNED_REQUEST),
    "three_garbage_segments": Attack(lambda a, t: "a.b.c", *NOT_A_PARTICIPANT),
    "oversized_header": Attack(lambda a, t: a.sign(t) + "A" * MAX_AUTH_BYTES, *NO_SIGNED_REQUEST),
    "signed_by_key_not_in_directory": Attack(
        lambda a, t: a.sign(t, "xx-rogue-ca", key=Ed25519PrivateKey.generate()),
        *NOT_A_PARTICIPANT),
    "signed_by_another_participants_key": Attack(
        lambda a, t: a.sign(t, key=a.keys[ZA.id]), *NOT_A_PARTICIPANT),
    "replayed_onto_another_query": Attack(
        lambda a, t: a.sign(inclusion(a.index)), *ANOTHER_REQUEST, asked=inclusion(0)),
    "replayed_onto_another_path": Attack(
        lambda a, t: a.sign(inclusion(a.index)), *ANOTHER_REQUEST, asked="/audit/v1/checkpoint"),
    "signed_for_another_method": Attack(lambda a, t: a.sign(t, method="POST"), *ANOTHER_REQUEST),
    "replayed_from_another_node": Attack(
        lambda a, t: a.sign(t, audience=ZA.id), *UNAUTHENTICATED,
        "accord-auth: signed for another node"),
    "iat_before_the_window": Attack(lambda a, t: a.sign(t, now=_skewed(-1)), *OUTSIDE_WINDOW),
    "iat_after_the_window": Attack(lambda a, t: a.sign(t, now=_skewed(+1)), *OUTSIDE_WINDOW),
    "negative_index": Attack(
        lambda a, t: a.sign(t), 422, "input_invalid", "the request is invalid",
        (("query.index", "greater_than_equal"),), asked=inclusion(-1)),
    "consistency_between_unpublished_sizes": Attack(  # 0 is never published: see _settled
        lambda a, t: a.sign(t), 404, "not_found", "no checkpoint of size 0; the latest are ",
        asked=f"/audit/v1/consistency?old=0&new={MISSING}"),
}  # fmt: skip


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_is_refused_and_changes_nothing(audit: Audit, attack: Attack) -> None:
    target = attack.asked.format(index=audit.index)
    header = attack.header(audit, target)
    before = snapshot(db_path(audit.vn))

    response = audit.get(target, header)

    body = response.json()
    assert (response.status_code, body.get("code")) == (attack.status, attack.code), body
    assert response.headers["content-type"] == "application/json"
    assert set(body) == ERROR_KEYS
    assert attack.says in body["message"], body
    assert body["advice"]
    assert [(e["field"], e["rule"]) for e in body["errors"]] == list(attack.errors)
    assert snapshot(db_path(audit.vn)) == before


# The witness endpoint (C2SP tlog-witness) ------------------------------------------------------


@dataclass
class Witness:
    """Only RU runs; VN's log is opened in this process, so RU has never seen it."""

    url: str
    database: Path
    vn: Node
    cosigner: NoteVerifier  # RU's cosignature key, from its card

    def post(self, body: bytes) -> httpx.Response:
        return httpx.post(self.url + ADD_CHECKPOINT, content=body, timeout=DEADLINE)

    def seen(self) -> list[int]:
        rows = query(self.database, "SELECT size FROM witnessed WHERE participant = ?", VN.id)
        return sorted(r["size"] for r in rows)


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witness]:
    federation = LocalFederation.create(
        tmp_path_factory.mktemp("audit-witness"), [VN, RU], {}, settings_toml=SETTINGS
    )
    ru = federation.nodes[RU.id]
    vn = federation.nodes[VN.id].open()
    try:
        ru.start()
        key = ed25519_from_jwk(ru.participant.signing_key)
        yield Witness(ru.url, db_path(ru), vn, NoteVerifier(cosigner(RU.id), key))
    finally:
        ru.kill()
        vn.close()


@pytest.fixture(scope="module")
def first(witness: Witness) -> tuple[bytes, httpx.Response]:
    """VN's real checkpoint, submitted once from size 0."""
    note = AuditLog(witness.vn).checkpoint().note
    return note, witness.post(format_add_checkpoint(0, [], note))


def test_witness_cosigns_a_new_log_then_answers_409_with_its_size(
    witness: Witness, first: tuple[bytes, httpx.Response]
) -> None:
    note, response = first
    assert response.status_code == 200, response.text
    (line,) = response.content.splitlines(keepends=True)
    assert line.startswith(f"\u2014 {cosigner(RU.id)} ".encode())
    signed_at = verify_cosignature(note + response.content, witness.cosigner)
    assert abs(signed_at - SystemClock().now()) < timedelta(seconds=DEADLINE)
    size = open_checkpoint(note, AuditLog(witness.vn).verifier).size
    assert witness.seen() == [size]

    again = witness.post(format_add_checkpoint(0, [], note))
    assert again.status_code == 409
    assert again.headers["content-type"].startswith(SIZE_MEDIA_TYPE)
    assert again.content == f"{size}\n".encode()


def test_bad_consistency_proof_is_422_and_the_true_one_is_cosigned(
    witness: Witness, first: tuple[bytes, httpx.Response]
) -> None:
    log = AuditLog(witness.vn)
    old = open_checkpoint(first[0], log.verifier).size
    Federation(witness.vn).send(RU.id, Kind.NOTE, NOTE)  # VN's log grows (queued, not sent)
    new = log.checkpoint()
    proof = list(log.consistency(old, new.checkpoint.size).hashes)
    forged = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]

    refused = witness.post(format_add_checkpoint(old, forged, new.note))
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "proof_invalid"
    assert "the consistency proof leads to" in refused.json()["message"]
    assert witness.seen() == [old]  # nothing co-signed

    accepted = witness.post(format_add_checkpoint(old, proof, new.note))
    assert accepted.status_code == 200, accepted.text
    verify_cosignature(new.note + accepted.content, witness.cosigner)
    assert witness.seen() == [old, new.checkpoint.size]


def _foreign(origin: str) -> Callable[[Witness], bytes]:
    """A well-formed checkpoint of ``origin`` signed by a key no directory lists."""

    def forge(_w: Witness) -> bytes:
        signer = NoteSigner(origin, Ed25519PrivateKey.generate())
        note = sign_checkpoint(Checkpoint(origin, 1, bytes(32)), signer)
        return format_add_checkpoint(0, [], note)

    return forge


def _real(head: bytes) -> Callable[[Witness], bytes]:
    """VN's real signed checkpoint behind a request head of our choosing."""
    return lambda w: head + b"\n" + AuditLog(w.vn).checkpoint().note


REFUSALS = {
    "checkpoint_signed_by_key_not_in_directory": (
        _foreign(log_origin(VN.id)), 403, "checkpoint_untrusted",
        f"checkpoint of {VN.id} is not signed by its directory key"),
    "unknown_participant": (
        _foreign(log_origin("xx-rogue-ca")), 404, "not_found",
        "no log 'accord-audit/xx-rogue-ca' among the directory's participants"),
    "origin_outside_accord": (
        _foreign("example.com/log"), 404, "not_found", "no log 'example.com/log'"),
    "no_old_line": (_real(b""), 400, "checkpoint_invalid", "must start with 'old <size>'"),
    "old_with_leading_zero": (_real(b"old 01\n"), 400, "checkpoint_invalid", "leading zeros"),
    "negative_old": (_real(b"old -1\n"), 400, "checkpoint_invalid", "'-1' is not a decimal"),
    "proof_line_not_a_hash": (
        _real(b"old 1\n" + base64.b64encode(b"short") + b"\n"), 400, "checkpoint_invalid",
        "line 2 is not a base64 SHA-256 hash"),
    "old_beyond_the_checkpoint": (
        _real(b"old 999\n"), 400, "checkpoint_invalid", "old size 999 exceeds the checkpoint's"),
    "oversized_body": (
        lambda _w: b"old 0\n" + b"A" * (64 * 1024), 413, "payload_too_large", "at most 65536"),
}  # fmt: skip


Refusal = tuple[Callable[[Witness], bytes], int, str, str]


@pytest.mark.parametrize("refusal", REFUSALS.values(), ids=REFUSALS.keys())
def test_witness_refuses_what_it_must_not_cosign(witness: Witness, refusal: Refusal) -> None:
    forge, status, code, says = refusal
    body = forge(witness)
    wait_until(lambda: _idle(witness.database, set()), "RU's own log checkpointed")
    before = snapshot(witness.database)

    response = witness.post(body)

    answer = response.json()
    assert (response.status_code, answer.get("code")) == (status, code), answer
    assert set(answer) == ERROR_KEYS
    assert says in answer["message"], answer
    assert answer["advice"]
    assert answer["errors"] == []
    assert snapshot(witness.database) == before
