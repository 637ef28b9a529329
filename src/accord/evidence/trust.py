"""Trust anchors for offline verification: whose keys a package's signatures are checked with.

A package carries the signed directory it was sealed under, but a copy cannot vouch for itself:
the verifier supplies the federation's steward set (which must have signed that directory) or
the participant cards it already trusts. With neither, verification refuses to start.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.audit.anchor import verify_anchor
from accord.clock import from_rfc3339
from accord.errors import EvidenceError, KeyRetired, ProofInvalid, UnknownParticipant
from accord.evidence.age import parse_identity
from accord.evidence.package import Package
from accord.evidence.signing import KeyLookup
from accord.identity.card import verify_card
from accord.identity.directory import Directory, verify_directory
from accord.identity.keys import read_private_key
from accord.identity.service import load_steward_set
from accord.jose import b64url_decode, ed25519_from_jwk, json_object


def from_stewards(package: Package, stewards: bytes) -> KeyLookup:
    """Keys from the package's directory, once a threshold of these stewards signed it and it
    was in force when the package says it was sealed."""
    sealed_at = _claimed_sealed_at(package.manifest_token())
    directory = verify_directory(
        package.directory(), trusted=load_steward_set(stewards), installed=None, now=sealed_at
    )
    return directory.signing_key


class DirectoryKeys:
    """The signing keys of a directory in force (a node's, or the newest a verifier trusts),
    by time (ADR 0018): what was signed before a rotation is checked with the retired key,
    and counts only with an anchor proving its record was logged and witnessed before the
    rotation; the package's anchors are the ones given."""

    def __init__(self, directory: Directory, anchors: Sequence[bytes] = ()) -> None:
        self._directory, self._anchors = directory, tuple(anchors)

    def __call__(self, participant_id: str) -> Ed25519PublicKey:
        return self._directory.signing_key(participant_id)

    def at(self, participant_id: str, moment: datetime, digest: str, what: str) -> Ed25519PublicKey:
        """The key for ``what`` (a manifest, a custody record) signed at ``moment``. A manifest
        signed with a retired key needs an anchor (it could be back-dated); so does anything
        signed with a compromised one. A custody record by a key retired in a routine
        rotation counts by its time: the chain's hash links keep it in place."""
        jwk, retired = self._directory.participant(participant_id).key_at("signing_key", moment)
        if retired is None:
            return self._directory.signing_key(participant_id)
        if what != "manifest" and not retired.compromised:
            return ed25519_from_jwk(jwk)
        failures = []
        for anchor in self._anchors:
            try:
                verify_anchor(anchor, participant=participant_id, digest=digest,
                              directory=self._directory, before=retired.until)  # fmt: skip
            except ProofInvalid as exc:
                failures.append(exc.message)
                continue
            return ed25519_from_jwk(jwk)
        raise KeyRetired(
            f"signed on {moment.isoformat()} with the key {participant_id} retired on "
            f"{retired.until.isoformat()}, and no anchor proves it was logged and witnessed "
            f"before then{': ' + failures[0] if failures else ''}",
            advice="Ask the signer for its anchor (`accord evidence anchor`), made before the "
            "rotation; without it a retired key could have back-dated this.",
        )


def from_cards(cards: Sequence[bytes]) -> KeyLookup:
    """Keys from participant cards the verifier obtained and trusts (each self-signed)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for data in cards:
        participant = verify_card(data)
        keys[participant.id] = ed25519_from_jwk(participant.signing_key)

    def lookup(participant_id: str) -> Ed25519PublicKey:
        try:
            return keys[participant_id]
        except KeyError:
            raise UnknownParticipant(
                f"no trusted card for {participant_id!r} was given",
                advice=f"Pass the card of {participant_id} with --card, or use --stewards.",
            ) from None

    return lookup


def _claimed_sealed_at(token: bytes) -> datetime:
    try:
        payload = json_object(b64url_decode(token.split(b".")[1].decode("ascii")), "manifest")
        return from_rfc3339(str(payload["sealed_at"]))
    except (ValueError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"manifest is unreadable: {exc}") from exc


def read_identity(path: Path, passphrase: str | None) -> X25519PrivateKey:
    """A recipient's key: an age identity file (``AGE-SECRET-KEY-1…``) or a node's encrypted
    PEM key file (opened with the passphrase)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"cannot read {path}: {exc.strerror}") from exc
    if b"-----BEGIN" in data:
        if passphrase is None:
            raise EvidenceError(
                f"{path} is encrypted with a node passphrase",
                advice="Set ACCORD_PASSPHRASE, or pass an age identity file.",
            )
        key = read_private_key(path, passphrase)
        if not isinstance(key, X25519PrivateKey):
            raise EvidenceError(f"{path} is not an X25519 encryption key")
        return key
    lines = [
        line.strip()
        for line in data.decode("utf-8", "replace").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if len(lines) != 1:
        raise EvidenceError(
            f"{path} holds {len(lines)} keys; one age identity (AGE-SECRET-KEY-1…) is expected"
        )
    return parse_identity(lines[0])
