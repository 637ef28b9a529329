"""Envelope attacks, each named after what it tries: every one must raise its own error class
with a message that names the problem (protocol v1, sign then encrypt)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwe, jws
from joserfc.jwe import GeneralJSONEncryption, JWERegistry

from accord.clock import to_rfc3339
from accord.envelope.core import (
    ENVELOPE_TYP,
    MESSAGE_TYP,
    ROUTING_HEADERS,
    check_replay,
    check_window,
    open_envelope,
    open_stored,
    read_routing,
    seal,
)
from accord.envelope.models import Kind, Opened, Priority, Routing, new_message_id
from accord.errors import (
    EnvelopeError,
    EnvelopeMalformed,
    EnvelopeTampered,
    NotARecipient,
    OutsideTimeWindow,
    PayloadTooLarge,
    ReplayedMessage,
    UnknownSender,
    WrongSigner,
)
from accord.identity.models import encryption_kid, signing_kid
from accord.jose import CONTENT_ENC, KEY_ALG, SIG_ALG, b64url_decode, b64url_encode, dump, okp

if TYPE_CHECKING:
    from tests.conftest import World

# "now" of these tests; opening an envelope does not look at the directory's dates.
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MAX_BYTES = 64 * 1024
MAX_AGE = 3600.0
SKEW = 300.0
VN, RU, ZA = "vn-mps-247", "ru-gp-ca", "za-doj-ca"

# Helpers -----------------------------------------------------------------------------------


def make_routing(
    sender: str = VN,
    to: tuple[str, ...] = (RU,),
    *,
    created: datetime = T0,
    priority: Priority = Priority.ROUTINE,
    message_id: str | None = None,
) -> Routing:
    return Routing(message_id or new_message_id(created), sender, to, created, priority)


def seal_as(
    world: World,
    routing: Routing | None = None,
    *,
    body: dict[str, Any] | None = None,
    signing_key: Ed25519PrivateKey | None = None,
    max_bytes: int = MAX_BYTES,
) -> bytes:
    routing = routing or make_routing()
    return seal(
        routing=routing,
        kind=Kind.NOTE,
        body={"subject": "Request", "text": "Preserve the logs."} if body is None else body,
        signing_key=signing_key or world.keys[routing.sender].signing,
        recipient_keys={p: world.directory.encryption_key(p) for p in routing.recipients},
        max_bytes=max_bytes,
    )


def open_as(world: World, wire: bytes, me: str = RU, *, now: datetime = T0) -> Opened:
    return open_envelope(
        wire,
        me=me,
        my_key=world.keys[me].encryption,
        directory=world.directory,
        now=now,
        max_age=MAX_AGE,
        skew=SKEW,
        max_bytes=MAX_BYTES,
    )


def members(wire: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(wire)
    return value


def with_members(wire: bytes, **changes: Any) -> bytes:
    return dump({**members(wire), **changes})


def without_member(wire: bytes, name: str) -> bytes:
    document = members(wire)
    del document[name]
    return dump(document)


def flip_decoded(wire: bytes, member: str, index: int = 0) -> bytes:
    """Flip one bit of the decoded bytes of a base64url member and encode it again."""
    raw = bytearray(b64url_decode(members(wire)[member]))
    raw[index] ^= 0x01
    return with_members(wire, **{member: b64url_encode(bytes(raw))})


def protected_header(wire: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(b64url_decode(members(wire)["protected"]))
    return value


def with_protected(wire: bytes, **changes: Any) -> bytes:
    """Rewrite the JWE protected header without encrypting again (as a relay could)."""
    header = {**protected_header(wire), **changes}
    return with_members(wire, protected=b64url_encode(dump(header)))


def claims_for(routing: Routing, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "id": routing.message_id,
        "from": routing.sender,
        "to": list(routing.recipients),
        "created": to_rfc3339(routing.created),
        "priority": routing.priority.value,
        "v": 1,
        "kind": "note",
        "body": {"text": "forged"},
    }
    claims.update(changes)
    return claims


def sign_inner(key: Ed25519PrivateKey, claims: dict[str, Any] | bytes, **header: str) -> bytes:
    """An inner JWS built with joserfc directly; ``header`` overrides the v1 profile."""
    protected = {"alg": SIG_ALG, "kid": signing_kid(VN), "typ": MESSAGE_TYP, **header}
    payload = claims if isinstance(claims, bytes) else dump(claims)
    return jws.serialize_compact(protected, payload, okp(key), algorithms=[SIG_ALG]).encode()


def encrypt_outer(
    world: World, routing: Routing, signed: bytes, to_keys_of: tuple[str, ...]
) -> bytes:
    """A JWE built with joserfc directly: ``routing`` in the protected header, ``signed`` as the
    plaintext, one recipient entry for each participant in ``to_keys_of``."""
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
    for pid in to_keys_of:
        recipient_key = okp(world.directory.encryption_key(pid))
        message.add_recipient({"alg": KEY_ALG, "kid": encryption_kid(pid)}, recipient_key)
    registry = JWERegistry(header_registry=ROUTING_HEADERS, algorithms=[KEY_ALG, CONTENT_ENC])
    return dump(jwe.encrypt_json(message, None, registry=registry))


def forge(world: World, routing: Routing, claims: dict[str, Any] | bytes, **header: str) -> bytes:
    """The legitimate sender's key and a well-formed JWE, around chosen signed claims."""
    header = {"kid": signing_kid(routing.sender), **header}
    signed = sign_inner(world.keys[routing.sender].signing, claims, **header)
    return encrypt_outer(world, routing, signed, routing.recipients)


