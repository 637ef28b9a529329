"""The optional fields alerts add to a participant: its P-256 alert key and its areas of
interest. Absent, the card and the directory keep their earlier bytes; present, they are
checked like every other field (syntax only: the geometry is the alerts domain's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from accord.identity.areas import AreaOfInterest, Geocode, parse_circle, parse_polygon
from accord.identity.card import make_card, verify_card
from accord.identity.directory import draft_bytes, read_document
from accord.identity.keys import NodeKeys, add_alert_key
from accord.identity.models import (
    Participant,
    Role,
    alert_kid,
    encryption_kid,
    signing_kid,
)
from accord.jose import b64url_decode, p256_from_jwk, p256_public_jwk, public_jwk

if TYPE_CHECKING:
    from tests.conftest import World

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def participant(pid: str, keys: NodeKeys) -> Participant:
    return Participant(
        id=pid,
        name=f"Authority {pid}",
        country="TH",
        roles=(Role.EARLY_WARNING,),
        languages=("th", "en"),
        url="http://127.0.0.1:9",
        signing_key=public_jwk(keys.signing.public_key(), signing_kid(pid)),
        encryption_key=public_jwk(keys.encryption.public_key(), encryption_kid(pid)),
    )


THAILAND = AreaOfInterest(
    name="Thailand",
    polygons=("20.5,97.3 20.5,105.7 5.6,105.7 5.6,97.3 20.5,97.3",),
    circles=("13.75,100.5 50",),
    geocodes=(Geocode(value_name="ISO3166-1", value="TH"),),
)


def test_a_participant_without_the_new_fields_serialises_as_before(world: World) -> None:
    record = next(iter(world.participants.values()))
    assert set(record.model_dump()) == {
        "id",
        "name",
        "country",
        "roles",
        "languages",
        "url",
        "signing_key",
        "encryption_key",
    }
    read = draft_bytes(read_document(draft_bytes(world.document())))
    assert draft_bytes(read_document(read)) == read
    assert b"alert_key" not in read
    assert b"areas" not in read


def test_a_card_carries_the_alert_key_and_the_areas() -> None:
    keys = NodeKeys.generate()
    assert keys.alerting is not None
    base = participant("th-ddpm-ew", keys)
    jwk = p256_public_jwk(keys.alerting.public_key(), alert_kid("th-ddpm-ew"))
    full = base.model_copy(update={"alert_key": jwk, "areas": (THAILAND,)})
    card = make_card(Participant.model_validate(full.model_dump()), keys.signing, T0)
    read = verify_card(card)
    assert read.areas == (THAILAND,)
    assert read.alert_key == jwk
    assert p256_from_jwk(jwk).public_numbers() == keys.alerting.public_key().public_numbers()
    payload = json.loads(b64url_decode(json.loads(card)["payload"]))
    assert payload["participant"]["areas"][0]["geocodes"] == [
        {"value_name": "ISO3166-1", "value": "TH"}
    ]


def test_an_alert_key_with_another_kid_is_refused() -> None:
    keys = NodeKeys.generate()
    assert keys.alerting is not None
    jwk = p256_public_jwk(keys.alerting.public_key(), alert_kid("someone-else"))
    with pytest.raises(ValidationError, match=r"alert_key\.kid must be"):
        Participant.model_validate(
            {**participant("th-ddpm-ew", keys).model_dump(), "alert_key": jwk}
        )


def test_an_alert_key_off_the_curve_is_refused() -> None:
    keys = NodeKeys.generate()
    assert keys.alerting is not None
    jwk = p256_public_jwk(keys.alerting.public_key(), alert_kid("th-ddpm-ew"))
    jwk["y"] = jwk["x"]
    with pytest.raises(ValidationError):
        Participant.model_validate(
            {**participant("th-ddpm-ew", keys).model_dump(), "alert_key": jwk}
        )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("polygons", ("1,1 1,2 1,1",), "at least 4 coordinate pairs"),
        ("polygons", ("1,1 1,2 2,2 2,1",), "must be closed"),
        ("polygons", ("1,1 1,181 2,2 1,1",), "outside -180..180"),
        ("polygons", ("1;1 1,2 2,2 1;1",), "not a 'latitude,longitude' pair"),
        ("circles", ("13.75,100.5",), "is not a circle"),
        ("circles", ("13.75,100.5 -5",), "is not a circle"),
    ],
)
def test_an_area_breaking_cap_syntax_is_refused(
    field: str, value: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        AreaOfInterest.model_validate({"name": "x", field: value})


def test_an_area_needs_a_shape_or_a_geocode() -> None:
    with pytest.raises(ValidationError, match="at least one polygon, circle or geocode"):
        AreaOfInterest(name="nowhere")


def test_the_cap_shapes_parse() -> None:
    assert parse_polygon("1,1 1,2 2,2 1,1")[1] == (1.0, 2.0)
    assert parse_circle("32.9525,-115.5527 0") == ((32.9525, -115.5527), 0.0)


def test_an_existing_node_gets_an_alert_key_once(tmp_path: object) -> None:
    from pathlib import Path  # noqa: PLC0415

    from accord.errors import NodeError  # noqa: PLC0415

    folder = Path(str(tmp_path))
    keys = NodeKeys(NodeKeys.generate().signing, NodeKeys.generate().encryption)
    keys.save(folder, "passphrase-1")
    assert NodeKeys.load(folder, "passphrase-1").alerting is None
    made = add_alert_key(folder, "passphrase-1")
    loaded = NodeKeys.load(folder, "passphrase-1").alerting
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.public_key().public_numbers() == made.public_key().public_numbers()
    with pytest.raises(NodeError, match="already exists"):
        add_alert_key(folder, "passphrase-1")
