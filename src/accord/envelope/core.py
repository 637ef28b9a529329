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
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwe import GeneralJSONEncryption, GeneralJSONSerialization, JWERegistry
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from accord.boundedjson import JsonLimits
from accord.clock import from_rfc3339, to_rfc3339
from accord.envelope.models import UUID7, Kind, Opened, Priority, Routing
from accord.errors import (
    EnvelopeMalformed,
    EnvelopeTampered,
    FieldError,
    JsonInvalid,
    NotARecipient,
    OutsideTimeWindow,
    PayloadTooLarge,
    ReplayedMessage,
    UnknownParticipant,
    UnknownRecipient,
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
MAX_RECIPIENTS = 4096  # the bound of ACCORD_MAX_RECIPIENTS
MyKeys = X25519PrivateKey | Sequence[X25519PrivateKey]  # this node's, newest first
# ADR 0016: the members of the canonical envelope, and the sizes of its binary values
TOP_MEMBERS = frozenset({"ciphertext", "iv", "protected", "recipients", "tag"})
RECIPIENT_MEMBERS = frozenset({"encrypted_key", "header"})
RECIPIENT_HEADER_MEMBERS = frozenset({"alg", "epk", "kid"})
PROTECTED_MEMBERS = frozenset({"enc", "typ", "id", "from", "to", "created", "priority"})
IV_BYTES = 12  # RFC 7518 §5.3: A256GCM's 96-bit IV
TAG_BYTES = 16  # RFC 7518 §5.3: a 128-bit authentication tag
WRAPPED_KEY_BYTES = 40  # RFC 3394 §2.2.1: A256KW wraps the 32-byte content key in 40 bytes
# the envelope nests 5 levels (envelope, recipients, entry, header, epk); its header's 'to'
# holds at most MAX_RECIPIENTS ids, and there is one recipient entry more than that
ENVELOPE_JSON = JsonLimits(max_depth=6, max_items=MAX_RECIPIENTS + 1, max_values=40_000)
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
    others = set(recipient_keys) - {*routing.recipients, routing.sender}
    if others:
        raise ValueError(f"keys of {sorted(others)}, who are not addressed")
    # ADR 0016: the entries in 'to' order, then the sender's own copy when it keeps one
    order = [*routing.recipients, *([routing.sender] if routing.sender in recipient_keys else [])]
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
    for participant_id in order:
        header = {"alg": KEY_ALG, "kid": encryption_kid(participant_id)}
        message.add_recipient(header, okp(recipient_keys[participant_id]))
    registry = _jwe_registry(max_bytes, len(recipient_keys))
    wire = dump(jwe.encrypt_json(message, None, registry=registry))
    if len(wire) > max_bytes:
        raise PayloadTooLarge(
            f"envelope is {len(wire)} bytes; the limit is {max_bytes}",
            advice="Send large files as an evidence package, or raise ACCORD_MAX_MESSAGE_BYTES.",
        )
    return wire


def read_routing(wire: bytes, *, max_bytes: int, max_recipients: int = MAX_RECIPIENTS) -> Routing:
    """Parse and check the routing header without any key: size first, then the canonical
    wire form (ADR 0016), then the routing data."""
    return read_envelope(wire, max_bytes=max_bytes, max_recipients=max_recipients)[1]


def read_envelope(
    wire: bytes, *, max_bytes: int, max_recipients: int = MAX_RECIPIENTS
) -> tuple[dict[str, Any], Routing]:
    """The envelope's JSON and its routing, once the wire bytes are the one canonical form
    of protocol v1 (ADR 0016) and every recipient entry is the one its routing calls for."""
    if len(wire) > max_bytes:
        raise PayloadTooLarge(
            f"envelope is {len(wire)} bytes; this node accepts at most {max_bytes}",
            advice="Send large files as an evidence package.",
        )
    document = canonical_document(wire, max_bytes)
    try:
        header = json_object(
            b64url_decode(document["protected"]),
            "protected header",
            ENVELOPE_JSON.but(max_bytes=max_bytes),
        )
    except ValueError as exc:
        raise _malformed("protected", "json", f"protected: {exc}") from exc
    # joserfc authenticates its re-encoding of the parsed header, not the received octets
    # (RFC 7516 §5.2 step 14): only that one form is accepted, so a relay cannot re-encode it.
    compact = json.dumps(header, ensure_ascii=True, separators=(",", ":")).encode()
    if document["protected"] != b64url_encode(compact):
        raise _malformed(
            "protected", "canonical", "protected: the header must be compact ASCII JSON, as sealed"
        )
    _only_members(header, PROTECTED_MEMBERS, "protected")
    if header.get("typ") != ENVELOPE_TYP:
        raise _malformed("protected.typ", "value", f"protected.typ must be {ENVELOPE_TYP!r}")
    if isinstance(header.get("to"), list) and len(header["to"]) > max_recipients:
        raise _malformed(
            "protected.to",
            "max_recipients",
            f"protected.to names {len(header['to'])} recipients; this node accepts at most "
            f"{max_recipients} (ACCORD_MAX_RECIPIENTS)",
        )
    routing = _routing_from(header, "protected")
    _entries_match(document["recipients"], routing)
    return document, routing


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
    my_key: MyKeys,
    directory: Directory,
    now: datetime,
    max_age: float,
    skew: float,
    max_bytes: int,
    max_recipients: int = MAX_RECIPIENTS,
) -> Opened:
    """Verify and decrypt an envelope addressed to participant ``me``.

    Raises, in order of the checks: PayloadTooLarge, EnvelopeMalformed, NotARecipient,
    OutsideTimeWindow, UnknownSender, UnknownRecipient, EnvelopeTampered, WrongSigner.
    """
    document, routing = read_envelope(wire, max_bytes=max_bytes, max_recipients=max_recipients)
    if me not in routing.recipients:
        raise NotARecipient(
            f"message {routing.message_id} is addressed to {list(routing.recipients)}, "
            f"not to this node ({me})",
            advice="The sender used a wrong address or URL; check its directory version.",
        )
    check_window(routing, now=now, max_age=max_age, skew=skew)
    try:  # ADR 0018: the key in force when the sender says it signed
        sender_key = directory.signing_key_at(routing.sender, routing.created)
    except UnknownParticipant:
        raise UnknownSender(
            f"sender {routing.sender!r} is not in directory version {directory.version}",
            advice="If the sender joined recently, install the newer directory.",
        ) from None
    unknown = [r for r in routing.recipients if not directory.has_participant(r)]
    if unknown:
        raise UnknownRecipient(
            f"message {routing.message_id} is addressed to {len(unknown)} id(s) not in "
            f"directory version {directory.version}: {', '.join(unknown[:5])}"
            + (" …" if len(unknown) > 5 else ""),
            advice="Address participants of the directory; if they joined recently, install "
            "the newer directory.",
            errors=[
                FieldError("protected.to", "unknown_recipient", f"{u!r} is not listed")
                for u in unknown[:20]
            ],
        )
    return _open(document, routing, wire, me, my_key, sender_key, max_bytes)