# Sanity: the helpers build envelopes that open, so each attack below changes one thing -----


def test_helpers_build_envelopes_that_open(world: World) -> None:
    routing = make_routing()
    sealed = open_as(world, seal_as(world, routing))
    forged = open_as(world, forge(world, routing, claims_for(routing)))
    assert sealed.routing == routing
    assert sealed.body == {"subject": "Request", "text": "Preserve the logs."}
    assert forged.body == {"text": "forged"}


# Tampering with the ciphertext, tag, iv, key wrap and protected header ---------------------


def test_flipped_ciphertext_byte_is_tampered(world: World) -> None:
    wire = seal_as(world)
    last = len(b64url_decode(members(wire)["ciphertext"])) - 1
    with pytest.raises(EnvelopeTampered, match="ciphertext, tag, header or key wrap was altered"):
        open_as(world, flip_decoded(wire, "ciphertext", index=last))


def test_flipped_tag_byte_is_tampered(world: World) -> None:
    with pytest.raises(EnvelopeTampered, match="does not decrypt"):
        open_as(world, flip_decoded(seal_as(world), "tag", index=15))


def test_flipped_iv_byte_is_tampered(world: World) -> None:
    with pytest.raises(EnvelopeTampered, match="does not decrypt"):
        open_as(world, flip_decoded(seal_as(world), "iv", index=0))


def test_flipped_wrapped_key_byte_is_tampered(world: World) -> None:
    document = members(seal_as(world))
    entry = document["recipients"][0]
    raw = bytearray(b64url_decode(entry["encrypted_key"]))
    raw[5] ^= 0x01
    entry["encrypted_key"] = b64url_encode(bytes(raw))
    with pytest.raises(EnvelopeTampered, match="does not decrypt"):
        open_as(world, dump(document))


def test_truncated_tag_is_malformed(world: World) -> None:
    # ADR 0016: refused by its length before any key is used (it was 'tampered' before)
    wire = seal_as(world)
    short = b64url_encode(b64url_decode(members(wire)["tag"])[:12])
    with pytest.raises(EnvelopeMalformed, match="tag: 12 bytes; protocol v1 uses 16"):
        open_as(world, with_members(wire, tag=short))


def test_iv_of_another_length_is_malformed(world: World) -> None:
    wire = seal_as(world)
    with pytest.raises(EnvelopeMalformed, match="iv: 16 bytes; protocol v1 uses 12"):
        open_as(world, with_members(wire, iv=b64url_encode(b"\x00" * 16)))


