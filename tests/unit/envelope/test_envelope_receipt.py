"""Signed delivery receipts: a round trip, and every way a receipt can fail to prove delivery
raises ReceiptInvalid naming what is wrong."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws

from accord.envelope.models import Receipt, new_message_id
from accord.envelope.receipt import MAX_RECEIPT_BYTES, RECEIPT_TYP, make_receipt, verify_receipt
from accord.errors import DeliveryError, ReceiptInvalid
from accord.identity.models import signing_kid
from accord.jose import SIG_ALG, b64url_decode, b64url_encode, dump, okp

if TYPE_CHECKING:
    from tests.conftest import World

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
VN, RU, ZA = "vn-mps-247", "ru-gp-ca", "za-doj-ca"
SHA = hashlib.sha256(b"the envelope bytes").hexdigest()
MESSAGE_ID = new_message_id(T0)


def receipt_from(
    world: World,
    receiver: str = RU,
    *,
    message_id: str = MESSAGE_ID,
    sha256: str = SHA,
    sender: str = VN,
    received_at: datetime = T0,
    key: Ed25519PrivateKey | None = None,
) -> Receipt:
    return make_receipt(
        message_id=message_id,
        sha256=sha256,
        sender=sender,
        receiver=receiver,
        received_at=received_at,
        key=key or world.keys[receiver].signing,
    )


def check(
    world: World,
    token: str,
    *,
    message_id: str = MESSAGE_ID,
    sha256: str = SHA,
    receiver: str = RU,
    key_of: str = RU,
) -> Receipt:
    return verify_receipt(
        token,
        message_id=message_id,
        sha256=sha256,
        receiver=receiver,
        receiver_key=world.directory.signing_key(key_of),
    )


def test_receipt_round_trip(world: World) -> None:
    made = receipt_from(world)
    verified = check(world, made.token)
    assert verified == made
    assert verified.received_at == T0


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=64),
    received_at=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis adds the timezone
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
)
def test_receipt_round_trip_for_any_bytes_and_time(
    world: World, data: bytes, received_at: datetime
) -> None:
    sha = hashlib.sha256(data).hexdigest()
    made = receipt_from(world, sha256=sha, received_at=received_at)
    assert check(world, made.token, sha256=sha).received_at == received_at


def test_receipt_checked_with_wrong_receiver_key_is_invalid(world: World) -> None:
    token = receipt_from(world).token
    with pytest.raises(ReceiptInvalid, match="does not verify with the directory key of ru-gp-ca"):
        check(world, token, key_of=ZA)


def test_receipt_signed_by_another_participant_is_invalid(world: World) -> None:
    """za-doj-ca signs a receipt in ru-gp-ca's name."""
    token = receipt_from(world, key=world.keys[ZA].signing).token
    with pytest.raises(ReceiptInvalid, match="does not verify"):
        check(world, token)


def test_receipt_for_other_message_id_is_invalid(world: World) -> None:
    token = receipt_from(world, message_id=new_message_id(T0)).token
    with pytest.raises(ReceiptInvalid, match="states a different message_id"):
        check(world, token)


def test_receipt_for_other_bytes_is_invalid(world: World) -> None:
    token = receipt_from(world, sha256=hashlib.sha256(b"other bytes").hexdigest()).token
    with pytest.raises(ReceiptInvalid, match="states a different sha256") as info:
        check(world, token)
    assert "retried" in info.value.advice


def test_receipt_naming_other_receiver_is_invalid(world: World) -> None:
    """Right key, but the claims and kid name za-doj-ca: not ru-gp-ca's statement."""
    token = receipt_from(world, receiver=ZA, key=world.keys[RU].signing).token
    with pytest.raises(ReceiptInvalid, match="states a different receiver, header"):
        check(world, token)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"typ": "accord-message+jws"}, id="other-typ"),
        pytest.param({"kid": signing_kid(ZA)}, id="other-kid"),
    ],
)
def test_receipt_with_wrong_header_is_invalid(world: World, header: dict[str, str]) -> None:
    """A message or card signature by the receiver is not a receipt."""
    claims = {
        "message_id": MESSAGE_ID,
        "sha256": SHA,
        "sender": VN,
        "receiver": RU,
        "received_at": "2026-11-24T09:00:00.000000Z",
    }
    protected = {"alg": SIG_ALG, "kid": signing_kid(RU), "typ": RECEIPT_TYP, **header}
    token = jws.serialize_compact(
        protected, dump(claims), okp(world.keys[RU].signing), algorithms=[SIG_ALG]
    )
    with pytest.raises(ReceiptInvalid, match="states a different header"):
        check(world, token)


