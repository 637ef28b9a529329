"""Signed delivery receipts: the receiver states, under its Ed25519 key, that it durably holds
the exact bytes (by SHA-256) of a message. A compact JWS (RFC 7515 §7.1)."""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from accord.clock import from_rfc3339, to_rfc3339
from accord.envelope.models import Receipt
from accord.errors import ReceiptInvalid
from accord.identity.models import signing_kid
from accord.jose import SIG_ALG, b64url_encode, dump, json_object, okp

RECEIPT_TYP = "accord-receipt+jws"
MAX_RECEIPT_BYTES = 4096


def make_receipt(
    *,
    message_id: str,
    sha256: str,
    sender: str,
    receiver: str,
    received_at: datetime,
    key: Ed25519PrivateKey,
    audit_index: int | None = None,
) -> Receipt:
    """The signed receipt; ``audit_index`` is the receiver's audit entry recording it, whose
    inclusion proof the sender may ask for (``GET /audit/v1/inclusion``)."""
    claims: dict[str, object] = {
        "message_id": message_id,
        "sha256": sha256,
        "sender": sender,
        "receiver": receiver,
        "received_at": to_rfc3339(received_at),
    }
    if audit_index is not None:
        claims["audit_index"] = audit_index
    header = {"alg": SIG_ALG, "kid": signing_kid(receiver), "typ": RECEIPT_TYP}
    token = jws.serialize_compact(header, dump(claims), okp(key), algorithms=[SIG_ALG])
    return Receipt(message_id, sha256, sender, receiver, received_at, token, audit_index)


def verify_receipt(
    token: str,
    *,
    message_id: str,
    sha256: str,
    receiver: str,
    receiver_key: Ed25519PublicKey,
) -> Receipt:
    """Check a receipt is the expected receiver's signature over the bytes we sent."""
    if len(token) > MAX_RECEIPT_BYTES:
        raise ReceiptInvalid(f"receipt from {receiver} is over {MAX_RECEIPT_BYTES} bytes")
    try:
        verified = jws.deserialize_compact(token, okp(receiver_key), algorithms=[SIG_ALG])
        claims = json_object(verified.payload, "receipt")
    except (JoseError, ValueError) as exc:
        raise ReceiptInvalid(
            f"receipt for {message_id} does not verify with the directory key of {receiver}",
            advice="The delivery will be retried; if it persists the peer's key may have changed.",
        ) from exc
    header = verified.headers()
    expected = {"message_id": message_id, "sha256": sha256, "receiver": receiver}
    wrong = [name for name, value in expected.items() if claims.get(name) != value]
    if header.get("typ") != RECEIPT_TYP or header.get("kid") != signing_kid(receiver):
        wrong.append("header")
    if wrong:
        raise ReceiptInvalid(
            f"receipt for {message_id} from {receiver} states a different {', '.join(wrong)}",
            advice="The peer acknowledged something else; the delivery will be retried.",
        )
    try:
        received_at = from_rfc3339(str(claims.get("received_at")))
    except ValueError as exc:
        raise ReceiptInvalid(f"receipt for {message_id} has no valid received_at") from exc
    index = claims.get("audit_index")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
        raise ReceiptInvalid(f"receipt for {message_id}: audit_index must be an entry index")
    sender = str(claims.get("sender"))
    return Receipt(message_id, sha256, sender, receiver, received_at, token, index)


# Signed refusals ---------------------------------------------------------------------------
# A node signs its error answers (protocol v1: "invalid input gets a signed error") so that a
# sender only treats a refusal as final when the peer itself refused *these* bytes. The JWS
# has a detached payload (RFC 7515 Appendix F): the payload is the error body as sent, and the
# protected header binds the SHA-256 of the request body it answers.

REFUSAL_TYP = "accord-refusal+jws"
REFUSAL_HEADER = "accord-signature"
_REFUSAL_HEADERS = {"request_sha256": HeaderParameter("SHA-256 of the refused request", "str")}


def sign_refusal(body: bytes, *, request_sha256: str, signer: str, key: Ed25519PrivateKey) -> str:
    header = {
        "alg": SIG_ALG,
        "kid": signing_kid(signer),
        "typ": REFUSAL_TYP,
        "request_sha256": request_sha256,
    }
    registry = JWSRegistry(header_registry=_REFUSAL_HEADERS, algorithms=[SIG_ALG])
    protected, _payload, signature = jws.serialize_compact(
        header, body, okp(key), registry=registry
    ).split(".")
    return f"{protected}..{signature}"


def verify_refusal(
    token: str | None, body: bytes, *, request_sha256: str, signer: str, key: Ed25519PublicKey
) -> None:
    """Raise ReceiptInvalid unless ``token`` is ``signer``'s signature over this error body,
    answering the request whose SHA-256 is ``request_sha256``."""
    parts = (token or "").split(".")
    if len(parts) != 3 or parts[1] != "" or len(token or "") > MAX_RECEIPT_BYTES:
        raise ReceiptInvalid(f"refusal from {signer} carries no detached signature")
    registry = JWSRegistry(header_registry=_REFUSAL_HEADERS, algorithms=[SIG_ALG])
    try:
        attached = f"{parts[0]}.{b64url_encode(body)}.{parts[2]}"
        header = jws.deserialize_compact(attached, okp(key), registry=registry).headers()
    except (JoseError, ValueError) as exc:
        raise ReceiptInvalid(f"refusal from {signer} is not signed by its directory key") from exc
    expected = {"kid": signing_kid(signer), "typ": REFUSAL_TYP, "request_sha256": request_sha256}
    if any(header.get(name) != value for name, value in expected.items()):
        raise ReceiptInvalid(f"refusal from {signer} answers another request")
