"""Participant cards: self-signed JWS (flattened JSON) over the participant record. Every
altered, forged or oversize card raises CardInvalid saying what is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import OKPKey
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from accord.errors import CardInvalid, DirectoryError
from accord.identity.card import CARD_TYP, MAX_CARD_BYTES, make_card, verify_card
from accord.identity.models import Participant, signing_kid
from accord.jose import SIG_ALG, b64url_decode, b64url_encode, dump, okp

if TYPE_CHECKING:
    from tests.conftest import World

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
VN, RU = "vn-mps-247", "ru-gp-ca"


def card_of(world: World, pid: str = VN) -> bytes:
    return make_card(world.participants[pid], world.keys[pid].signing, T0)


def edit_payload(card: bytes, **participant_changes: Any) -> bytes:
    """Change the signed payload, keep the protected header and signature."""
    envelope = json.loads(card)
    body = json.loads(b64url_decode(envelope["payload"]))
    body["participant"].update(participant_changes)
    envelope["payload"] = b64url_encode(dump(body))
    return json.dumps(envelope).encode()


def forged_card(participant: Participant, key: Ed25519PrivateKey, **header: str) -> bytes:
    payload = dump(
        {
            "issued_at": "2026-11-24T09:00:00.000000Z",
            "participant": participant.model_dump(mode="json"),
        }
    )
    protected = {"alg": SIG_ALG, "kid": signing_kid(participant.id), "typ": CARD_TYP, **header}
    signed = jws.serialize_json({"protected": protected}, payload, okp(key), algorithms=[SIG_ALG])
    return json.dumps(signed).encode()


def test_card_round_trip(world: World) -> None:
    card = card_of(world)
    assert verify_card(card) == world.participants[VN]
    assert json.loads(b64url_decode(json.loads(card)["payload"]))["issued_at"].startswith(
        "2026-11-24T09:00:00"
    )


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1, max_size=200),
    url_path=st.from_regex(r"/[a-z0-9/._-]{0,30}", fullmatch=True),
)
def test_card_round_trip_for_any_name_and_url(world: World, name: str, url_path: str) -> None:
    participant = world.participants[VN].model_copy(
        update={"name": name, "url": f"https://accord.example.org{url_path}".rstrip("/")}
    )
    assert verify_card(make_card(participant, world.keys[VN].signing, T0)) == participant


def test_forged_card_helper_builds_a_valid_card(world: World) -> None:
    assert verify_card(forged_card(world.participants[VN], world.keys[VN].signing)).id == VN


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"url": "https://attacker.example.org"}, id="url"),
        pytest.param({"name": "Someone else"}, id="name"),
        pytest.param({"languages": ["ru"]}, id="languages"),
    ],
)
def test_edited_card_payload_is_invalid(world: World, changes: dict[str, Any]) -> None:
    with pytest.raises(CardInvalid, match="card of 'vn-mps-247' is not signed by its own"):
        verify_card(edit_payload(card_of(world), **changes))


def test_card_with_swapped_encryption_key_is_invalid(world: World) -> None:
    """The attack that matters: redirect encrypted traffic to the attacker's key."""
    stolen = world.participants[RU].encryption_key
    swapped = edit_payload(card_of(world), encryption_key={**stolen, "kid": "vn-mps-247#enc"})
    with pytest.raises(CardInvalid, match="not signed by its own signing key"):
        verify_card(swapped)


def test_card_signed_by_another_key_is_invalid(world: World) -> None:
    card = make_card(world.participants[VN], world.keys[RU].signing, T0)
    with pytest.raises(CardInvalid, match="not signed by its own signing key") as info:
        verify_card(card)
    assert "altered or forged" in info.value.advice


@pytest.mark.parametrize(
    ("header", "label"),
    [
        pytest.param({"kid": signing_kid(RU)}, "kid", id="other-kid"),
        pytest.param({"kid": "vn-mps-247#enc"}, "kid", id="enc-kid"),
        pytest.param({"typ": "accord-directory+jws"}, "typ", id="directory-typ"),
        pytest.param({"typ": "JWT"}, "typ", id="jwt-typ"),
    ],
)
def test_card_with_wrong_kid_or_typ_is_invalid(
    world: World, header: dict[str, str], label: str
) -> None:
    card = forged_card(world.participants[VN], world.keys[VN].signing, **header)
    with pytest.raises(CardInvalid, match="has a wrong kid or typ header"):
        verify_card(card)
    assert label in header


def test_card_without_typ_is_invalid(world: World) -> None:
    payload = dump({"participant": world.participants[VN].model_dump(mode="json")})
    protected = {"alg": SIG_ALG, "kid": signing_kid(VN)}
    signed = jws.serialize_json(
        {"protected": protected}, payload, okp(world.keys[VN].signing), algorithms=[SIG_ALG]
    )
    with pytest.raises(CardInvalid, match="wrong kid or typ"):
        verify_card(json.dumps(signed).encode())


def test_oversize_card_is_invalid(world: World) -> None:
    card = card_of(world)
    padded = card + b" " * (MAX_CARD_BYTES - len(card) + 1)  # trailing JSON whitespace
    assert len(padded) == MAX_CARD_BYTES + 1
    with pytest.raises(CardInvalid, match=f"over the {MAX_CARD_BYTES} byte limit"):
        verify_card(padded)
    assert verify_card(padded[:MAX_CARD_BYTES]) == world.participants[VN]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'{"payload": "!!"}', id="payload-not-base64url"),
        pytest.param(b'{"payload": "W10"}', id="payload-array"),
        pytest.param(b'{"signature": "x"}', id="no-payload"),
    ],
)
def test_malformed_card_is_invalid(data: bytes) -> None:
    with pytest.raises(CardInvalid, match="card is malformed"):
        verify_card(data)


def test_card_with_invalid_participant_is_invalid(world: World) -> None:
    with pytest.raises(CardInvalid, match="country") as info:
        verify_card(edit_payload(card_of(world), country="vn"))
    assert "accord card export" in info.value.advice


def test_card_without_signature_is_invalid(world: World) -> None:
    envelope = json.loads(card_of(world))
    del envelope["signature"]
    with pytest.raises(CardInvalid, match="not signed"):
        verify_card(json.dumps(envelope).encode())


def test_card_with_private_key_is_invalid(world: World) -> None:
    leaked = OKPKey.import_key(world.keys[VN].signing).as_dict(private=True)
    card = edit_payload(card_of(world), signing_key={**leaked, "kid": "vn-mps-247#sig"})
    with pytest.raises(CardInvalid, match="private part"):
        verify_card(card)
    assert issubclass(CardInvalid, DirectoryError)


def test_jwcrypto_verifies_our_card(world: World) -> None:
    card = jc_jws.JWS()
    card.deserialize(card_of(world).decode())
    public = OKPKey.import_key(world.keys[VN].signing.public_key()).as_dict(private=False)
    card.verify(jc_jwk.JWK(**public), alg="Ed25519")
    assert card.jose_header["typ"] == CARD_TYP
    body = json.loads(card.payload)
    assert Participant.model_validate(body["participant"]) == world.participants[VN]