def open_stored(
    wire: bytes,
    *,
    me: str,
    my_key: MyKeys,
    sender_key: Ed25519PublicKey,
    max_bytes: int,
) -> Opened:
    """Decrypt and verify an envelope this node already holds (a received message, or its own
    copy of one it sent): the signature and routing checks, without time window or replay."""
    document, routing = read_envelope(wire, max_bytes=max_bytes)
    return _open(document, routing, wire, me, my_key, sender_key, max_bytes)


def _open(  # noqa: PLR0917 - the private tail of open_envelope and open_stored
    document: dict[str, Any],
    routing: Routing,
    wire: bytes,
    me: str,
    my_key: MyKeys,
    sender_key: Ed25519PublicKey,
    max_bytes: int,
) -> Opened:
    signed = _decrypt(document, me, my_key, max_bytes, len(routing.recipients) + 1)
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


def _decrypt(document: dict[str, Any], me: str, keys: MyKeys, max_bytes: int, count: int) -> bytes:
    """The plaintext, with the first of ``keys`` that unwraps this node's entry (a node that
    rotated its encryption key still opens what was encrypted to an earlier one, ADR 0018)."""
    candidates = (keys,) if isinstance(keys, X25519PrivateKey) else tuple(keys)
    failure: Exception | None = None
    for key in candidates:
        try:
            return _decrypt_with(document, me, key, max_bytes, count)
        except EnvelopeTampered as exc:
            failure = exc
    if failure is None:
        raise NotARecipient("this node has no encryption key", advice="Check the node's keys.")
    raise failure


def _decrypt_with(
    document: dict[str, Any], me: str, key: X25519PrivateKey, max_bytes: int, count: int
) -> bytes:
    mine = [r for r in document["recipients"] if _recipient_kid(r) == encryption_kid(me)]
    if len(mine) != 1:
        raise NotARecipient(
            f"envelope has {len(mine)} recipient entries for {encryption_kid(me)}; expected one",
            advice="The sender did not encrypt to this node's key.",
        )
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