def test_ciphertext_swapped_from_another_envelope_is_tampered(world: World) -> None:
    first, second = seal_as(world), seal_as(world)
    spliced = with_members(first, ciphertext=members(second)["ciphertext"])
    with pytest.raises(EnvelopeTampered, match="does not decrypt"):
        open_as(world, spliced)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"priority": "flash"}, id="priority-raised"),
        pytest.param({"created": to_rfc3339(T0 + timedelta(seconds=1))}, id="re-dated"),
        pytest.param({"from": ZA}, id="sender-swapped"),
        pytest.param({"id": new_message_id(T0)}, id="new-message-id"),
    ],
)
def test_edited_protected_header_is_tampered(world: World, changes: dict[str, Any]) -> None:
    """The protected header is the GCM additional data (RFC 7516 §5.1 step 14): a relay that
    edits it, even to another well-formed routing, breaks decryption."""
    original = seal_as(world)
    wire = with_protected(original, **changes)
    edited = read_routing(wire, max_bytes=MAX_BYTES)  # still a well-formed routing header
    assert edited != read_routing(original, max_bytes=MAX_BYTES)
    with pytest.raises(EnvelopeTampered, match="does not decrypt"):
        open_as(world, wire)


def test_recipient_added_to_the_header_without_its_entry_is_malformed(world: World) -> None:
    """ADR 0016: the entries must be those 'to' names, so the edit is refused before any key
    is used (before the canonical form it reached decryption and failed there)."""
    wire = with_protected(seal_as(world), to=[RU, ZA])
    with pytest.raises(EnvelopeMalformed, match="1 entries for 2 addressee"):
        open_as(world, wire)


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda h: json.dumps(h, indent=1), id="whitespace"),
        pytest.param(
            lambda h: json.dumps(h, separators=(",", ":")).replace("a", "\\u0061"), id="escapes"
        ),
        pytest.param(
            lambda h: json.dumps(h, separators=(",", ":"))[:-1] + ',"typ":"' + h["typ"] + '"}',
            id="duplicate-key",
        ),
    ],
)
def test_protected_header_reencoded_with_same_meaning_is_malformed(
    world: World, encode: Callable[[dict[str, Any]], str]
) -> None:
    """joserfc authenticates its own re-encoding of the parsed header, so a re-encoded header
    with the same content would still decrypt; the wire bytes (and the SHA-256 a receipt
    states) would change unnoticed. Only the sealed, compact form is accepted."""
    wire = seal_as(world)
    header = protected_header(wire)
    reencoded = with_members(wire, protected=b64url_encode(encode(header).encode()))
    assert json.loads(b64url_decode(members(reencoded)["protected"])) == header
    with pytest.raises(
        EnvelopeMalformed, match=r"compact ASCII JSON, as sealed|'typ' appears twice"
    ):
        open_as(world, reencoded)


def test_ephemeral_key_with_other_kty_is_malformed(world: World) -> None:
    """joserfc ignores ``epk.kty``; the envelope core must not, or the wire bytes (and the
    SHA-256 a receipt states) could change while the message still opens."""
    document = members(seal_as(world))
    document["recipients"][0]["header"]["epk"]["kty"] = "OKQ"
    with pytest.raises(EnvelopeMalformed, match="epk must be a public X25519 JWK"):
        open_as(world, dump(document))


def test_ephemeral_key_with_bit_255_set_is_malformed(world: World) -> None:
    """X25519 ignores the top bit of the u-coordinate (RFC 7748 §5): setting it would give a
    second encoding of the same key."""
    document = members(seal_as(world))
    epk = document["recipients"][0]["header"]["epk"]
    raw = bytearray(b64url_decode(epk["x"]))
    raw[31] |= 0x80
    epk["x"] = b64url_encode(bytes(raw))
    with pytest.raises(EnvelopeMalformed, match="epk must be a public X25519 JWK"):
        open_as(world, dump(document))


def test_ephemeral_key_with_nonzero_padding_bits_is_malformed(world: World) -> None:
    document = members(seal_as(world))
    epk = document["recipients"][0]["header"]["epk"]
    raw = b64url_decode(epk["x"])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(epk["x"][-1])
    epk["x"] = epk["x"][:-1] + alphabet[last ^ 0x01]  # a padding bit: same 32 bytes decoded
    assert base64.urlsafe_b64decode(epk["x"] + "=") == raw
    with pytest.raises(EnvelopeMalformed, match="canonical form"):
        open_as(world, dump(document))


