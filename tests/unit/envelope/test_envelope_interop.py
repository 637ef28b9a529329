"""Independent cross-check with jwcrypto: our envelopes and receipts are standard JOSE that
another implementation reads, and an envelope another implementation builds opens here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from joserfc.jwk import OKPKey
from jwcrypto import jwe as jc_jwe
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws
from jwcrypto.common import JWException, json_encode

from accord.clock import to_rfc3339
from accord.envelope.core import ENVELOPE_TYP, MESSAGE_TYP, open_envelope, seal
from accord.envelope.models import Kind, Priority, Routing, new_message_id
from accord.envelope.receipt import RECEIPT_TYP, make_receipt, verify_receipt
from accord.errors import EnvelopeMalformed, EnvelopeTampered, WrongSigner
from accord.identity.models import encryption_kid, signing_kid

if TYPE_CHECKING:
    from tests.conftest import World

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MAX_BYTES = 64 * 1024
VN, RU, ZA = "vn-mps-247", "ru-gp-ca", "za-doj-ca"

Key = Ed25519PrivateKey | Ed25519PublicKey | X25519PrivateKey | X25519PublicKey


def jc_key(key: Key) -> jc_jwk.JWK:
    """A `cryptography` key as a jwcrypto JWK, through its JWK dict (RFC 8037 §2)."""
    private = isinstance(key, Ed25519PrivateKey | X25519PrivateKey)
    return jc_jwk.JWK(**OKPKey.import_key(key).as_dict(private=private))


def open_as(world: World, wire: bytes, me: str = RU) -> Any:
    return open_envelope(
        wire,
        me=me,
        my_key=world.keys[me].encryption,
        directory=world.directory,
        now=T0,
        max_age=3600,
        skew=300,
        max_bytes=MAX_BYTES,
    )


BODY = {"subject": "Запрос", "text": "Lưu giữ nhật ký 90 ngày", "items": [1, 2.5, None, True]}


# (a) jwcrypto reads what we seal -----------------------------------------------------------


@pytest.mark.parametrize("reader", [RU, ZA])
def test_jwcrypto_decrypts_our_envelope_and_verifies_the_inner_signature(
    world: World, reader: str
) -> None:
    routing = Routing(new_message_id(T0), VN, (RU, ZA), T0, Priority.URGENT)
    wire = seal(
        routing=routing,
        kind=Kind.NOTE,
        body=BODY,
        signing_key=world.keys[VN].signing,
        recipient_keys={p: world.directory.encryption_key(p) for p in (RU, ZA, VN)},
        max_bytes=MAX_BYTES,
    )
    envelope = jc_jwe.JWE()
    envelope.deserialize(wire.decode(), key=jc_key(world.keys[reader].encryption))
    mine = [h for h in envelope.jose_header if h["kid"] == encryption_kid(reader)]
    assert len(mine) == 1  # jwcrypto merges protected and per-recipient headers, one per entry
    header = mine[0]
    assert header["typ"] == ENVELOPE_TYP
    assert (header["alg"], header["enc"]) == ("ECDH-ES+A256KW", "A256GCM")
    assert (header["id"], header["from"], header["to"]) == (routing.message_id, VN, [RU, ZA])

    inner = jc_jws.JWS()
    inner.deserialize(envelope.payload.decode())
    inner.verify(jc_key(world.keys[VN].signing.public_key()), alg="Ed25519")
    assert inner.jose_header == {"alg": "Ed25519", "kid": signing_kid(VN), "typ": MESSAGE_TYP}
    claims = json.loads(inner.payload)
    assert claims["body"] == BODY
    assert claims["kind"] == "note"
    assert claims["v"] == 1
    assert claims["created"] == to_rfc3339(T0)
    assert claims["priority"] == "urgent"


def test_jwcrypto_rejects_our_envelope_with_a_non_recipient_key(world: World) -> None:
    routing = Routing(new_message_id(T0), VN, (RU,), T0, Priority.ROUTINE)
    wire = seal(
        routing=routing,
        kind=Kind.NOTE,
        body=BODY,
        signing_key=world.keys[VN].signing,
        recipient_keys={RU: world.directory.encryption_key(RU)},
        max_bytes=MAX_BYTES,
    )
    with pytest.raises(JWException):
        jc_jwe.JWE().deserialize(wire.decode(), key=jc_key(world.keys[ZA].encryption))


def test_jwcrypto_rejects_our_inner_signature_with_another_participants_key(
    world: World,
) -> None:
    routing = Routing(new_message_id(T0), VN, (RU,), T0, Priority.ROUTINE)
    wire = seal(
        routing=routing,
        kind=Kind.NOTE,
        body=BODY,
        signing_key=world.keys[VN].signing,
        recipient_keys={RU: world.directory.encryption_key(RU)},
        max_bytes=MAX_BYTES,
    )
    envelope = jc_jwe.JWE()
    envelope.deserialize(wire.decode(), key=jc_key(world.keys[RU].encryption))
    inner = jc_jws.JWS()
    inner.deserialize(envelope.payload.decode())
    with pytest.raises(jc_jws.InvalidJWSSignature):
        inner.verify(jc_key(world.keys[ZA].signing.public_key()), alg="Ed25519")


# (b) an envelope built entirely with jwcrypto opens here ----------------------------------


def jc_envelope(
    world: World,
    routing: Routing,
    body: dict[str, Any],
    *,
    signer: Ed25519PrivateKey,
    signed_routing: Routing | None = None,
    indent: int | None = None,
) -> bytes:
    """The v1 profile built with jwcrypto only: inner JWS (Ed25519, compact) with the routing
    claims, inside a JWE general JSON serialization with the routing in the protected header."""

    def claims(r: Routing) -> dict[str, Any]:
        return {
            "id": r.message_id,
            "from": r.sender,
            "to": list(r.recipients),
            "created": to_rfc3339(r.created),
            "priority": r.priority.value,
        }

    payload = {**claims(signed_routing or routing), "v": 1, "kind": "note", "body": body}
    inner = jc_jws.JWS(json.dumps(payload, ensure_ascii=False).encode())
    inner_header = {"alg": "Ed25519", "kid": signing_kid(routing.sender), "typ": MESSAGE_TYP}
    inner.add_signature(jc_key(signer), alg="Ed25519", protected=json_encode(inner_header))
    protected = {"enc": "A256GCM", "typ": ENVELOPE_TYP, **claims(routing)}
    envelope = jc_jwe.JWE(
        inner.serialize(compact=True).encode(),
        protected=json_encode(protected)
        if indent is None
        else json.dumps(protected, indent=indent),
    )
    for pid in routing.recipients:
        envelope.add_recipient(
            jc_key(world.directory.encryption_key(pid)),
            header=json_encode({"alg": "ECDH-ES+A256KW", "kid": encryption_kid(pid)}),
        )
    document = json.loads(envelope.serialize())
    if "recipients" not in document:  # jwcrypto flattens a single recipient (RFC 7516 §7.2.2)
        entry = {"header": document.pop("header"), "encrypted_key": document.pop("encrypted_key")}
        document["recipients"] = [entry]
    # ADR 0016's canonical form, written by an independent encoder: RFC 8785 (JCS) gives the
    # same bytes for these ASCII-only documents (the old spaced json.dumps is now refused)
    return rfc8785.dumps(document)


def test_envelope_built_with_jwcrypto_opens(world: World) -> None:
    routing = Routing(new_message_id(T0), VN, (RU, ZA), T0, Priority.FLASH)
    wire = jc_envelope(world, routing, BODY, signer=world.keys[VN].signing)
    for me in (RU, ZA):
        opened = open_as(world, wire, me)
        assert opened.routing == routing
        assert opened.kind is Kind.NOTE
        assert opened.body == BODY


def test_envelope_built_with_jwcrypto_by_an_impostor_is_wrong_signer(world: World) -> None:
    routing = Routing(new_message_id(T0), VN, (RU,), T0, Priority.ROUTINE)
    wire = jc_envelope(world, routing, BODY, signer=world.keys[ZA].signing)
    with pytest.raises(WrongSigner, match="claimed sender 'vn-mps-247'"):
        open_as(world, wire)


def test_envelope_built_with_jwcrypto_forwarded_is_tampered(world: World) -> None:
    """Same attack as in the unit suite, with the forger using another library."""
    signed_for = Routing(new_message_id(T0), VN, (RU,), T0, Priority.ROUTINE)
    header = Routing(signed_for.message_id, VN, (ZA,), T0, Priority.ROUTINE)
    wire = jc_envelope(
        world, header, BODY, signer=world.keys[VN].signing, signed_routing=signed_for
    )
    with pytest.raises(EnvelopeTampered, match="re-addressed or forwarded"):
        open_as(world, wire, me=ZA)


def test_envelope_from_a_producer_with_spaced_header_json_is_malformed(world: World) -> None:
    """RFC 7516 allows any JSON text in the protected header; this profile accepts only the
    compact form, because joserfc authenticates its own re-encoding (so a spaced header cannot
    decrypt here anyway): the error says so instead of blaming tampering."""
    routing = Routing(new_message_id(T0), VN, (RU,), T0, Priority.ROUTINE)
    wire = jc_envelope(world, routing, BODY, signer=world.keys[VN].signing, indent=1)
    with pytest.raises(EnvelopeMalformed, match="compact ASCII JSON"):
        open_as(world, wire)


# (c) receipts verify with jwcrypto ---------------------------------------------------------


def test_jwcrypto_verifies_our_receipt(world: World) -> None:
    receipt = make_receipt(
        message_id=new_message_id(T0),
        sha256="ab" * 32,
        sender=VN,
        receiver=RU,
        received_at=T0,
        key=world.keys[RU].signing,
    )
    token = jc_jws.JWS()
    token.deserialize(receipt.token)
    token.verify(jc_key(world.keys[RU].signing.public_key()), alg="Ed25519")
    assert token.jose_header == {"alg": "Ed25519", "kid": signing_kid(RU), "typ": RECEIPT_TYP}
    assert json.loads(token.payload) == {
        "message_id": receipt.message_id,
        "sha256": "ab" * 32,
        "sender": VN,
        "receiver": RU,
        "received_at": to_rfc3339(T0),
    }
    with pytest.raises(jc_jws.InvalidJWSSignature):
        token.verify(jc_key(world.keys[VN].signing.public_key()), alg="Ed25519")


def test_receipt_signed_with_jwcrypto_verifies(world: World) -> None:
    message_id = new_message_id(T0)
    claims = {
        "message_id": message_id,
        "sha256": "cd" * 32,
        "sender": VN,
        "receiver": RU,
        "received_at": to_rfc3339(T0),
    }
    token = jc_jws.JWS(json.dumps(claims).encode())
    header = {"alg": "Ed25519", "kid": signing_kid(RU), "typ": RECEIPT_TYP}
    token.add_signature(
        jc_key(world.keys[RU].signing), alg="Ed25519", protected=json_encode(header)
    )
    receipt = verify_receipt(
        token.serialize(compact=True),
        message_id=message_id,
        sha256="cd" * 32,
        receiver=RU,
        receiver_key=world.directory.signing_key(RU),
    )
    assert (receipt.sender, receipt.received_at) == (VN, T0)
