"""Participant cards: a node's public description, self-signed so it verifies on its own.

A card is a JWS in flattened JSON serialization (RFC 7515 §7.2.2) over the participant record,
signed with the participant's own Ed25519 key (``kid`` = ``<id>#sig``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import FlattenedJSONSerialization
from pydantic import ValidationError

from accord.clock import to_rfc3339
from accord.errors import CardInvalid
from accord.identity.models import Participant, signing_kid
from accord.jose import (
    SIG_ALG,
    b64url_decode,
    dump,
    ed25519_from_jwk,
    json_object,
    okp,
    string_members,
)

CARD_TYP = "accord-card+jws"
MAX_CARD_BYTES = 64 * 1024


def make_card(participant: Participant, key: Ed25519PrivateKey, issued_at: datetime) -> bytes:
    participant_json = participant.model_dump(mode="json")
    payload = dump({"issued_at": to_rfc3339(issued_at), "participant": participant_json})
    header = {"alg": SIG_ALG, "kid": signing_kid(participant.id), "typ": CARD_TYP}
    signed = jws.serialize_json({"protected": header}, payload, okp(key), algorithms=[SIG_ALG])
    return json.dumps(signed, indent=2).encode() + b"\n"


def verify_card(data: bytes) -> Participant:
    """The participant a card describes, after checking its self-signature; raises CardInvalid."""
    if len(data) > MAX_CARD_BYTES:
        raise CardInvalid(f"card is {len(data)} bytes, over the {MAX_CARD_BYTES} byte limit")
    try:
        envelope = json_object(data, "card")
        # RFC 7515 §7.2.2: the flattened serialization, as make_card writes it
        string_members(envelope, "card", ("payload", "protected"), ("signature",))
        body = json_object(b64url_decode(envelope["payload"]), "card payload")
        participant = Participant.model_validate(body.get("participant"))
    except (ValueError, ValidationError) as exc:
        raise CardInvalid(
            f"card is malformed: {exc}",
            advice="Ask the participant for a fresh file from `accord card export`.",
        ) from exc
    try:
        verified = jws.deserialize_json(
            cast(FlattenedJSONSerialization, envelope),
            okp(ed25519_from_jwk(participant.signing_key)),
            algorithms=[SIG_ALG],
        )
    except (JoseError, ValueError, KeyError) as exc:
        raise CardInvalid(
            f"card of {participant.id!r} is not signed by its own signing key",
            advice="The card was altered or forged; obtain it again from the participant.",
        ) from exc
    header = verified.headers()
    if header.get("kid") != signing_kid(participant.id) or header.get("typ") != CARD_TYP:
        raise CardInvalid(f"card of {participant.id!r} has a wrong kid or typ header")
    return participant
