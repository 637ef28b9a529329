"""The federation directory: threshold signatures by stewards, expiry, rollback, TUF-style
steward rotation, groups. Each attack raises its own DirectoryError subclass."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.jwk import OKPKey
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws
from jwcrypto.common import json_encode
from pydantic import ValidationError

from accord.errors import (
    DirectoryError,
    DirectoryExpired,
    DirectoryRollback,
    DirectoryThresholdNotMet,
    DirectoryUnsigned,
    UnknownParticipant,
)
from accord.identity.directory import (
    DIRECTORY_TYP,
    MAX_DIRECTORY_BYTES,
    Directory,
    draft_bytes,
    read_document,
    sign_directory,
    verify_directory,
)
from accord.identity.models import DirectoryDocument, Group, StewardSet
from accord.jose import b64url_decode, b64url_encode, dump, okp, public_jwk

if TYPE_CHECKING:
    from tests.conftest import World

VN, RU, ZA = "vn-mps-247", "ru-gp-ca", "za-doj-ca"


def verify(
    world: World,
    data: bytes,
    *,
    trusted: StewardSet | None = None,
    installed: Directory | None = None,
    now: Any = None,
) -> Directory:
    return verify_directory(
        data, trusted=trusted or world.stewards, installed=installed, now=now or world.now
    )


def signatures(data: bytes) -> list[dict[str, str]]:
    value: list[dict[str, str]] = json.loads(data)["signatures"]
    return value


def with_signatures(data: bytes, entries: list[dict[str, str]]) -> bytes:
    return json.dumps({**json.loads(data), "signatures": entries}).encode()


def rogue_signature(data: bytes, kid: str) -> dict[str, str]:
    """A signature by a fresh key that is no steward's, under ``kid``."""
    return signatures(sign_directory(data, Ed25519PrivateKey.generate(), kid))[-1]


# The fixture's directory -------------------------------------------------------------------


def test_fixture_directory_verifies(world: World) -> None:
    directory = verify(world, world.signed)
    assert directory.version == 1
    assert directory.document == world.document()
    assert [p.id for p in directory.document.participants] == [VN, RU, ZA]
    assert directory.signing_key(VN).public_bytes_raw() == (
        world.keys[VN].signing.public_key().public_bytes_raw()
    )
    assert len(directory.sha256) == 64


# Signatures and threshold ------------------------------------------------------------------


def test_unsigned_draft_is_unsigned(world: World) -> None:
    with pytest.raises(DirectoryUnsigned, match="directory is unsigned") as info:
        verify(world, draft_bytes(world.document()))
    assert "accord directory sign" in info.value.advice


def test_jws_with_empty_signature_list_is_unsigned(world: World) -> None:
    with pytest.raises(DirectoryUnsigned):
        verify(world, with_signatures(world.signed, []))


def test_one_of_three_with_threshold_two_is_threshold_not_met(world: World) -> None:
    data = world.sign(world.document(), ("steward-1",))
    with pytest.raises(
        DirectoryThresholdNotMet,
        match=r"1 valid signature\(s\) from the trusted steward set; 2 are required",
    ):
        verify(world, data)


def test_three_of_three_is_accepted(world: World) -> None:
    data = world.sign(world.document(), ("steward-1", "steward-2", "steward-3"))
    assert verify(world, data).version == 1


@pytest.mark.parametrize("kid", ["intruder", "steward-2"], ids=["unknown-kid", "steward-kid"])
def test_signature_by_non_steward_key_does_not_count(world: World, kid: str) -> None:
    """A key that is not in the trusted set, whether it names itself or poses as a steward."""
    data = world.sign(world.document(), ("steward-1",))
    data = with_signatures(data, [*signatures(data), rogue_signature(data, kid)])
    assert len(signatures(data)) == 2
    with pytest.raises(DirectoryThresholdNotMet, match="carries 1 valid signature"):
        verify(world, data)


def test_same_steward_twice_counts_once(world: World) -> None:
    data = world.sign(world.document(), ("steward-1",))
    one = signatures(data)[0]
    with pytest.raises(DirectoryThresholdNotMet, match="carries 1 valid signature"):
        verify(world, with_signatures(data, [one, one]))


