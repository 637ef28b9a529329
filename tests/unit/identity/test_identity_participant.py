"""Participant records (protocol v1): every rule breaks with a pydantic ValidationError that
names the field and says what is expected."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from joserfc.jwk import OKPKey
from pydantic import ValidationError

from accord.identity.models import Participant, StewardSet
from accord.jose import public_jwk

if TYPE_CHECKING:
    from tests.conftest import World

VN = "vn-mps-247"


def record(world: World, **changes: Any) -> dict[str, Any]:
    fields = world.participants[VN].model_dump(mode="json")
    fields.update(changes)
    return fields


def rejection(fields: dict[str, Any]) -> tuple[tuple[int | str, ...], str]:
    with pytest.raises(ValidationError) as info:
        Participant.model_validate(fields)
    first = info.value.errors()[0]
    return tuple(first["loc"]), first["msg"]


def test_valid_record_round_trips(world: World) -> None:
    fields = record(world)
    participant = Participant.model_validate(fields)
    assert participant == world.participants[VN]
    assert participant.model_dump(mode="json") == fields


@pytest.mark.parametrize(
    "value",
    ["VN-MPS-247", "-vn", "vn-", "vn_mps", "vn mps", "", "a" * 65, "vn.mps", "ñ"],
)
def test_bad_slug_is_rejected(world: World, value: str) -> None:
    loc, message = rejection(record(world, id=value))
    assert loc == ("id",)
    assert "lowercase slug" in message


@pytest.mark.parametrize("value", ["vn", "VNM", "V", "V1", "", "Vn"])
def test_bad_country_is_rejected(world: World, value: str) -> None:
    loc, message = rejection(record(world, country=value))
    assert loc == ("country",)
    assert "ISO 3166-1 alpha-2" in message


@pytest.mark.parametrize("value", [["EN"], ["english"], ["en", "e"], ["vi_VN"], ["en-"], [""]])
def test_bad_language_is_rejected(world: World, value: list[str]) -> None:
    loc, message = rejection(record(world, languages=value))
    assert loc == ("languages",)
    assert "BCP 47 language tag" in message


def test_no_language_is_rejected(world: World) -> None:
    loc, _ = rejection(record(world, languages=[]))
    assert loc == ("languages",)


@pytest.mark.parametrize(
    "value",
    [
        "ftp://accord.example.org",
        "accord.example.org",
        "https://",
        "https://accord example.org",
        "javascript:alert(1)",
        "https:// accord.example.org",
    ],
)
def test_bad_url_is_rejected(world: World, value: str) -> None:
    loc, message = rejection(record(world, url=value))
    assert loc == ("url",)
    assert "http(s) base URL" in message


def test_url_loses_its_trailing_slash(world: World) -> None:
    participant = Participant.model_validate(record(world, url="https://accord.example.org/"))
    assert participant.url == "https://accord.example.org"


@pytest.mark.parametrize("field", ["signing_key", "encryption_key"])
def test_key_with_private_part_is_rejected(world: World, field: str) -> None:
    """A card or directory that leaks a private key must never be accepted (RFC 8037 §2)."""
    private = (
        Ed25519PrivateKey.generate() if field == "signing_key" else X25519PrivateKey.generate()
    )
    jwk = OKPKey.import_key(private).as_dict(private=True)
    fields = record(world)
    leaked = {**fields[field], "x": jwk["x"], "d": jwk["d"]}
    loc, message = rejection({**fields, field: leaked})
    assert loc == (field,)
    assert "must not carry the private part 'd'" in message


def test_encryption_key_as_signing_key_is_rejected(world: World) -> None:
    fields = record(world)
    swapped = {**fields["encryption_key"], "kid": fields["signing_key"]["kid"]}
    loc, message = rejection({**fields, "signing_key": swapped})
    assert loc == ("signing_key",)
    assert "expected an OKP Ed25519 JWK" in message


def test_short_key_is_rejected(world: World) -> None:
    fields = record(world)
    short = {**fields["signing_key"], "x": "AAAA"}
    loc, message = rejection({**fields, "signing_key": short})
    assert loc == ("signing_key",)
    assert "32 bytes" in message


@pytest.mark.parametrize(
    ("field", "kid", "expected"),
    [
        ("signing_key", "ru-gp-ca#sig", "signing_key.kid must be 'vn-mps-247#sig'"),
        ("signing_key", "vn-mps-247#enc", "signing_key.kid must be 'vn-mps-247#sig'"),
        ("encryption_key", "vn-mps-247#sig", "encryption_key.kid must be 'vn-mps-247#enc'"),
    ],
)
def test_key_id_mismatch_is_rejected(world: World, field: str, kid: str, expected: str) -> None:
    fields = record(world)
    loc, message = rejection({**fields, field: {**fields[field], "kid": kid}})
    assert loc == ()  # a rule across fields: the message names them
    assert expected in message


def test_missing_kid_is_rejected(world: World) -> None:
    fields = record(world)
    key = {k: v for k, v in fields["signing_key"].items() if k != "kid"}
    _, message = rejection({**fields, "signing_key": key})
    assert "signing_key.kid must be" in message


def test_unknown_role_and_extra_field_are_rejected(world: World) -> None:
    loc, _ = rejection(record(world, roles=["spy"]))
    assert loc[0] == "roles"
    loc, message = rejection(record(world, nickname="x"))
    assert loc == ("nickname",)
    assert "Extra inputs are not permitted" in message


def test_participant_is_immutable(world: World) -> None:
    participant = world.participants[VN]
    with pytest.raises(ValidationError, match="frozen"):
        participant.url = "https://elsewhere.example.org"  # type: ignore[misc]


def test_steward_set_rules(world: World) -> None:
    keys = world.stewards.keys
    with pytest.raises(ValidationError, match="threshold 4 exceeds the 3 steward keys"):
        StewardSet(keys=keys, threshold=4)
    with pytest.raises(ValidationError, match="distinct 'kid'"):
        StewardSet(keys=(keys[0], {**keys[1], "kid": keys[0]["kid"]}), threshold=1)
    with pytest.raises(ValidationError, match="threshold"):
        StewardSet(keys=keys, threshold=0)
    leaked = OKPKey.import_key(Ed25519PrivateKey.generate()).as_dict(private=True)
    with pytest.raises(ValidationError, match="private part"):
        StewardSet(keys=({**leaked, "kid": "steward-9"},), threshold=1)
    fresh = public_jwk(Ed25519PrivateKey.generate().public_key(), "steward-9")
    assert StewardSet(keys=(fresh,), threshold=1).key("steward-9") == fresh
