"""Signed delivery receipts: the receiver states, under its Ed25519 key, that it durably holds
the exact bytes (by SHA-256) of a message. A compact JWS (RFC 7515 §7.1)."""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError

from accord.clock import from_rfc3339, to_rfc3339
from accord.envelope.models import Receipt
from accord.errors import ReceiptInvalid
from accord.identity.models import signing_kid
from accord.jose import SIG_ALG, dump, json_object, okp

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
) -> Receipt:
    claims = {
        "message_id": message_id,
        "sha256": sha256,
        "sender": sender,
        "receiver": receiver,
        "received_at": to_rfc3339(received_at),
    }
    header = {"alg": SIG_ALG, "kid": signing_kid(receiver), "typ": RECEIPT_TYP}
    token = jws.serialize_compact(header, dump(claims), okp(key), algorithms=[SIG_ALG])
    return Receipt(message_id, sha256, sender, receiver, received_at, token)


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
    return Receipt(message_id, sha256, str(claims.get("sender")), receiver, received_at, token)