def test_same_steward_with_two_distinct_signatures_counts_once(world: World) -> None:
    """Two different valid signatures by steward-1 (different protected headers)."""
    data = world.sign(world.document(), ("steward-1",))
    payload = json.loads(data)["payload"]
    header = {"typ": DIRECTORY_TYP, "kid": "steward-1", "alg": "Ed25519"}  # other key order
    other = jws.serialize_json(
        {"protected": header},
        b64url_decode(payload),
        okp(world.steward_keys["steward-1"]),
        algorithms=["Ed25519"],
    )
    second = {"protected": other["protected"], "signature": other["signature"]}
    assert second != signatures(data)[0]
    with pytest.raises(DirectoryThresholdNotMet, match="carries 1 valid signature"):
        verify(world, with_signatures(data, [*signatures(data), second]))
    steward_2 = signatures(sign_directory(data, world.steward_keys["steward-2"], "steward-2"))[-1]
    assert verify(world, with_signatures(data, [second, steward_2])).version == 1  # it is valid


def test_signature_over_another_payload_does_not_count(world: World) -> None:
    """steward-2 signed version 2; its signature is spliced onto version 1."""
    mine = world.sign(world.document(1), ("steward-1",))
    other = world.sign(world.document(2), ("steward-2",))
    spliced = with_signatures(mine, [*signatures(mine), *signatures(other)])
    with pytest.raises(DirectoryThresholdNotMet, match="carries 1 valid signature"):
        verify(world, spliced)


def test_steward_signature_of_another_type_does_not_count(world: World) -> None:
    data = world.sign(world.document(), ("steward-1",))
    header = {"alg": "Ed25519", "kid": "steward-2", "typ": "accord-card+jws"}
    card_like = jws.serialize_json(
        {"protected": header},
        b64url_decode(json.loads(data)["payload"]),
        okp(world.steward_keys["steward-2"]),
        algorithms=["Ed25519"],
    )
    entry = {"protected": card_like["protected"], "signature": card_like["signature"]}
    with pytest.raises(DirectoryThresholdNotMet, match="carries 1 valid signature"):
        verify(world, with_signatures(data, [*signatures(data), entry]))


def test_resigning_replaces_a_stewards_own_signature(world: World) -> None:
    data = world.sign(world.document(), ("steward-1",))
    again = sign_directory(data, world.steward_keys["steward-1"], "steward-1")
    assert len(signatures(again)) == 1
    with pytest.raises(DirectoryThresholdNotMet):
        verify(world, again)


def test_edited_payload_voids_every_signature(world: World) -> None:
    document = world.document().json_payload()
    document["participants"][0]["url"] = "https://attacker.example.org"
    edited = json.dumps(
        {"payload": b64url_encode(dump(document)), "signatures": signatures(world.signed)}
    ).encode()
    with pytest.raises(DirectoryThresholdNotMet, match="carries 0 valid signature"):
        verify(world, edited)


# Expiry and rollback -----------------------------------------------------------------------


def test_expired_directory_is_expired(world: World) -> None:
    expires_at = world.document().expires_at
    assert verify(world, world.signed, now=expires_at - timedelta(microseconds=1)).version == 1
    with pytest.raises(DirectoryExpired, match="directory version 1 expired at 2026-12-24"):
        verify(world, world.signed, now=expires_at)


def test_older_version_is_rollback(world: World) -> None:
    installed = verify(world, world.sign(world.document(2)))
    with pytest.raises(DirectoryRollback, match="version 1 is older than the installed version 2"):
        verify(world, world.signed, installed=installed)


def test_same_version_with_other_content_is_rollback(world: World) -> None:
    other = world.document(1, groups={"pair": Group(members=(VN, RU))})
    with pytest.raises(DirectoryRollback, match="differs from the installed directory"):
        verify(world, world.sign(other), installed=world.directory)


def test_same_version_same_content_is_accepted(world: World) -> None:
    """The same directory, even with another steward quorum, installs again (idempotent)."""
    again = verify(world, world.signed, installed=world.directory)
    assert again.document == world.directory.document
    resigned = world.sign(world.document(), ("steward-2", "steward-3"))
    assert resigned != world.signed
    assert verify(world, resigned, installed=world.directory).document == world.document()


def test_newer_version_is_accepted(world: World) -> None:
    newer = verify(world, world.sign(world.document(2)), installed=world.directory)
    assert newer.version == 2


# Steward rotation (TUF spec §5.3.4) --------------------------------------------------------


def new_stewards(world: World, names: tuple[str, ...], threshold: int) -> StewardSet:
    for name in names:
        world.steward_keys.setdefault(name, Ed25519PrivateKey.generate())
    keys = tuple(public_jwk(world.steward_keys[n].public_key(), n) for n in names)
    return StewardSet(keys=keys, threshold=threshold)


