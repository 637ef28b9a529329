"""Seal and open envelopes (protocol v1): a JWS (Ed25519) inside a JWE (general JSON
serialization, one recipient entry per addressee, ECDH-ES+A256KW, A256GCM).

The signed payload repeats the routing data (id, sender, recipients, created, priority), and
opening checks that it equals the JWE protected header. A recipient can therefore not re-wrap
a sender's signed message to someone else (surreptitious forwarding, Davis 2001), and a relay
cannot re-address it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwe import GeneralJSONEncryption, GeneralJSONSerialization, JWERegistry
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from accord.clock import from_rfc3339, to_rfc3339
from accord.envelope.models import UUID7, Kind, Opened, Priority, Routing
from accord.errors import (
    EnvelopeMalformed,
    EnvelopeTampered,
    NotARecipient,
    OutsideTimeWindow,
    PayloadTooLarge,
    ReplayedMessage,
    UnknownParticipant,
    UnknownSender,
    WrongSigner,
)
from accord.identity.directory import Directory
from accord.identity.models import encryption_kid, signing_kid
from accord.jose import (
    CONTENT_ENC,
    KEY_ALG,
    SIG_ALG,
    b64url_decode,
    b64url_encode,
    dump,
    json_object,
    okp,
)
from accord.names import SLUG

ENVELOPE_TYP = "accord-envelope+jwe"
MESSAGE_TYP = "accord-message+jws"
PROTOCOL_VERSION = 1
ROUTING_HEADERS = {
    "id": HeaderParameter("Accord message id (UUIDv7)", "str", True),
    "from": HeaderParameter("Accord sender participant id", "str", True),
    "to": HeaderParameter("Accord recipient participant ids", "list[str]", True),
    "created": HeaderParameter("Accord creation time (RFC 3339)", "str", True),
    "priority": HeaderParameter("Accord priority", "str", True),
}


def _jwe_registry(max_bytes: int, max_recipients: int) -> JWERegistry:
    registry = JWERegistry(
        header_registry=ROUTING_HEADERS,
        algorithms=[KEY_ALG, CONTENT_ENC],
        verify_all_recipients=False,
        max_recipients=max_recipients + 1,  # the addressees and the sender's own copy
    )
    registry.max_ciphertext_length = max_bytes
    registry.max_protected_header_length = max_bytes
    return registry


def _jws_registry(max_bytes: int) -> JWSRegistry:
    registry = JWSRegistry(algorithms=[SIG_ALG])
    registry.max_payload_length = max_bytes
    return registry


def seal(
    *,
    routing: Routing,
    kind: Kind,
    body: Mapping[str, Any],
    signing_key: Ed25519PrivateKey,
    recipient_keys: Mapping[str, X25519PublicKey],
    max_bytes: int,
) -> bytes:
    """Sign ``body`` as ``routing.sender`` and encrypt it to every key in ``recipient_keys``
    (participant id -> X25519 key: the addressees, plus the sender to keep a readable copy).
    Raises PayloadTooLarge when the result exceeds ``max_bytes``."""
    missing = set(routing.recipients) - set(recipient_keys)
    if missing:
        raise ValueError(f"no encryption key for recipients {sorted(missing)}")
    payload = dump({**_routing_claims(routing), "v": PROTOCOL_VERSION, "kind": kind, "body": body})
    if len(payload) > max_bytes:
        raise PayloadTooLarge(
            f"message is {len(payload)} bytes before encryption; the limit is {max_bytes}",
            advice="Send large files as an evidence package, or raise ACCORD_MAX_MESSAGE_BYTES.",
        )
    header = {"alg": SIG_ALG, "kid": signing_kid(routing.sender), "typ": MESSAGE_TYP}
    signed = jws.serialize_compact(
        header, payload, okp(signing_key), registry=_jws_registry(max_bytes)
    )
    protected = {"enc": CONTENT_ENC, "typ": ENVELOPE_TYP, **_routing_claims(routing)}
    message = GeneralJSONEncryption(protected, signed.encode())
    for participant_id, key in recipient_keys.items():
        message.add_recipient({"alg": KEY_ALG, "kid": encryption_kid(participant_id)}, okp(key))
    registry = _jwe_registry(max_bytes, len(recipient_keys))
    wire = dump(jwe.encrypt_json(message, None, registry=registry))
    if len(wire) > max_bytes:
        raise PayloadTooLarge(
            f"envelope is {len(wire)} bytes; the limit is {max_bytes}",
            advice="Send large files as an evidence package, or raise ACCORD_MAX_MESSAGE_BYTES.",
        )
    return wire


def read_routing(wire: bytes, *, max_bytes: int) -> Routing:
    """Parse and check the routing header without any key: size first, then form."""
    if len(wire) > max_bytes:
        raise PayloadTooLarge(
            f"envelope is {len(wire)} bytes; this node accepts at most {max_bytes}",
            advice="Send large files as an evidence package.",
        )
    document = _parse(wire)
    try:
        header = json_object(b64url_decode(document["protected"]), "protected header")
    except ValueError as exc:
        raise EnvelopeMalformed(f"protected: {exc}") from exc
    # joserfc authenticates its re-encoding of the parsed header, not the received octets
    # (RFC 7516 §5.2 step 14): only that one form is accepted, so a relay cannot re-encode it.
    compact = json.dumps(header, ensure_ascii=True, separators=(",", ":")).encode()
    if document["protected"] != b64url_encode(compact):
        raise EnvelopeMalformed("protected: the header must be compact ASCII JSON, as sealed")
    if header.get("typ") != ENVELOPE_TYP:
        raise EnvelopeMalformed(f"protected.typ must be {ENVELOPE_TYP!r}")
    return _routing_from(header, "protected")


def check_window(routing: Routing, *, now: datetime, max_age: float, skew: float) -> None:
    """Refuse a message created too long ago (outside the replay window) or in the future."""
    if routing.created < now - timedelta(seconds=max_age):
        raise OutsideTimeWindow(
            f"message {routing.message_id} was created at {to_rfc3339(routing.created)}, "
            f"more than {max_age:.0f} s before {to_rfc3339(now)}",
            advice="The message is too old to be accepted; the sender must send it anew.",
        )
    if routing.created > now + timedelta(seconds=skew):
        raise OutsideTimeWindow(
            f"message {routing.message_id} claims creation at {to_rfc3339(routing.created)}, "
            f"more than {skew:.0f} s after this node's time {to_rfc3339(now)}",
            advice="Check the sender's clock (NTP).",
        )


def check_replay(routing: Routing, sha256: str, previous_sha256: str | None) -> bool:
    """True if this is a duplicate of a stored message (same id, same bytes): answer it with the
    stored receipt. Raises ReplayedMessage when the id was seen with different bytes."""
    if previous_sha256 is None:
        return False
    if previous_sha256 == sha256:
        return True
    raise ReplayedMessage(
        f"message id {routing.message_id} was already received with different content",
        advice="Message ids are single-use; a sender must create a new message.",
    )


def open_envelope(
    wire: bytes,
    *,
    me: str,
    my_key: X25519PrivateKey,
    directory: Directory,
    now: datetime,
    max_age: float,
    skew: float,
    max_bytes: int,
) -> Opened:
    """Verify and decrypt an envelope addressed to participant ``me``.

    Raises, in order of the checks: PayloadTooLarge, EnvelopeMalformed, NotARecipient,
    OutsideTimeWindow, UnknownSender, EnvelopeTampered, WrongSigner.
    """
    routing = read_routing(wire, max_bytes=max_bytes)
    if me not in routing.recipients:
        raise NotARecipient(
            f"message {routing.message_id} is addressed to {list(routing.recipients)}, "
            f"not to this node ({me})",
            advice="The sender used a wrong address or URL; check its directory version.",
        )
    check_window(routing, now=now, max_age=max_age, skew=skew)
    try:
        sender_key = directory.signing_key(routing.sender)
    except UnknownParticipant:
        raise UnknownSender(
            f"sender {routing.sender!r} is not in directory version {directory.version}",
            advice="If the sender joined recently, install the newer directory.",
        ) from None
    return open_stored(wire, me=me, my_key=my_key, sender_key=sender_key, max_bytes=max_bytes)


def open_stored(
    wire: bytes,
    *,
    me: str,
    my_key: X25519PrivateKey,
    sender_key: Ed25519PublicKey,
    max_bytes: int,
) -> Opened:
    """Decrypt and verify an envelope this node already holds (a received message, or its own
    copy of one it sent): the signature and routing checks, without time window or replay."""
    routing = read_routing(wire, max_bytes=max_bytes)
    signed = _decrypt(wire, me, my_key, max_bytes, len(routing.recipients) + 1)
    claims = _verify_signature(signed, routing.sender, sender_key, max_bytes)
    if _routing_from(claims, "signed payload") != routing:
        raise EnvelopeTampered(
            f"message {routing.message_id}: the routing header differs from the routing the "
            "sender signed (re-addressed or forwarded)",
            advice="Do not accept it; report the sending node.",
        )
    try:
        kind = Kind(str(claims.get("kind")))
    except ValueError:
        raise EnvelopeMalformed(f"kind {claims.get('kind')!r} is unknown") from None
    body = claims.get("body")
    if claims.get("v") != PROTOCOL_VERSION or not isinstance(body, dict):
        raise EnvelopeMalformed("signed payload must carry v=1 and an object body")
    return Opened(routing, kind, body, hashlib.sha256(wire).hexdigest(), signed)


def _decrypt(wire: bytes, me: str, key: X25519PrivateKey, max_bytes: int, count: int) -> bytes:
    document = _parse(wire)
    mine = [r for r in document["recipients"] if _recipient_kid(r) == encryption_kid(me)]
    if len(mine) != 1:
        raise NotARecipient(
            f"envelope has {len(mine)} recipient entries for {encryption_kid(me)}; expected one",
            advice="The sender did not encrypt to this node's key.",
        )
    _require_x25519_epk(mine[0])
    document = {**document, "recipients": mine}
    try:
        opened = jwe.decrypt_json(
            cast(GeneralJSONSerialization, document),
            okp(key),
            registry=_jwe_registry(max_bytes, count),
        )
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise EnvelopeTampered(
            "envelope does not decrypt: ciphertext, tag, header or key wrap was altered",
            advice="Do not accept it; ask the sender to send again if this persists.",
        ) from exc
    return bytes(opened.plaintext or b"")


_X25519_P = 2**255 - 19


def _require_x25519_epk(recipient: dict[str, Any]) -> None:
    """The ephemeral key must be exactly a public X25519 JWK in canonical form: joserfc ignores
    ``kty``, the padding bits of ``x`` and bit 255 of the key, which would let a relay alter the
    wire bytes (and so the SHA-256 a receipt states) without the recipient noticing."""
    epk = recipient["header"].get("epk")
    x = str(epk.get("x")) if isinstance(epk, dict) else ""
    try:
        raw = b64url_decode(x)
    except ValueError:
        raw = b""
    canonical = len(raw) == 32 and b64url_encode(raw) == x
    # RFC 7748 §5: X25519 ignores bit 255 and reduces mod p; only u < p is one encoding.
    canonical = canonical and int.from_bytes(raw, "little") < _X25519_P
    if not canonical or epk != {"kty": "OKP", "crv": "X25519", "x": x}:
        raise EnvelopeMalformed(
            "recipient header epk must be a public X25519 JWK (RFC 8037 §2) in canonical form"
        )


def _verify_signature(
    signed: bytes, sender: str, key: Ed25519PublicKey, max_bytes: int
) -> dict[str, Any]:
    try:
        header = json_object(b64url_decode(signed.split(b".")[0].decode("ascii")), "JWS header")
    except (ValueError, UnicodeDecodeError) as exc:
        raise EnvelopeMalformed(f"inner JWS: {exc}") from exc
    if header.get("kid") != signing_kid(sender):
        raise WrongSigner(
            f"inner signature names key {header.get('kid')!r}, not the sender's "
            f"{signing_kid(sender)!r}",
            advice="Do not accept it: the content was signed by someone else than the sender.",
        )
    try:
        verified = jws.deserialize_compact(signed, okp(key), registry=_jws_registry(max_bytes))
    except (JoseError, ValueError) as exc:
        raise WrongSigner(
            f"signature does not verify with the directory key of the claimed sender {sender!r}",
            advice="Do not accept it: it was forged or signed with a key not in the directory.",
        ) from exc
    if verified.headers().get("typ") != MESSAGE_TYP:
        raise EnvelopeMalformed(f"inner JWS typ must be {MESSAGE_TYP!r}")
    try:
        return json_object(verified.payload, "signed payload")
    except ValueError as exc:
        raise EnvelopeMalformed(str(exc)) from exc


def _parse(wire: bytes) -> dict[str, Any]:
    try:
        document = json_object(wire, "envelope")
    except ValueError as exc:
        raise EnvelopeMalformed(
            str(exc), advice="Send a JWE in general JSON serialization."
        ) from exc
    for name in ("protected", "iv", "ciphertext", "tag"):
        if not isinstance(document.get(name), str):
            raise EnvelopeMalformed(f"{name}: required string member of a JWE (RFC 7516 §7.2.1)")
    recipients = document.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        raise EnvelopeMalformed("recipients: a non-empty list is required (RFC 7516 §7.2.1)")
    if any(not isinstance(r, dict) for r in recipients):
        raise EnvelopeMalformed("recipients: each entry must be an object")
    if "unprotected" in document or "aad" in document:
        raise EnvelopeMalformed("unprotected/aad members are not allowed in protocol v1")
    return document


def _recipient_kid(recipient: dict[str, Any]) -> str | None:
    header = recipient.get("header")
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def _routing_claims(routing: Routing) -> dict[str, Any]:
    return {
        "id": routing.message_id,
        "from": routing.sender,
        "to": list(routing.recipients),
        "created": to_rfc3339(routing.created),
        "priority": routing.priority.value,
    }


def _routing_from(values: Mapping[str, Any], where: str) -> Routing:
    message_id, sender = values.get("id"), values.get("from")
    recipients, created = values.get("to"), values.get("created")
    if not isinstance(message_id, str) or not UUID7.match(message_id):
        raise EnvelopeMalformed(f"{where}.id must be a lowercase UUIDv7 (RFC 9562 §5.7)")
    if not isinstance(sender, str) or not SLUG.match(sender):
        raise EnvelopeMalformed(f"{where}.from must be a participant id")
    if not _is_id_list(recipients):
        raise EnvelopeMalformed(f"{where}.to must be a non-empty list of distinct participant ids")
    try:
        created_at = from_rfc3339(created) if isinstance(created, str) else None
    except ValueError:
        created_at = None
    if created_at is None:
        raise EnvelopeMalformed(f"{where}.created must be an RFC 3339 time with offset")
    try:
        priority = Priority(str(values.get("priority")))
    except ValueError:
        raise EnvelopeMalformed(
            f"{where}.priority must be one of {[p.value for p in Priority]}"
        ) from None
    return Routing(message_id, sender, tuple(cast(list[str], recipients)), created_at, priority)


def _is_id_list(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, str) and SLUG.match(v) for v in value)
        and len(set(value)) == len(value)
    )


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()
