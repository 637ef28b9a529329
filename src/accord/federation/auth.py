"""Signed requests: a participant proves who asks for something that is not for everyone
(audit proofs). The ``accord-auth`` header is a compact JWS (RFC 7515 §7.1, EdDSA) by the
asking participant's directory key over the method, the path with its query, and the time."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import JoseError

from accord.clock import from_rfc3339, to_rfc3339
from accord.errors import AccordError
from accord.identity.directory import Directory
from accord.identity.models import signing_kid
from accord.jose import SIG_ALG, b64url_decode, dump, json_object, okp

AUTH_HEADER = "accord-auth"
AUTH_TYP = "accord-request+jws"
MAX_AUTH_BYTES = 4096
_RESIGN = "Sign each request for its own method, path and query, at the time it is sent."


class RequestUnauthenticated(AccordError):
    code = "request_unauthenticated"
    http_status = 401


def sign_request(
    *,
    participant: str,
    key: Ed25519PrivateKey,
    audience: str,
    method: str,
    target: str,
    now: datetime,
) -> str:
    """The header value for ``method`` on ``target`` (path and query, as sent) at the node of
    participant ``audience``: a header cannot be replayed to another node."""
    claims = {
        "sub": participant,
        "aud": audience,
        "method": method.upper(),
        "target": target,
        "iat": to_rfc3339(now),
    }
    header = {"alg": SIG_ALG, "kid": signing_kid(participant), "typ": AUTH_TYP}
    return jws.serialize_compact(header, dump(claims), okp(key), algorithms=[SIG_ALG])


def verify_request(
    token: str | None,
    *,
    audience: str,
    method: str,
    target: str,
    directory: Directory,
    now: datetime,
    window: float,
) -> str:
    """The participant who signed this request; raises RequestUnauthenticated otherwise."""
    if not token or len(token) > MAX_AUTH_BYTES or token.count(".") != 2:
        raise RequestUnauthenticated(
            f"{AUTH_HEADER}: a signed request is required",
            advice="Send the request from an Accord node of the federation.",
        )
    try:
        claims = json_object(b64url_decode(token.split(".")[1]), "request claims")
        participant = str(claims.get("sub"))
        key = directory.signing_key(participant)
        verified = jws.deserialize_compact(token, okp(key), algorithms=[SIG_ALG])
    except (JoseError, ValueError, AccordError) as exc:
        raise RequestUnauthenticated(
            f"{AUTH_HEADER}: not signed by a participant of the directory",
            advice="Check that this node's directory lists the asking participant.",
        ) from exc
    header = verified.headers()
    if header.get("typ") != AUTH_TYP or header.get("kid") != signing_kid(participant):
        raise RequestUnauthenticated(f"{AUTH_HEADER}: wrong typ or kid", advice=_RESIGN)
    if claims.get("aud") != audience:
        raise RequestUnauthenticated(f"{AUTH_HEADER}: signed for another node", advice=_RESIGN)
    if claims.get("method") != method.upper() or claims.get("target") != target:
        raise RequestUnauthenticated(f"{AUTH_HEADER}: signed for another request", advice=_RESIGN)
    try:
        issued = from_rfc3339(str(claims.get("iat")))
    except ValueError as exc:
        raise RequestUnauthenticated(
            f"{AUTH_HEADER}: iat is not an RFC 3339 time", advice=_RESIGN
        ) from exc
    if abs(now - issued) > timedelta(seconds=window):
        raise RequestUnauthenticated(
            f"{AUTH_HEADER}: signed at {to_rfc3339(issued)}, more than {window:.0f} s from now",
            advice="Check both nodes' clocks.",
        )
    return participant