def _require_x25519_epk(recipient: dict[str, Any], where: str) -> None:
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
        raise _malformed(
            f"{where}.header.epk",
            "x25519_jwk",
            f"{where}.header.epk must be a public X25519 JWK (RFC 8037 §2) in canonical form",
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


def canonical_document(wire: bytes, max_bytes: int) -> dict[str, Any]:
    """The envelope's JSON, once it is exactly protocol v1's canonical form (ADR 0016): only
    the members of the profile, each base64url value canonical and of its algorithm's length,
    and the bytes those of the compact serialization with sorted member names. Anything else
    is refused with the member and the rule it breaks, so that no relay can re-encode an
    envelope (and change the SHA-256 its receipt states) without the receiver noticing."""
    try:
        document = json_object(wire, "envelope", ENVELOPE_JSON.but(max_bytes=max_bytes))
    except JsonInvalid as exc:
        raise EnvelopeMalformed(
            exc.message, advice="Send a JWE in general JSON serialization.", errors=exc.errors
        ) from exc
    _only_members(document, TOP_MEMBERS, "envelope")
    for name in ("protected", "iv", "ciphertext", "tag"):
        if not isinstance(document.get(name), str):
            raise _malformed(
                name, "required", f"{name}: required string member of a JWE (RFC 7516 §7.2.1)"
            )
    recipients = document.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        raise _malformed(
            "recipients", "required", "recipients: a non-empty list is required (RFC 7516 §7.2.1)"
        )
    for index, entry in enumerate(recipients):
        _recipient_entry(entry, f"recipients[{index}]")
    _b64(document, "iv", "iv", IV_BYTES)
    _b64(document, "tag", "tag", TAG_BYTES)
    _b64(document, "ciphertext", "ciphertext", None)
    if dump(document) != wire:
        raise _malformed(
            "envelope",
            "canonical",
            f"envelope is not in protocol v1's canonical form (ADR 0016): byte "
            f"{_first_difference(dump(document), wire)} differs from the compact serialization "
            "with sorted member names and no whitespace",
        )
    return document


def _recipient_entry(entry: object, where: str) -> None:
    if not isinstance(entry, dict):
        raise _malformed(where, "object", f"{where}: each entry must be an object")
    _only_members(entry, RECIPIENT_MEMBERS, where)
    header = entry.get("header")
    if not isinstance(header, dict):
        raise _malformed(f"{where}.header", "required", f"{where}.header: required object")
    _only_members(header, RECIPIENT_HEADER_MEMBERS, f"{where}.header")
    if header.get("alg") != KEY_ALG or not isinstance(header.get("kid"), str):
        raise _malformed(
            f"{where}.header", "value", f"{where}.header: alg must be {KEY_ALG} and kid a string"
        )
    _require_x25519_epk(entry, where)
    if not isinstance(entry.get("encrypted_key"), str):
        raise _malformed(
            f"{where}.encrypted_key", "required", f"{where}.encrypted_key: required string"
        )
    _b64(entry, "encrypted_key", f"{where}.encrypted_key", WRAPPED_KEY_BYTES)


def _entries_match(recipients: list[dict[str, Any]], routing: Routing) -> None:
    """One entry per addressee in ``to`` order, then at most one, the sender's own copy
    (ADR 0001, 0016)."""
    expected = [encryption_kid(r) for r in routing.recipients]
    kids = [entry["header"]["kid"] for entry in recipients]
    if kids not in (expected, [*expected, encryption_kid(routing.sender)]):
        raise _malformed(
            "recipients",
            "entries",
            f"recipients: {len(kids)} entries for {len(expected)} addressee(s); protocol v1 "
            "carries exactly one per addressee in 'to', in that order, then at most one for "
            "the sender (ADR 0016)",
        )


def _only_members(value: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _malformed(
            f"{where}.{unknown[0]}",
            "unknown_member",
            f"{where}: member {unknown[0][:60]!r} is not part of protocol v1's envelope "
            f"(ADR 0016); allowed: {', '.join(sorted(allowed))}",
        )


def _b64(value: dict[str, Any], name: str, where: str, size: int | None) -> bytes:
    try:
        raw = b64url_decode(value[name])
    except ValueError as exc:
        raise _malformed(where, "base64url", f"{where}: {exc}") from None
    if size is not None and len(raw) != size:
        raise _malformed(
            where, "length", f"{where}: {len(raw)} bytes; protocol v1 uses {size} (RFC 7518)"
        )
    if size is None and not raw:
        raise _malformed(where, "length", f"{where}: empty")
    return raw


def _first_difference(a: bytes, b: bytes) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def _malformed(field: str, rule: str, message: str) -> EnvelopeMalformed:
    return EnvelopeMalformed(
        message,
        advice="Send the envelope exactly as protocol v1 seals it (ADR 0016).",
        errors=[FieldError(field, rule, message)],
    )


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
