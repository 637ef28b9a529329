"""Stateless TAXII ``next`` cursors (TAXII 2.1 §3.5): the position after the last item served,
bound to the collection, the query and the reader, and authenticated with an HMAC-SHA-256 key
derived from the node's signing key (HKDF, RFC 5869). The server keeps nothing, so a long read
never expires; a cursor edited, forged, or made for another collection, query or reader is
refused. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accord.errors import CursorInvalid, FieldError
from accord.jose import b64url_decode, b64url_encode

MAC_BYTES = 16
MAX_CURSOR = 1024
_ADVICE = "Send back the `next` value of the previous page unchanged, with the same query."


def cursor_key(signing: Ed25519PrivateKey) -> bytes:
    """The node's cursor key, derived so that it needs no storage of its own."""
    secret = signing.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    kdf = HKDF(hashes.SHA256(), 32, salt=None, info=b"accord intel taxii cursor v1")
    return kdf.derive(secret)


@dataclass(frozen=True)
class Position:
    date_added: int  # microseconds; the rows after it come next
    stix_id: str
    vkey: str


def query_digest(collection: str, reader: str, query: str) -> str:
    """What a cursor is bound to: the collection, the reader and the canonical query."""
    return hashlib.sha256(f"{collection}\n{reader}\n{query}".encode()).hexdigest()[:32]


def make_cursor(key: bytes, binding: str, position: Position) -> str:
    payload = json.dumps(
        [binding, position.date_added, position.stix_id, position.vkey], separators=(",", ":")
    ).encode()
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]
    return b64url_encode(payload) + "." + b64url_encode(mac)


def read_cursor(key: bytes, binding: str, cursor: str) -> Position:
    """The position in ``cursor``; raises CursorInvalid (the field, the rule) otherwise."""
    if len(cursor) > MAX_CURSOR or cursor.count(".") != 1:
        raise _invalid("malformed", "not a cursor this server issued")
    encoded, _, tag = cursor.partition(".")
    try:
        payload, mac = b64url_decode(encoded), b64url_decode(tag)
    except ValueError as exc:
        raise _invalid("malformed", "not a cursor this server issued") from exc
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise _invalid("forged", "its authentication tag does not verify: forged or altered")
    bound, added, stix_id, vkey = json.loads(payload)
    if bound != binding:
        raise _invalid(
            "foreign",
            "it was issued for another collection, query or reader; repeat the query"
            " that returned it",
        )
    return Position(int(added), str(stix_id), str(vkey))


def _invalid(rule: str, message: str) -> CursorInvalid:
    return CursorInvalid(
        f"next: {message} (TAXII 2.1 §3.5)",
        advice=_ADVICE,
        errors=[FieldError("next", rule, message, "TAXII 2.1 §3.5")],
    )
