"""Anchors (ADR 0018): what a retired key signed counts only with proof that a witness
co-signed a checkpoint including its record before the rotation. Each forgery is named
after what it tries."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from accord.audit.anchor import ANCHOR, verify_anchor
from accord.audit.log import canonical_record, log_origin
from accord.audit.merkle import inclusion_proof, leaf_hash, perfect_from_leaves, root_of
from accord.audit.models import Action, Event
from accord.audit.note import Checkpoint, NoteSigner, cosign, sign_checkpoint
from accord.audit.witness import witness_name
from accord.errors import KeyRetired, ProofInvalid
from accord.identity.directory import Directory, verify_directory
from accord.identity.keys import NodeKeys
from accord.identity.models import RetiredKeys
from accord.jose import public_jwk

if TYPE_CHECKING:
    from tests.conftest import World

VN, RU, ZA = "vn-mps-247", "ru-gp-ca", "za-doj-ca"
DIGEST = "ab" * 32


def rotated(world: World, until: datetime) -> tuple[Directory, NodeKeys]:
    """Directory version 2: vn's first keys retired at ``until``; returns it and the old keys."""
    old = world.keys[VN]
    new = NodeKeys.generate()
    first = world.participants[VN]
    retired = RetiredKeys(keys={"signing_key": first.signing_key,
                                "encryption_key": first.encryption_key}, until=until)  # fmt: skip
    second = first.model_copy(update={
        "signing_key": public_jwk(new.signing.public_key(), f"{VN}#sig"),
        "encryption_key": public_jwk(new.encryption.public_key(), f"{VN}#enc"),
        "retired_keys": (retired,),
    })  # fmt: skip
    participants = tuple(second if p.id == VN else p for p in world.participants.values())
    signed = world.sign(world.document(version=2, participants=participants))
    return verify_directory(signed, trusted=world.stewards, installed=None, now=world.now), old


def anchor(world: World, log_key: NodeKeys, *, witness: str = RU, at: datetime,
           digest: str = DIGEST) -> dict[str, Any]:  # fmt: skip
    records = [canonical_record(i, Event(VN, Action.EVIDENCE_SEALED, f"p{i}",
                                         digest if i == 2 else "cd" * 32, ()), at)
               for i in range(5)]  # fmt: skip
    leaves = [leaf_hash(r) for r in records]
    signer = NoteSigner(log_origin(VN), log_key.signing)
    note = sign_checkpoint(Checkpoint(signer.name, 5, root_of(leaves)), signer)
    cosigned = cosign(note, NoteSigner(witness_name(witness), world.keys[witness].signing), at)
    proof = inclusion_proof(2, 5, perfect_from_leaves(leaves))
    return {"type": ANCHOR, "index": 2, "tree_size": 5, "entry": records[2].decode(),
            "proof": [base64.b64encode(h).decode() for h in proof],
            "checkpoint": cosigned.decode()}  # fmt: skip


def check(directory: Directory, document: dict[str, Any], before: datetime) -> datetime:
    data = json.dumps(document).encode()
    return verify_anchor(data, participant=VN, digest=DIGEST, directory=directory, before=before)


def test_an_anchor_witnessed_before_the_rotation_holds(world: World) -> None:
    rotation = world.now + timedelta(days=1)
    directory, old = rotated(world, rotation)
    witnessed = world.now + timedelta(hours=1)
    assert check(directory, anchor(world, old, at=witnessed), rotation) == witnessed


def test_anchor_cosigned_after_the_rotation_is_refused(world: World) -> None:
    """What whoever kept the old key would need: a witness co-signing in the past."""
    rotation = world.now + timedelta(days=1)
    directory, old = rotated(world, rotation)
    late = anchor(world, old, at=rotation + timedelta(seconds=1))
    with pytest.raises(ProofInvalid, match="no cosignature by another participant before"):
        check(directory, late, rotation)


def test_anchor_cosigned_by_the_log_itself_is_refused(world: World) -> None:
    rotation = world.now + timedelta(days=1)
    directory, old = rotated(world, rotation)
    own = anchor(world, old, witness=VN, at=world.now)
    with pytest.raises(ProofInvalid, match="no cosignature"):
        check(directory, own, rotation)


def test_anchor_of_another_record_is_refused(world: World) -> None:
    rotation = world.now + timedelta(days=1)
    directory, old = rotated(world, rotation)
    other = anchor(world, old, at=world.now, digest="ef" * 32)
    with pytest.raises(ProofInvalid, match="not vn-mps-247's record of digest"):
        check(directory, other, rotation)


def test_anchor_with_an_altered_inclusion_proof_is_refused(world: World) -> None:
    rotation = world.now + timedelta(days=1)
    directory, old = rotated(world, rotation)
    document = anchor(world, old, at=world.now)
    document["proof"][0] = base64.b64encode(bytes(32)).decode()
    with pytest.raises(ProofInvalid):
        check(directory, document, rotation)


def test_anchor_whose_checkpoint_another_key_signed_is_refused(world: World) -> None:
    rotation = world.now + timedelta(days=1)
    directory, _old = rotated(world, rotation)
    forged = anchor(world, world.keys[ZA], at=world.now)  # a checkpoint signed by za's key
    with pytest.raises(ProofInvalid, match="not signed by vn-mps-247's key of that time"):
        check(directory, forged, rotation)


@pytest.mark.parametrize(
    "data", [b"", b"[]", b'{"type":"x"}', b"\xff", b'{"type":"accord-anchor/v1"}']
)
def test_malformed_anchor_is_refused(world: World, data: bytes) -> None:
    rotation = world.now + timedelta(days=1)
    directory, _old = rotated(world, rotation)
    with pytest.raises(ProofInvalid):
        verify_anchor(data, participant=VN, digest=DIGEST, directory=directory, before=rotation)


def test_a_message_signed_with_a_compromised_key_is_refused_by_time(world: World) -> None:
    """directory.signing_key_at: the retired key before the rotation, unless compromised."""
    rotation = world.now + timedelta(days=1)
    directory, old = rotated(world, rotation)
    before = world.now
    assert directory.signing_key_at(VN, before).public_bytes_raw() == (
        old.signing.public_key().public_bytes_raw()
    )
    assert directory.signing_key_at(VN, rotation) == directory.signing_key(VN)


def test_a_compromised_key_counts_for_nothing_unless_anchored(world: World) -> None:
    rotation = world.now + timedelta(days=1)
    directory, old = rotated(world, rotation)
    participant = directory.participant(VN)
    compromised = participant.model_copy(
        update={
            "retired_keys": (participant.retired_keys[0].model_copy(update={"compromised": True}),)
        }
    )
    people = tuple(compromised if p.id == VN else p for p in directory.document.participants)
    signed = world.sign(world.document(version=3, participants=people))
    third = verify_directory(signed, trusted=world.stewards, installed=None, now=world.now)
    with pytest.raises(KeyRetired, match="retired as compromised"):
        third.signing_key_at(VN, world.now)
    # an anchor witnessed before the rotation still proves what was logged then
    assert check(third, anchor(world, old, at=world.now), rotation) == world.now