@pytest.mark.parametrize("segment", [0, 1, 2], ids=["header", "payload", "signature"])
def test_tampered_receipt_token_is_invalid(world: World, segment: int) -> None:
    parts = receipt_from(world).token.split(".")
    raw = bytearray(b64url_decode(parts[segment]))
    raw[len(raw) // 2] ^= 0x01
    parts[segment] = b64url_encode(bytes(raw))
    with pytest.raises(ReceiptInvalid):
        check(world, ".".join(parts))


def test_receipt_with_edited_claims_is_invalid(world: World) -> None:
    """Keep the signature, swap in claims for other bytes."""
    header, _, signature = receipt_from(world).token.split(".")
    claims = {
        "message_id": MESSAGE_ID,
        "sha256": hashlib.sha256(b"forged").hexdigest(),
        "sender": VN,
        "receiver": RU,
        "received_at": "2026-11-24T09:00:00.000000Z",
    }
    token = f"{header}.{b64url_encode(dump(claims))}.{signature}"
    with pytest.raises(ReceiptInvalid, match="does not verify"):
        check(world, token, sha256=claims["sha256"])


@pytest.mark.parametrize("token", ["", "not a token", "a.b", "a.b.c.d"])
def test_garbage_receipt_is_invalid(world: World, token: str) -> None:
    with pytest.raises(ReceiptInvalid):
        check(world, token)


def test_oversize_receipt_is_invalid(world: World) -> None:
    token = receipt_from(world, sender="x" * MAX_RECEIPT_BYTES).token
    assert len(token) > MAX_RECEIPT_BYTES
    with pytest.raises(ReceiptInvalid, match=f"over {MAX_RECEIPT_BYTES} bytes"):
        check(world, token)


def test_receipt_without_valid_time_is_invalid(world: World) -> None:
    claims = {"message_id": MESSAGE_ID, "sha256": SHA, "receiver": RU, "received_at": "soon"}
    token = jws.serialize_compact(
        {"alg": SIG_ALG, "kid": signing_kid(RU), "typ": RECEIPT_TYP},
        dump(claims),
        okp(world.keys[RU].signing),
        algorithms=[SIG_ALG],
    )
    with pytest.raises(ReceiptInvalid, match="no valid received_at"):
        check(world, token)


def test_receipt_key_outside_directory_is_invalid(world: World) -> None:
    token = receipt_from(world, key=Ed25519PrivateKey.generate()).token
    with pytest.raises(ReceiptInvalid):
        check(world, token)
    assert issubclass(ReceiptInvalid, DeliveryError)


@pytest.mark.parametrize("index", [-1, "7", True, 1.5])
def test_receipt_with_a_bad_audit_index_is_invalid(world: World, index: object) -> None:
    claims = {
        "message_id": MESSAGE_ID,
        "sha256": SHA,
        "receiver": RU,
        "received_at": "2026-11-24T09:00:00.000Z",
        "audit_index": index,
    }
    token = jws.serialize_compact(
        {"alg": SIG_ALG, "kid": signing_kid(RU), "typ": RECEIPT_TYP},
        dump(claims),
        okp(world.keys[RU].signing),
        algorithms=[SIG_ALG],
    )
    with pytest.raises(ReceiptInvalid, match="audit_index must be an entry index"):
        check(world, token)


def test_receipt_carries_the_audit_index_it_was_made_with(world: World) -> None:
    receipt = make_receipt(
        message_id=MESSAGE_ID,
        sha256=SHA,
        sender=VN,
        receiver=RU,
        received_at=T0,
        key=world.keys[RU].signing,
        audit_index=41,
    )
    assert check(world, receipt.token).audit_index == 41
    assert check(world, receipt_from(world).token).audit_index is None