# Signer ------------------------------------------------------------------------------------


def test_participant_signing_with_own_key_as_another_sender_is_wrong_signer(
    world: World,
) -> None:
    """za-doj-ca (a real participant) seals in the name of vn-mps-247 with its own key."""
    wire = seal_as(world, make_routing(VN), signing_key=world.keys[ZA].signing)
    with pytest.raises(WrongSigner, match="directory key of the claimed sender 'vn-mps-247'"):
        open_as(world, wire)


def test_inner_kid_naming_another_participant_is_wrong_signer(world: World) -> None:
    """The inner JWS says it is za-doj-ca's signature while the envelope claims vn-mps-247."""
    routing = make_routing(VN)
    signed = sign_inner(world.keys[ZA].signing, claims_for(routing), kid=signing_kid(ZA))
    wire = encrypt_outer(world, routing, signed, (RU,))
    with pytest.raises(WrongSigner, match="names key 'za-doj-ca#sig', not the sender's"):
        open_as(world, wire)


def test_signature_by_key_outside_directory_is_wrong_signer(world: World) -> None:
    routing = make_routing(VN)
    wire = encrypt_outer(
        world, routing, sign_inner(Ed25519PrivateKey.generate(), claims_for(routing)), (RU,)
    )
    with pytest.raises(WrongSigner, match="does not verify"):
        open_as(world, wire)


def test_unsigned_inner_jws_with_alg_none_is_wrong_signer(world: World) -> None:
    routing = make_routing(VN)
    header = {"alg": "none", "kid": signing_kid(VN), "typ": MESSAGE_TYP}
    unsigned = f"{b64url_encode(dump(header))}.{b64url_encode(dump(claims_for(routing)))}."
    wire = encrypt_outer(world, routing, unsigned.encode(), (RU,))
    with pytest.raises(WrongSigner, match="does not verify"):
        open_as(world, wire)


def test_inner_jws_with_polymorphic_eddsa_alg_is_wrong_signer(world: World) -> None:
    """Only the fully-specified ``Ed25519`` (RFC 9864) is accepted, not ``EdDSA``."""
    routing = make_routing(VN)
    header = {"alg": "EdDSA", "kid": signing_kid(VN), "typ": MESSAGE_TYP}
    signing_input = f"{b64url_encode(dump(header))}.{b64url_encode(dump(claims_for(routing)))}"
    signature = world.keys[VN].signing.sign(signing_input.encode())  # a valid EdDSA JWS
    signed = f"{signing_input}.{b64url_encode(signature)}"
    wire = encrypt_outer(world, routing, signed.encode(), (RU,))
    with pytest.raises(WrongSigner, match="does not verify"):
        open_as(world, wire)


def test_inner_jws_of_another_type_is_malformed(world: World) -> None:
    """A receipt or card signed by the sender must not pass as a message."""
    routing = make_routing()
    wire = forge(world, routing, claims_for(routing), typ="accord-receipt+jws")
    with pytest.raises(EnvelopeMalformed, match="inner JWS typ must be 'accord-message\\+jws'"):
        open_as(world, wire)


# Directory membership and addressing -------------------------------------------------------


def test_sender_not_in_directory_is_unknown_sender(world: World) -> None:
    outsider = "kr-spo-ca"
    routing = make_routing(outsider)
    signed = sign_inner(
        Ed25519PrivateKey.generate(), claims_for(routing), kid=signing_kid(outsider)
    )
    wire = encrypt_outer(world, routing, signed, (RU,))
    with pytest.raises(UnknownSender, match="'kr-spo-ca' is not in directory version 1"):
        open_as(world, wire)


def test_node_not_in_to_is_not_a_recipient(world: World) -> None:
    wire = seal_as(world, make_routing(VN, (RU,)))
    with pytest.raises(NotARecipient, match=r"not to this node \(za-doj-ca\)"):
        open_as(world, wire, me=ZA)


