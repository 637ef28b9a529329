"""The JOSE profile Accord uses, in one place: algorithms, registries and key conversion.

- Signatures: JWS with ``alg: Ed25519`` (RFC 9864 §2.2, the fully-specified successor of RFC 8037's
  polymorphic ``EdDSA``).
- Encryption: JWE ``ECDH-ES+A256KW`` key agreement on X25519 (RFC 8037 §3.2, RFC 7518 §4.6) with
  ``A256GCM`` content encryption (RFC 7518 §5.3).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from joserfc.jwk import OKPKey

from accord.boundedjson import DEFAULT, JsonLimits, parse_object

SIG_ALG = "Ed25519"
KEY_ALG = "ECDH-ES+A256KW"
CONTENT_ENC = "A256GCM"

PublicJwk = dict[str, str]


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2); ValueError on anything else, including
    characters outside the alphabet (which the standard library would silently drop) and a
    non-canonical final character."""
    if not isinstance(text, str) or not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url (RFC 7515 §2: unpadded, alphabet A-Z a-z 0-9 - _)")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
    if b64url_encode(raw) != text:
        raise ValueError("not base64url in canonical form (unused bits set)")
    return raw


AnyOkp = Ed25519PrivateKey | Ed25519PublicKey | X25519PrivateKey | X25519PublicKey
_WRAPPED: dict[int, tuple[AnyOkp, OKPKey]] = {}
_WRAPPED_MAX = 1024


def okp(key: AnyOkp) -> OKPKey:
    """Wrap a `cryptography` key for joserfc. A node uses the same few keys (its own, its
    partners' from the directory) for every message, and wrapping validates a JWK each time,
    so wrappings are kept by key object (the entry holds the key: its id is not reused)."""
    found = _WRAPPED.get(id(key))
    if found is not None and found[0] is key:
        return found[1]
    if len(_WRAPPED) >= _WRAPPED_MAX:
        _WRAPPED.clear()
    wrapped = OKPKey.import_key(key)
    _WRAPPED[id(key)] = (key, wrapped)
    return wrapped


def public_jwk(key: Ed25519PublicKey | X25519PublicKey, kid: str) -> PublicJwk:
    """The public JWK (RFC 8037 §2) of a key, with its key id and use."""
    jwk = OKPKey.import_key(key).as_dict(private=False)
    use = "sig" if isinstance(key, Ed25519PublicKey) else "enc"
    return {"kty": "OKP", "crv": str(jwk["crv"]), "x": str(jwk["x"]), "kid": kid, "use": use}


def ed25519_from_jwk(jwk: dict[str, Any]) -> Ed25519PublicKey:
    """The Ed25519 public key of a JWK; ValueError when the JWK is not one."""
    raw = _okp_public_bytes(jwk, "Ed25519")
    return Ed25519PublicKey.from_public_bytes(raw)


def x25519_from_jwk(jwk: dict[str, Any]) -> X25519PublicKey:
    """The X25519 public key of a JWK; ValueError when the JWK is not one."""
    raw = _okp_public_bytes(jwk, "X25519")
    return X25519PublicKey.from_public_bytes(raw)


def p256_public_jwk(key: ec.EllipticCurvePublicKey, kid: str) -> PublicJwk:
    """The public JWK (RFC 7518 §6.2.1) of a P-256 key, with its key id and use."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise TypeError("expected a P-256 key")
    numbers = key.public_numbers()
    x, y = (b64url_encode(n.to_bytes(32, "big")) for n in (numbers.x, numbers.y))
    return {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"}


def p256_from_jwk(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of a JWK (RFC 7518 §6.2.1); ValueError when the JWK is not one,
    including a point off the curve."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("expected an EC P-256 JWK")
    if "d" in jwk:
        raise ValueError("a public JWK must not carry the private part 'd'")
    x, y = (b64url_decode(jwk.get(name, "")) for name in ("x", "y"))
    if len(x) != 32 or len(y) != 32:
        raise ValueError("P-256 coordinates must be 32 bytes each")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)


def _okp_public_bytes(jwk: dict[str, Any], curve: str) -> bytes:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != curve:
        raise ValueError(f"expected an OKP {curve} JWK")
    if "d" in jwk:
        raise ValueError("a public JWK must not carry the private part 'd'")
    raw = b64url_decode(jwk.get("x", ""))
    if len(raw) != 32:
        raise ValueError(f"{curve} public key must be 32 bytes")
    return raw


def json_object(data: bytes | str, what: str, limits: JsonLimits = DEFAULT) -> dict[str, Any]:
    """Parse JSON that must be an object, within ``limits`` (:mod:`accord.boundedjson`);
    JsonInvalid, a ValueError naming ``what``, otherwise."""
    return parse_object(data, what=what, limits=limits)


def dump(value: Any) -> bytes:
    """Compact UTF-8 JSON with sorted keys, for bytes that are signed and then carried as-is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def string_members(
    value: dict[str, Any], where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
    """A JWS/JWE JSON serialization's members are the ones its RFC names, each a string: so
    that nothing else reaches joserfc (which raises TypeError on a null signature)."""
    unknown = sorted(set(value) - {*required, *optional})
    if unknown:
        raise ValueError(f"{where}: member {unknown[0][:40]!r} is not allowed here")
    for name in required:
        if not isinstance(value.get(name), str):
            raise ValueError(f"{where}: {name} must be a string")  # noqa: TRY004 - mapped
    for name in optional:
        if name in value and not isinstance(value[name], str):
            raise ValueError(f"{where}: {name} must be a string")