def test_rotation_signed_by_old_stewards_only_is_threshold_not_met(world: World) -> None:
    rotated = new_stewards(world, ("steward-4", "steward-5", "steward-6"), 2)
    data = world.sign(world.document(2, stewards=rotated), ("steward-1", "steward-2"))
    with pytest.raises(DirectoryThresholdNotMet, match="from its own new steward set"):
        verify(world, data, installed=world.directory)


def test_rotation_signed_by_new_stewards_only_is_threshold_not_met(world: World) -> None:
    """A set of new keys cannot take over the federation by itself."""
    rotated = new_stewards(world, ("steward-4", "steward-5", "steward-6"), 2)
    data = world.sign(world.document(2, stewards=rotated), ("steward-4", "steward-5"))
    with pytest.raises(DirectoryThresholdNotMet, match="from the trusted steward set"):
        verify(world, data, installed=world.directory)


def test_rotation_signed_by_both_sets_is_accepted_and_then_trusted(world: World) -> None:
    rotated = new_stewards(world, ("steward-4", "steward-5", "steward-6"), 2)
    quorum = ("steward-1", "steward-2", "steward-4", "steward-5")
    v2 = verify(world, world.sign(world.document(2, stewards=rotated), quorum))
    assert v2.document.stewards == rotated
    v3_data = world.sign(world.document(3, stewards=rotated), ("steward-5", "steward-6"))
    assert verify(world, v3_data, trusted=rotated, installed=v2).version == 3
    retired = world.sign(world.document(4, stewards=rotated), ("steward-1", "steward-2"))
    with pytest.raises(DirectoryThresholdNotMet):  # the retired stewards no longer suffice
        verify(world, retired, trusted=rotated, installed=v2)


def test_raising_the_threshold_needs_the_new_threshold(world: World) -> None:
    stricter = StewardSet(keys=world.stewards.keys, threshold=3)
    document = world.document(2, stewards=stricter)
    with pytest.raises(DirectoryThresholdNotMet, match="its own new steward set; 3 are required"):
        verify(world, world.sign(document, ("steward-1", "steward-2")))
    signed = world.sign(document, ("steward-1", "steward-2", "steward-3"))
    assert verify(world, signed).document.stewards.threshold == 3


def test_adding_a_steward_needs_its_signature_only_if_threshold_requires(world: World) -> None:
    """Old set threshold 2 and new set {1,2,3,4} threshold 2: two old stewards sign both."""
    grown = new_stewards(world, ("steward-1", "steward-2", "steward-3", "steward-4"), 2)
    assert verify(world, world.sign(world.document(2, stewards=grown))).version == 2


# Document rules and groups -----------------------------------------------------------------


def test_group_cycle_is_rejected(world: World) -> None:
    groups = {
        "asean-russia": Group(members=(VN, "hanoi-parties")),
        "hanoi-parties": Group(members=(ZA, "everyone")),
        "everyone": Group(members=("asean-russia",)),
    }
    with pytest.raises(ValidationError, match=r"groups form a cycle: .*asean-russia"):
        world.document(groups=groups)


def test_group_containing_itself_is_rejected(world: World) -> None:
    with pytest.raises(ValidationError, match="groups form a cycle: loop -> loop"):
        world.document(groups={"loop": Group(members=(VN, "loop"))})


def test_group_with_unknown_member_is_rejected(world: World) -> None:
    with pytest.raises(ValidationError, match=r"group 'pair' names unknown members \['kr-spo'\]"):
        world.document(groups={"pair": Group(members=(VN, "kr-spo"))})


def test_group_named_like_a_participant_is_rejected(world: World) -> None:
    with pytest.raises(ValidationError, match="names used both for a participant and a group"):
        world.document(groups={VN: Group(members=(RU,))})


def test_duplicate_participant_is_rejected(world: World) -> None:
    twice = (*world.participants.values(), world.participants[VN])
    with pytest.raises(ValidationError, match="participant ids must be unique"):
        world.document(participants=twice)


def test_expiry_before_issue_is_rejected(world: World) -> None:
    with pytest.raises(ValidationError, match="expires_at must be after issued_at"):
        world.document(expires_at=world.now)


def test_empty_group_is_rejected(world: World) -> None:
    with pytest.raises(ValidationError, match="members"):
        world.document(groups={"nobody": Group(members=())})