def test_node_in_to_without_recipient_entry_is_malformed(world: World) -> None:
    """ADR 0016: an envelope whose entries are not those its 'to' names is refused by every
    recipient (before it, the others still opened it: an acceptance the canonical form ends)."""
    document = members(seal_as(world, make_routing(VN, (RU, ZA))))
    document["recipients"] = [
        r for r in document["recipients"] if r["header"]["kid"] != encryption_kid(ZA)
    ]
    wire = dump(document)
    for me in (ZA, RU):
        with pytest.raises(EnvelopeMalformed, match="1 entries for 2 addressee"):
            open_as(world, wire, me=me)


def test_node_named_in_to_but_encrypted_to_others_only_is_malformed(world: World) -> None:
    routing = make_routing(VN, (RU, ZA))
    wire = encrypt_outer(
        world, routing, sign_inner(world.keys[VN].signing, claims_for(routing)), (RU,)
    )
    with pytest.raises(EnvelopeMalformed, match="1 entries for 2 addressee"):
        open_as(world, wire, me=ZA)


def test_duplicated_recipient_entry_is_malformed(world: World) -> None:
    document = members(seal_as(world))
    document["recipients"] = document["recipients"] * 2
    with pytest.raises(EnvelopeMalformed, match="2 entries for 1 addressee"):
        open_as(world, dump(document))


def test_3000_extra_recipient_entries_are_malformed(world: World) -> None:
    document = members(seal_as(world))
    document["recipients"] = document["recipients"] * 3001
    wire = dump(document)
    with pytest.raises(EnvelopeMalformed, match="3001 entries for 1 addressee"):
        read_routing(wire, max_bytes=len(wire))


def test_entry_relabelled_with_my_kid_is_tampered(world: World) -> None:
    """An entry wrapped for za-doj-ca's key, relabelled ``ru-gp-ca#enc`` (and the entries put
    back in 'to' order, as ADR 0016 requires), cannot be unwrapped."""
    document = members(seal_as(world, make_routing(VN, (RU, ZA))))
    for entry in document["recipients"]:
        entry["header"]["kid"] = {
            encryption_kid(RU): encryption_kid(ZA),
            encryption_kid(ZA): encryption_kid(RU),
        }[entry["header"]["kid"]]
    document["recipients"].reverse()
    with pytest.raises(EnvelopeTampered, match="does not decrypt"):
        open_as(world, dump(document))


# Time window -------------------------------------------------------------------------------


def test_message_older_than_window_is_outside_time_window(world: World) -> None:
    wire = seal_as(world)
    late = T0 + timedelta(seconds=MAX_AGE + 1)
    with pytest.raises(OutsideTimeWindow, match="more than 3600 s before"):
        open_as(world, wire, now=late)


def test_message_from_the_future_is_outside_time_window(world: World) -> None:
    wire = seal_as(world)
    early = T0 - timedelta(seconds=SKEW + 1)
    with pytest.raises(OutsideTimeWindow, match="more than 300 s after this node's time"):
        open_as(world, wire, now=early)


def test_messages_at_the_window_edges_are_accepted(world: World) -> None:
    routing = make_routing()
    check_window(routing, now=T0 + timedelta(seconds=MAX_AGE), max_age=MAX_AGE, skew=SKEW)
    check_window(routing, now=T0 - timedelta(seconds=SKEW), max_age=MAX_AGE, skew=SKEW)
    wire = seal_as(world, routing)
    assert open_as(world, wire, now=T0 + timedelta(seconds=MAX_AGE)).routing == routing
    with pytest.raises(OutsideTimeWindow):
        check_window(
            routing,
            now=T0 + timedelta(seconds=MAX_AGE, microseconds=1),
            max_age=MAX_AGE,
            skew=SKEW,
        )


def test_stored_message_opens_outside_the_window(world: World) -> None:
    """open_stored is for messages already held: no time window applies."""
    wire = seal_as(world)
    opened = open_stored(
        wire,
        me=RU,
        my_key=world.keys[RU].encryption,
        sender_key=world.directory.signing_key(VN),
        max_bytes=MAX_BYTES,
    )
    assert opened.routing.created == T0
    with pytest.raises(OutsideTimeWindow):
        open_as(world, wire, now=T0 + timedelta(days=365))


# Replay ------------------------------------------------------------------------------------


