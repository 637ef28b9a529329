"""``POST /federation/v1/messages`` on a real node process: every attack is refused with the
one error shape and changes nothing in the receiver's database; a valid envelope gets a signed
receipt, and its duplicate the same receipt."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from joserfc import jwe
from joserfc.jwe import GeneralJSONEncryption, JWERegistry

from accord.app import create_app
from accord.clock import from_rfc3339, to_rfc3339
from accord.demo.federation import LocalFederation
from accord.envelope.core import ENVELOPE_TYP, ROUTING_HEADERS, open_stored, seal
from accord.envelope.models import Kind, Priority, Routing, new_message_id
from accord.envelope.receipt import REFUSAL_HEADER, verify_receipt, verify_refusal
from accord.errors import FieldError, InputError, ReceiptInvalid
from accord.federation.service import Federation
from accord.federation.transport import MEDIA_TYPE, MESSAGES_PATH
from accord.identity.directory import Directory
from accord.identity.keys import NodeKeys
from accord.identity.models import encryption_kid
from accord.jose import CONTENT_ENC, KEY_ALG, b64url_decode, b64url_encode, dump, okp
from accord.node.home import Node

from .helpers import DEADLINE, ERROR_KEYS, FIELD_ERROR_KEYS, RU, VN, ZA, db_path, query, snapshot

LIMIT = 64 * 1024  # the receiver's max_message_bytes, small so oversize bodies stay cheap
JOSE = {"content-type": MEDIA_TYPE}


@dataclass
class Peers:
    """The running receiver (ru-gp-ca) and two participants opened in this process to forge
    with their real keys: the legitimate sender vn-mps-247 and a third node za-doj-ca."""

    url: str
    database: Path
    vn: Node
    za: Node
    directory: Directory

    def post(self, content: bytes | Iterator[bytes], headers: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url + MESSAGES_PATH, content=content, headers=headers, timeout=30)

    def routing(self, **changes: Any) -> Routing:
        created = changes.pop("created", None) or self.vn.clock.now()
        fields: dict[str, Any] = {
            "message_id": new_message_id(created),
            "sender": VN.id,
            "recipients": (RU.id,),
            "created": created,
            "priority": Priority.ROUTINE,
        }
        fields.update(changes)
        return Routing(**fields)

    def seal(
        self,
        routing: Routing | None = None,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        body: dict[str, Any] | None = None,
        max_bytes: int = LIMIT,
    ) -> bytes:
        routing = routing or self.routing()
        return seal(
            routing=routing,
            kind=Kind.NOTE,
            body=body or {"subject": "Preservation request", "text": "HN-2026-0412"},
            signing_key=signing_key or self.vn.keys.signing,
            recipient_keys={pid: self.directory.encryption_key(pid) for pid in routing.recipients},
            max_bytes=max_bytes,
        )


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    federation = LocalFederation.create(
        tmp_path_factory.mktemp("http"),
        [VN, RU, ZA],
        {"everyone": (VN.id, RU.id, ZA.id)},
        # no timed checkpoint may land between a test's two snapshots: only input counts here
        settings_toml=f"max_message_bytes = {LIMIT}\ncheckpoint_interval = 86400\n",
    )
    receiver = federation.nodes[RU.id]
    vn = federation.nodes[VN.id].open()
    za = federation.nodes[ZA.id].open()
    try:
        receiver.start()
        yield Peers(receiver.url, db_path(receiver), vn, za, Federation(vn).directory())
    finally:
        receiver.kill()
        vn.close()
        za.close()


# Attacks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """What an attacker sends; ``forge`` (which may set the scene) runs before the snapshot."""

    forge: Callable[[Peers], bytes | Iterator[bytes]]
    status: int
    code: str
    says: str  # in the message: refused for this reason, not by accident for another
    headers: dict[str, str] = field(default_factory=lambda: dict(JOSE))


def _edit(wire: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    document = json.loads(wire)
    change(document)
    return dump(document)  # ADR 0016: the attack is the change, in the canonical form


def _flip_first_byte(b64: str) -> str:
    raw = bytearray(b64url_decode(b64))
    raw[0] ^= 0x01
    return b64url_encode(bytes(raw))


def tampered_ciphertext(p: Peers) -> bytes:
    def change(d: dict[str, Any]) -> None:
        d["ciphertext"] = _flip_first_byte(d["ciphertext"])

    return _edit(p.seal(), change)


def tampered_protected_header(p: Peers) -> bytes:
    def change(d: dict[str, Any]) -> None:
        header = json.loads(b64url_decode(d["protected"]))
        header["priority"] = Priority.FLASH.value  # jump the receiver's queue
        d["protected"] = b64url_encode(dump(header))

    return _edit(p.seal(), change)


def signed_by_another_participants_key(p: Peers) -> bytes:
    # za-doj-ca signs content and claims it comes from vn-mps-247
    return p.seal(signing_key=p.za.keys.signing)


def sender_not_in_directory(p: Peers) -> bytes:
    rogue = NodeKeys.generate()
    return p.seal(p.routing(sender="xx-rogue-ca"), signing_key=rogue.signing)


def addressed_to_another_node(p: Peers) -> bytes:
    return p.seal(p.routing(recipients=(ZA.id,)))


def key_entry_for_this_node_removed(p: Peers) -> bytes:
    def change(d: dict[str, Any]) -> None:
        d["recipients"] = [
            r for r in d["recipients"] if r["header"]["kid"] != encryption_kid(RU.id)
        ]

    return _edit(p.seal(p.routing(recipients=(RU.id, ZA.id))), change)


def forwarded_by_a_recipient_to_another_node(p: Peers) -> bytes:
    """Surreptitious forwarding: za-doj-ca decrypts vn's signed message to it and re-wraps
    the untouched signature to ru-gp-ca under a header claiming vn sent it to ru."""
    original = p.routing(recipients=(ZA.id,))
    wire = p.seal(original)
    signed = open_stored(
        wire,
        me=ZA.id,
        my_key=p.za.keys.encryption,
        sender_key=p.directory.signing_key(VN.id),
        max_bytes=LIMIT,
    ).signed
    forwarded = Routing(original.message_id, VN.id, (RU.id,), original.created, original.priority)
    return _wrap(signed, forwarded, {RU.id: p.directory.encryption_key(RU.id)})


def _wrap(signed: bytes, routing: Routing, keys: dict[str, X25519PublicKey]) -> bytes:
    """A JWE around an arbitrary inner JWS, built independently of ``seal``."""
    protected = {
        "enc": CONTENT_ENC,
        "typ": ENVELOPE_TYP,
        "id": routing.message_id,
        "from": routing.sender,
        "to": list(routing.recipients),
        "created": to_rfc3339(routing.created),
        "priority": routing.priority.value,
    }
    message = GeneralJSONEncryption(protected, signed)
    for pid, key in keys.items():
        message.add_recipient({"alg": KEY_ALG, "kid": encryption_kid(pid)}, okp(key))
    registry = JWERegistry(header_registry=ROUTING_HEADERS, algorithms=[KEY_ALG, CONTENT_ENC])
    return dump(jwe.encrypt_json(message, None, registry=registry))


def created_too_long_ago(p: Peers) -> bytes:
    max_age = p.vn.settings.message_max_age
    return p.seal(p.routing(created=p.vn.clock.now() - timedelta(seconds=max_age + 3600)))


def created_in_the_future(p: Peers) -> bytes:
    skew = p.vn.settings.clock_skew
    return p.seal(p.routing(created=p.vn.clock.now() + timedelta(seconds=skew + 3600)))


def replayed_message_id_with_other_content(p: Peers) -> bytes:
    original = p.seal()
    assert p.post(original, JOSE).status_code == 202  # stored before the snapshot
    routing = json.loads(b64url_decode(json.loads(original)["protected"]))
    replay = p.routing(message_id=routing["id"], created=from_rfc3339(routing["created"]))
    return p.seal(replay, body={"subject": "Preservation request", "text": "altered"})


def _oversized(p: Peers) -> bytes:
    # a genuine, validly signed envelope: only the receiver's size limit refuses it
    wire = p.seal(body={"subject": "big", "text": "x" * LIMIT}, max_bytes=4 * LIMIT)
    assert len(wire) > LIMIT
    return wire


def oversized_with_content_length(p: Peers) -> bytes:
    return _oversized(p)


def oversized_chunked_without_content_length(p: Peers) -> Iterator[bytes]:
    wire = _oversized(p)
    return (wire[i : i + 8192] for i in range(0, len(wire), 8192))


def malformed_json(p: Peers) -> bytes:
    return p.seal()[:-7]


def json_that_is_not_a_jwe(_p: Peers) -> bytes:
    return b'{"protected": "e30", "recipients": []}'


def deeply_nested_json(_p: Peers) -> bytes:
    return b"[" * 30_000 + b"]" * 30_000  # under the size limit, over any parser stack


def wrong_content_type(p: Peers) -> bytes:
    return p.seal()


ATTACKS = [
    pytest.param(
        Attack(tampered_ciphertext, 400, "envelope_tampered", "does not decrypt"),
        id="tampered_ciphertext",
    ),
    pytest.param(
        Attack(tampered_protected_header, 400, "envelope_tampered", "does not decrypt"),
        id="tampered_protected_header",
    ),
    pytest.param(
        Attack(
            signed_by_another_participants_key,
            400,
            "signature_key_mismatch",
            "does not verify with the directory key of the claimed sender 'vn-mps-247'",
        ),
        id="signed_by_another_participants_key",
    ),
    pytest.param(
        Attack(sender_not_in_directory, 403, "sender_unknown", "'xx-rogue-ca' is not in"),
        id="sender_not_in_directory",
    ),
    pytest.param(
        Attack(addressed_to_another_node, 421, "not_a_recipient", "not to this node (ru-gp-ca)"),
        id="addressed_to_another_node",
    ),
    pytest.param(
        # ADR 0016: entries that are not those 'to' names are malformed, before any key is used
        Attack(
            key_entry_for_this_node_removed, 400, "envelope_malformed", "1 entries for 2 addressee"
        ),
        id="key_entry_for_this_node_removed",
    ),
    pytest.param(
        Attack(
            forwarded_by_a_recipient_to_another_node,
            400,
            "envelope_tampered",
            "routing header differs from the routing the sender signed",
        ),
        id="forwarded_by_a_recipient_to_another_node",
    ),
    pytest.param(
        Attack(created_too_long_ago, 400, "created_outside_window", "s before"),
        id="created_too_long_ago",
    ),
    pytest.param(
        Attack(created_in_the_future, 400, "created_outside_window", "s after"),
        id="created_in_the_future",
    ),
    pytest.param(
        Attack(
            replayed_message_id_with_other_content,
            409,
            "message_id_replayed",
            "already received with different content",
        ),
        id="replayed_message_id_with_other_content",
    ),
    pytest.param(
        Attack(oversized_with_content_length, 413, "payload_too_large", f"at most {LIMIT}"),
        id="oversized_with_content_length",
    ),
    pytest.param(
        Attack(
            oversized_chunked_without_content_length,
            413,
            "payload_too_large",
            f"over this node's limit of {LIMIT} bytes",
        ),
        id="oversized_chunked_without_content_length",
    ),
    pytest.param(
        Attack(malformed_json, 400, "envelope_malformed", "not valid JSON"),
        id="malformed_json",
    ),
    pytest.param(
        Attack(json_that_is_not_a_jwe, 400, "envelope_malformed", "RFC 7516"),
        id="json_that_is_not_a_jwe",
    ),
    pytest.param(
        Attack(deeply_nested_json, 400, "envelope_malformed", "nests too deeply"),
        id="deeply_nested_json",
    ),
    pytest.param(
        Attack(
            wrong_content_type,
            415,
            "unsupported_media_type",
            "not text/plain",
            {"content-type": "text/plain"},
        ),
        id="wrong_content_type",
    ),
    pytest.param(
        Attack(wrong_content_type, 415, "unsupported_media_type", "not missing", {}),
        id="missing_content_type",
    ),
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_refused_and_changes_nothing(peers: Peers, attack: Attack) -> None:
    content = attack.forge(peers)
    before = snapshot(peers.database)

    response = peers.post(content, attack.headers)

    body = response.json()
    assert (response.status_code, body.get("code")) == (attack.status, attack.code), body
    assert set(body) == ERROR_KEYS
    assert attack.says in body["message"]
    assert snapshot(peers.database) == before
    # the refusal is signed by the node and bound to the body it refused (when it read it)
    read_whole_body = isinstance(content, bytes) and attack.status not in (413, 415)
    bound = hashlib.sha256(content).hexdigest() if read_whole_body else ""
    ru_key = peers.directory.signing_key(RU.id)
    signature = response.headers.get(REFUSAL_HEADER)
    verify_refusal(signature, response.content, request_sha256=bound, signer=RU.id, key=ru_key)
    with pytest.raises(ReceiptInvalid):
        verify_refusal(
            signature, response.content, request_sha256="0" * 64, signer=RU.id, key=ru_key
        )
    with pytest.raises(ReceiptInvalid):
        verify_refusal(
            signature, response.content + b" ", request_sha256=bound, signer=RU.id, key=ru_key
        )


def test_chunked_attack_really_has_no_content_length(peers: Peers) -> None:
    """Guards the test above: httpx streams a generator body with chunked encoding."""
    request = httpx.Request(
        "POST", peers.url, content=oversized_chunked_without_content_length(peers)
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"


# The valid path ---------------------------------------------------------------------------


def test_valid_envelope_gets_a_signed_receipt_and_its_duplicate_the_same(peers: Peers) -> None:
    routing = peers.routing()
    wire = peers.seal(routing)
    digest = hashlib.sha256(wire).hexdigest()

    empty = snapshot(peers.database)
    first = peers.post(wire, JOSE)
    assert first.status_code == 202
    assert snapshot(peers.database) != empty  # the snapshot does see a stored message
    token = first.json()["receipt"]
    assert first.json() == {"receipt": token, "duplicate": False}
    receipt = verify_receipt(
        token,
        message_id=routing.message_id,
        sha256=digest,
        receiver=RU.id,
        receiver_key=peers.directory.signing_key(RU.id),
    )
    assert receipt.sender == VN.id

    before = snapshot(peers.database)
    again = peers.post(wire, JOSE)
    assert again.status_code == 200
    assert again.json() == {"receipt": token, "duplicate": True}
    assert snapshot(peers.database) == before
    rows = query(
        peers.database,
        "SELECT sender, sha256, receipt, wire FROM incoming WHERE message_id = ?",
        routing.message_id,
    )
    assert [tuple(r) for r in rows] == [(VN.id, digest, token, wire)]


def test_receipt_does_not_verify_for_other_bytes_or_another_key(peers: Peers) -> None:
    routing = peers.routing()
    wire = peers.seal(routing)
    token = peers.post(wire, JOSE).json()["receipt"]
    with pytest.raises(Exception, match="states a different sha256"):
        verify_receipt(
            token,
            message_id=routing.message_id,
            sha256=hashlib.sha256(wire + b" ").hexdigest(),
            receiver=RU.id,
            receiver_key=peers.directory.signing_key(RU.id),
        )
    with pytest.raises(Exception, match="does not verify"):
        verify_receipt(
            token,
            message_id=routing.message_id,
            sha256=hashlib.sha256(wire).hexdigest(),
            receiver=RU.id,
            receiver_key=peers.directory.signing_key(ZA.id),
        )


# The one error shape (style.md §6) --------------------------------------------------------


def _types(body: dict[str, Any]) -> dict[str, type]:
    return {key: type(value) for key, value in body.items()}


PINNED = {"code": str, "message": str, "advice": str, "errors": list}


@dataclass(frozen=True)
class Refusal:
    method: str
    path: str
    headers: dict[str, str]
    status: int
    code: str


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            Refusal("POST", MESSAGES_PATH, {"content-type": "text/plain"}, 415,
                    "unsupported_media_type"),
            id="accord_error",
        ),
        pytest.param(
            Refusal("GET", "/federation/v1/nowhere", {}, 404, "not_found"), id="unknown_route"
        ),
        pytest.param(
            Refusal("GET", MESSAGES_PATH, {}, 405, "method_not_allowed"), id="wrong_method"
        ),
    ],
)  # fmt: skip
def test_error_shape_is_pinned(peers: Peers, case: Refusal) -> None:
    response = httpx.request(
        case.method, peers.url + case.path, headers=case.headers, timeout=DEADLINE
    )
    assert response.status_code == case.status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert _types(body) == PINNED
    assert (body["code"], body["errors"]) == (case.code, [])
    assert body["message"]
    assert body["advice"]


def test_field_error_entries_have_the_pinned_shape(peers: Peers) -> None:
    """No v1 route carries field errors yet, so a test route raises one through the app's
    real error handlers."""
    app = create_app(Federation(peers.vn))

    @app.get("/test/field-error")
    async def field_error() -> None:
        raise InputError(
            "the request breaks a rule",
            advice="Correct the field.",
            errors=[
                FieldError("deadline", "max_days", "too far", "UNCC Art. 42(3)"),
                FieldError("subject", "required", "missing"),
            ],
        )

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            return await client.get("/test/field-error")

    response = asyncio.run(get())
    body = response.json()
    assert response.status_code == 422
    assert _types(body) == PINNED
    assert body["code"] == "input_invalid"
    assert body["errors"] == [
        {
            "field": "deadline",
            "rule": "max_days",
            "message": "too far",
            "article": "UNCC Art. 42(3)",
        },
        {"field": "subject", "rule": "required", "message": "missing", "article": None},
    ]
    assert all(set(entry) == FIELD_ERROR_KEYS for entry in body["errors"])