def test_nested_groups_resolve_each_participant_once_in_directory_order(world: World) -> None:
    groups = {
        "asean-russia": Group(members=(RU, VN)),
        "hanoi-parties": Group(members=("asean-russia", ZA, VN)),
        "all": Group(members=("hanoi-parties", "asean-russia", RU)),
    }
    directory = verify(world, world.sign(world.document(groups=groups)))
    assert [p.id for p in directory.resolve("all")] == [VN, RU, ZA]
    assert [p.id for p in directory.resolve("asean-russia")] == [VN, RU]
    assert [p.id for p in directory.resolve(ZA)] == [ZA]


def test_unknown_address_is_unknown_participant(world: World) -> None:
    with pytest.raises(UnknownParticipant, match="'kr-spo' is neither a participant nor a group"):
        world.directory.resolve("kr-spo")
    with pytest.raises(UnknownParticipant, match="not a participant in directory version 1"):
        world.directory.participant("everyone")  # a group is not a participant
    with pytest.raises(UnknownParticipant):
        world.directory.signing_key("kr-spo")
    with pytest.raises(UnknownParticipant):
        world.directory.encryption_key("kr-spo")


# Malformed input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"not json", "not valid JSON", id="not-json"),
        pytest.param(b"[]", "must be a JSON object", id="array"),
        pytest.param(b'{"signatures": []}', "signatures but no payload", id="no-payload"),
        pytest.param(b'{"payload": 5, "signatures": []}', "not a JWS", id="payload-number"),
        pytest.param(b'{"payload": "e30", "signatures": {}}', "not a JWS", id="signatures-object"),
        pytest.param(
            b'{"payload": "e30", "signatures": ["x"]}', "must be JSON objects", id="sig-str"
        ),
    ],
)
def test_malformed_directory_is_rejected(world: World, data: bytes, message: str) -> None:
    with pytest.raises(DirectoryError, match=message):
        verify(world, data)


def test_signed_payload_that_is_no_document_is_rejected(world: World) -> None:
    data = world.sign(world.document())
    envelope = json.loads(data)
    envelope["payload"] = b64url_encode(b'{"type": "accord-directory"}')
    with pytest.raises(DirectoryError, match="directory document is invalid"):
        verify(world, json.dumps(envelope).encode())


def test_oversize_directory_is_rejected(world: World) -> None:
    with pytest.raises(DirectoryError, match=f"over {MAX_DIRECTORY_BYTES} bytes"):
        verify(world, world.signed + b" " * MAX_DIRECTORY_BYTES)


def test_draft_and_signed_forms_hold_the_same_document(world: World) -> None:
    document = world.document(7)
    assert read_document(draft_bytes(document)) == document
    assert read_document(world.sign(document)) == document
    assert isinstance(read_document(world.signed), DirectoryDocument)


# Independent cross-check with jwcrypto -----------------------------------------------------


def jc_public(key: Ed25519PrivateKey) -> jc_jwk.JWK:
    return jc_jwk.JWK(**OKPKey.import_key(key.public_key()).as_dict(private=False))


def test_jwcrypto_verifies_each_steward_signature(world: World) -> None:
    for entry in signatures(world.signed):
        kid = json.loads(b64url_decode(entry["protected"]))["kid"]
        flattened = json.dumps({"payload": json.loads(world.signed)["payload"], **entry})
        token = jc_jws.JWS()
        token.deserialize(flattened)
        token.verify(jc_public(world.steward_keys[kid]), alg="Ed25519")
        assert token.jose_header == {"alg": "Ed25519", "kid": kid, "typ": DIRECTORY_TYP}
        assert json.loads(token.payload) == world.document().json_payload()
        with pytest.raises(jc_jws.InvalidJWSSignature):
            token.verify(jc_public(world.steward_keys["steward-3"]), alg="Ed25519")


def test_directory_signed_with_jwcrypto_verifies(world: World) -> None:
    document = world.document(2)
    token = jc_jws.JWS(json.dumps(document.json_payload()).encode())
    for kid in ("steward-2", "steward-3"):
        private = OKPKey.import_key(world.steward_keys[kid]).as_dict(private=True)
        header = {"alg": "Ed25519", "kid": kid, "typ": DIRECTORY_TYP}
        token.add_signature(jc_jwk.JWK(**private), alg="Ed25519", protected=json_encode(header))
    data = token.serialize().encode()
    assert len(json.loads(data)["signatures"]) == 2
    assert verify(world, data, installed=world.directory).document == document