def test_replayed_message_id_with_different_bytes_is_replayed_message(world: World) -> None:
    routing = make_routing()
    first, second = seal_as(world, routing), seal_as(world, routing, body={"text": "other"})
    assert first != second
    with pytest.raises(ReplayedMessage, match=f"message id {routing.message_id} was already"):
        check_replay(routing, hashlib.sha256(second).hexdigest(), hashlib.sha256(first).hexdigest())


def test_resealed_identical_content_is_still_a_replay(world: World) -> None:
    """Sealing the same message again gives other bytes (fresh key and iv): not a duplicate."""
    routing = make_routing()
    first, second = seal_as(world, routing), seal_as(world, routing)
    assert open_as(world, first).body == open_as(world, second).body
    with pytest.raises(ReplayedMessage):
        check_replay(routing, open_as(world, second).sha256, open_as(world, first).sha256)


def test_exact_duplicate_is_recognised(world: World) -> None:
    wire = seal_as(world)
    opened = open_as(world, wire)
    assert opened.sha256 == hashlib.sha256(wire).hexdigest()
    assert check_replay(opened.routing, opened.sha256, opened.sha256) is True


def test_first_sight_of_a_message_id_is_not_a_duplicate() -> None:
    assert check_replay(make_routing(), "ab" * 32, None) is False


# Size limits -------------------------------------------------------------------------------


def test_oversize_body_is_payload_too_large_on_seal(world: World) -> None:
    with pytest.raises(PayloadTooLarge, match="before encryption; the limit is 65536") as info:
        seal_as(world, body={"text": "x" * MAX_BYTES})
    assert "evidence package" in info.value.advice


def test_body_that_grows_over_the_limit_when_encrypted_is_payload_too_large_on_seal(
    world: World,
) -> None:
    """The signed payload fits, but base64url and the JWE overhead push the envelope over."""
    limit = 4096
    with pytest.raises(PayloadTooLarge, match=r"envelope is \d+ bytes; the limit is 4096"):
        seal_as(world, body={"text": "x" * 3500}, max_bytes=limit)


def test_oversize_envelope_is_payload_too_large_on_open(world: World) -> None:
    wire = seal_as(world)
    with pytest.raises(PayloadTooLarge, match=f"this node accepts at most {len(wire) - 1}"):
        open_envelope(
            wire,
            me=RU,
            my_key=world.keys[RU].encryption,
            directory=world.directory,
            now=T0,
            max_age=MAX_AGE,
            skew=SKEW,
            max_bytes=len(wire) - 1,
        )


def test_size_is_checked_before_parsing() -> None:
    with pytest.raises(PayloadTooLarge):
        read_routing(b"not json at all" * 10, max_bytes=100)


# Malformed envelopes -----------------------------------------------------------------------


def _drop_recipients(wire: bytes) -> bytes:
    return with_members(wire, recipients=[])


MALFORMED: list[Any] = [
    pytest.param(
        lambda w: b"not json",
        "envelope is not valid JSON",
        id="not-json",
    ),
    pytest.param(
        lambda w: b"\xff\xfe{}",
        "envelope is not UTF-8",
        id="not-utf8",
    ),
    pytest.param(
        lambda w: b"[1, 2]",
        "envelope must be a JSON object",
        id="json-array",
    ),
    pytest.param(
        lambda w: without_member(w, "protected"),
        "protected: required",
        id="no-protected",
    ),
    pytest.param(
        lambda w: without_member(w, "iv"),
        "iv: required",
        id="no-iv",
    ),
    pytest.param(
        lambda w: without_member(w, "ciphertext"),
        "ciphertext: required",
        id="no-ct",
    ),
    pytest.param(
        lambda w: without_member(w, "tag"),
        "tag: required",
        id="no-tag",
    ),
    pytest.param(
        lambda w: with_members(w, iv=12),
        "iv: required string",
        id="iv-number",
    ),
    pytest.param(
        lambda w: with_members(w, tag=None),
        "tag: required string",
        id="tag-null",
    ),
    pytest.param(
        lambda w: without_member(w, "recipients"),
        "recipients: a non-empty",
        id="no-rcpt",
    ),
    pytest.param(
        _drop_recipients,
        "recipients: a non-empty list",
        id="empty-recipients",
    ),
    pytest.param(
        lambda w: with_members(w, recipients={"a": 1}),
        "non-empty list",
        id="rcpt-obj",
    ),
    pytest.param(
        lambda w: with_members(w, recipients=["x"]),
        "each entry must be an object",
        id="rcpt-str",
    ),
    pytest.param(
        lambda w: with_members(w, unprotected={"priority": "flash"}),
        "member 'unprotected' is not part of protocol v1's envelope",
        id="unprotected",
    ),
    pytest.param(
        lambda w: with_members(w, aad="eA"),
        "member 'aad' is not part of protocol v1's envelope",
        id="aad",
    ),
    pytest.param(
        lambda w: with_members(w, protected="eyJhb"),
        "protected: not base64url",
        id="protected-not-b64",
    ),
    pytest.param(
        lambda w: with_members(w, protected="eyJ="),
        "protected: not base64url",
        id="protected-padded",
    ),
    pytest.param(
        lambda w: with_members(w, protected=b64url_encode(b"[1]")),
        "protected header must be a JSON object",
        id="protected-array",
    ),
    pytest.param(
        lambda w: with_members(w, protected=b64url_encode(b"{")),
        "protected header is not valid JSON",
        id="protected-not-json",
    ),
    pytest.param(
        lambda w: with_protected(w, typ="JWE"),
        "protected.typ must be",
        id="wrong-typ",
    ),
    pytest.param(
        lambda w: with_protected(w, id=str(uuid.uuid4())),
        "protected.id must be a lowercase UUIDv7",
        id="uuid4-id",
    ),
    pytest.param(
        lambda w: with_protected(w, id=new_message_id(T0).upper()),
        "protected.id must be a lowercase UUIDv7",
        id="uppercase-id",
    ),
    pytest.param(
        lambda w: with_protected(w, id=7),
        "protected.id",
        id="numeric-id",
    ),
    pytest.param(
        lambda w: with_protected(w, **{"from": "VN MPS"}),
        "protected.from must be a participant id",
        id="bad-sender",
    ),
    pytest.param(
        lambda w: with_protected(w, to=[]),
        "protected.to must be a non-empty list",
        id="empty-to",
    ),
    pytest.param(
        lambda w: with_protected(w, to=RU),
        "protected.to must be",
        id="to-string",
    ),
    pytest.param(
        lambda w: with_protected(w, to=[RU, RU]),
        "distinct participant ids",
        id="to-duplicate",
    ),
    pytest.param(
        lambda w: with_protected(w, to=[RU, 5]),
        "protected.to must be",
        id="to-number",
    ),
    pytest.param(
        lambda w: with_protected(w, created="2026-11-24T09:00:00"),
        "protected.created must be an RFC 3339 time with offset",
        id="created-naive",
    ),
    pytest.param(
        lambda w: with_protected(w, created="yesterday"),
        "protected.created",
        id="created-text",
    ),
    pytest.param(
        lambda w: with_protected(w, created=1795510800),
        "protected.created",
        id="created-number",
    ),
    pytest.param(
        lambda w: with_protected(w, priority="immediate"),
        "protected.priority must be one of",
        id="bad-priority",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), MALFORMED)
def test_malformed_envelope_is_rejected(
    world: World, mutate: Callable[[bytes], bytes], message: str
) -> None:
    with pytest.raises(EnvelopeMalformed) as info:
        open_as(world, mutate(seal_as(world)))
    assert message in info.value.message


def test_uuid4_message_id_is_malformed_even_when_properly_sealed(world: World) -> None:
    wire = seal_as(world, make_routing(message_id=str(uuid.uuid4())))
    with pytest.raises(
        EnvelopeMalformed, match=re.escape("protected.id must be a lowercase UUIDv7")
    ):
        open_as(world, wire)


SIGNED_MALFORMED: list[Any] = [
    pytest.param({"kind": "order"}, "kind 'order' is unknown", id="unknown-kind"),
    pytest.param({"v": 2}, "must carry v=1", id="version-2"),
    pytest.param({"v": "1"}, "must carry v=1", id="version-string"),
    pytest.param({"body": ["a"]}, "an object body", id="body-list"),
    pytest.param({"body": None}, "an object body", id="body-null"),
    pytest.param({"id": "1"}, "signed payload.id must be a lowercase UUIDv7", id="signed-bad-id"),
    pytest.param({"created": "now"}, "signed payload.created", id="signed-bad-created"),
]


@pytest.mark.parametrize(("changes", "message"), SIGNED_MALFORMED)
def test_malformed_signed_payload_is_rejected(
    world: World, changes: dict[str, Any], message: str
) -> None:
    routing = make_routing()
    with pytest.raises(EnvelopeMalformed) as info:
        open_as(world, forge(world, routing, claims_for(routing, **changes)))
    assert message in info.value.message


@pytest.mark.parametrize(
    "payload", [b"[]", b"not json", b'"text"'], ids=["array", "not-json", "string"]
)
def test_signed_payload_that_is_not_an_object_is_malformed(world: World, payload: bytes) -> None:
    with pytest.raises(EnvelopeMalformed, match="signed payload"):
        open_as(world, forge(world, make_routing(), payload))


def test_signed_routing_without_priority_is_malformed(world: World) -> None:
    routing = make_routing()
    claims = claims_for(routing)
    del claims["priority"]
    with pytest.raises(
        EnvelopeMalformed, match=re.escape("signed payload.priority must be one of")
    ):
        open_as(world, forge(world, routing, claims))


# Surreptitious forwarding and re-addressing ------------------------------------------------


def test_surreptitious_forwarding_is_tampered(world: World) -> None:
    """ru-gp-ca decrypts vn-mps-247's message and re-encrypts the signed JWS to za-doj-ca under
    a header naming za-doj-ca (Davis 2001): the signed routing still says ru-gp-ca."""
    routing = make_routing(VN, (RU,))
    received = open_as(world, seal_as(world, routing))
    forwarded_routing = make_routing(VN, (ZA,), message_id=routing.message_id)
    wire = encrypt_outer(world, forwarded_routing, received.signed, (ZA,))
    with pytest.raises(EnvelopeTampered, match="differs from the routing the sender signed"):
        open_as(world, wire, me=ZA)


def test_forwarding_under_the_original_header_is_malformed(world: World) -> None:
    # ADR 0016: the entry (for za) is not the one 'to' (ru) calls for; refused before any key
    routing = make_routing(VN, (RU,))
    received = open_as(world, seal_as(world, routing))
    wire = encrypt_outer(world, routing, received.signed, (ZA,))
    with pytest.raises(EnvelopeMalformed, match="1 entries for 1 addressee"):
        open_as(world, wire, me=ZA)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"recipients": (RU, ZA)}, id="recipient-added"),
        pytest.param({"priority": Priority.FLASH}, id="priority-raised"),
        pytest.param({"created": T0 + timedelta(seconds=10)}, id="re-dated"),
        pytest.param({"message_id": new_message_id(T0)}, id="new-id"),
    ],
)
def test_rewrapped_with_other_routing_is_tampered(world: World, changes: dict[str, Any]) -> None:
    """Anyone holding the signed JWS (a recipient, a relay that saw it) re-encrypts it under a
    fresh, valid JWE with other routing: the signed routing no longer matches."""
    routing = make_routing(VN, (RU,))
    received = open_as(world, seal_as(world, routing))
    rewrapped = replace(routing, **changes)
    wire = encrypt_outer(world, rewrapped, received.signed, rewrapped.recipients)
    with pytest.raises(EnvelopeTampered, match="re-addressed or forwarded"):
        open_as(world, wire)


def test_every_rejection_is_an_envelope_error() -> None:
    """The classes above share one base, so the API maps them with one rule."""
    for cls in (
        EnvelopeMalformed,
        EnvelopeTampered,
        WrongSigner,
        UnknownSender,
        NotARecipient,
        OutsideTimeWindow,
        ReplayedMessage,
        PayloadTooLarge,
    ):
        assert issubclass(cls, EnvelopeError)
    codes = {
        cls.code
        for cls in (
            EnvelopeMalformed,
            EnvelopeTampered,
            WrongSigner,
            UnknownSender,
            NotARecipient,
            OutsideTimeWindow,
            ReplayedMessage,
            PayloadTooLarge,
        )
    }
    assert len(codes) == 8
