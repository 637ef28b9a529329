"""The federation directory: who is in the federation, their keys, and groups.

Pure trust logic (bytes and ``now`` in, a verified :class:`Directory` or an exception out). The
signed form is a JWS in general JSON serialization (RFC 7515 §7.2.1) with one signature per
steward. Rotation of the steward set follows TUF's root rotation (TUF spec §5.3.4): a directory
that names new stewards must reach the threshold of the trusted set *and* of its own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import FlattenedJSONSerialization
from pydantic import ValidationError

from accord.boundedjson import DEFAULT
from accord.errors import (
    DirectoryError,
    DirectoryExpired,
    DirectoryRollback,
    DirectoryThresholdNotMet,
    DirectoryUnsigned,
    KeyRetired,
    UnknownParticipant,
)
from accord.identity.models import DirectoryDocument, Participant, RetiredKeys, StewardSet
from accord.jose import (
    SIG_ALG,
    b64url_decode,
    b64url_encode,
    dump,
    ed25519_from_jwk,
    json_object,
    okp,
    string_members,
    x25519_from_jwk,
)

DIRECTORY_TYP = "accord-directory+jws"
MAX_DIRECTORY_BYTES = 8 * 1024 * 1024
DIRECTORY_JSON = DEFAULT.but(max_bytes=MAX_DIRECTORY_BYTES)


@dataclass(frozen=True)
class Directory:
    """A verified directory, with lookups. Construct it only through :func:`verify_directory`."""

    document: DirectoryDocument
    signed: bytes

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.signed).hexdigest()

    @property
    def version(self) -> int:
        return self.document.version

    @cached_property
    def _by_id(self) -> dict[str, Participant]:
        return {p.id: p for p in self.document.participants}

    @cached_property
    def _keys(self) -> dict[str, tuple[Ed25519PublicKey, X25519PublicKey]]:
        return {
            p.id: (ed25519_from_jwk(p.signing_key), x25519_from_jwk(p.encryption_key))
            for p in self.document.participants
        }

    def participant(self, participant_id: str) -> Participant:
        try:
            return self._by_id[participant_id]
        except KeyError:
            raise UnknownParticipant(
                f"{participant_id!r} is not a participant in directory version {self.version}",
                advice="Check the id with `accord directory show`, or install a newer directory.",
            ) from None

    def has_participant(self, participant_id: str) -> bool:
        return participant_id in self._by_id

    def signing_key(self, participant_id: str) -> Ed25519PublicKey:
        self.participant(participant_id)
        return self._keys[participant_id][0]

    def signing_key_at(
        self, participant_id: str, moment: datetime, *, compromised_ok: bool = False
    ) -> Ed25519PublicKey:
        """The signing key ``participant_id`` had in force at ``moment`` (ADR 0018): its
        current key from its last rotation time on, a retired one before. A key retired as
        compromised is refused unless ``compromised_ok`` (what was stored, or anchored in a
        checkpoint witnessed before the rotation, was signed when the key was trusted)."""
        jwk, retired = self.participant(participant_id).key_at("signing_key", moment)
        if retired is not None and retired.compromised and not compromised_ok:
            raise KeyRetired(
                f"{participant_id}'s signing key in force at {moment.isoformat()} was retired "
                f"as compromised at {retired.until.isoformat()} (directory version "
                f"{self.version})",
                advice="Nothing signed with a compromised key is trusted unless anchored in a "
                "checkpoint witnessed before the rotation; ask the sender to send it anew.",
            )
        return self.signing_key(participant_id) if retired is None else ed25519_from_jwk(jwk)

    def retirement(self, participant_id: str, key: Ed25519PublicKey) -> RetiredKeys | None:
        """The rotation that retired ``key`` as ``participant_id``'s signing key, if any."""
        raw = key.public_bytes_raw()
        for retired in self.participant(participant_id).retired_keys:
            jwk = retired.keys.get("signing_key")
            if jwk is not None and ed25519_from_jwk(jwk).public_bytes_raw() == raw:
                return retired
        return None

    def encryption_key(self, participant_id: str) -> X25519PublicKey:
        self.participant(participant_id)
        return self._keys[participant_id][1]

    def resolve(self, address: str) -> tuple[Participant, ...]:
        """The participants an address names: one participant, or a group's members, nested
        groups expanded, each participant once, in directory order."""
        if address in self._by_id:
            return (self._by_id[address],)
        groups = self.document.groups
        if address not in groups:
            raise UnknownParticipant(
                f"{address!r} is neither a participant nor a group in directory version "
                f"{self.version}",
                advice="List the names with `accord directory show`.",
            )
        found: set[str] = set()
        pending = [address]
        while pending:
            for member in groups[pending.pop()].members:
                if member in groups:
                    pending.append(member)
                else:
                    found.add(member)
        return tuple(p for p in self.document.participants if p.id in found)


def draft_bytes(document: DirectoryDocument) -> bytes:
    return json.dumps(document.json_payload(), indent=2, ensure_ascii=False).encode() + b"\n"


def sign_directory(data: bytes, key: Ed25519PrivateKey, kid: str) -> bytes:
    """Add one steward signature to a draft (plain JSON) or an already signed directory."""
    envelope = _as_envelope(data)
    header = {"alg": SIG_ALG, "kid": kid, "typ": DIRECTORY_TYP}
    payload = b64url_decode(envelope["payload"])
    one = jws.serialize_json({"protected": header}, payload, okp(key), algorithms=[SIG_ALG])
    signatures = [s for s in envelope["signatures"] if _kid(s) != kid]
    signatures.append({"protected": one["protected"], "signature": one["signature"]})
    signed = {"payload": envelope["payload"], "signatures": signatures}
    return json.dumps(signed, indent=2).encode() + b"\n"


def read_document(data: bytes) -> DirectoryDocument:
    """The document inside a draft or a signed directory, without checking signatures."""
    envelope = _as_envelope(data)
    try:
        body = json_object(b64url_decode(envelope["payload"]), "directory payload", DIRECTORY_JSON)
        return DirectoryDocument.model_validate(body)
    except (ValueError, ValidationError) as exc:
        raise DirectoryError(
            f"directory document is invalid: {exc}",
            advice="Rebuild the draft with `accord directory` commands.",
        ) from exc


def verify_directory(
    data: bytes,
    *,
    trusted: StewardSet,
    installed: Directory | None,
    now: datetime,
) -> Directory:
    """Check a signed directory against the trusted stewards, its expiry and the installed one.

    Raises DirectoryUnsigned, DirectoryThresholdNotMet, DirectoryExpired, DirectoryRollback or
    DirectoryError; returns the verified Directory otherwise.
    """
    if len(data) > MAX_DIRECTORY_BYTES:
        raise DirectoryError(f"directory is over {MAX_DIRECTORY_BYTES} bytes")
    envelope = _as_envelope(data)
    if not envelope["signatures"]:
        raise DirectoryUnsigned(
            "directory is unsigned",
            advice="Have the federation stewards sign it with `accord directory sign`.",
        )
    document = read_document(data)
    _require_threshold(envelope, trusted, "the trusted steward set")
    if document.stewards != trusted:
        _require_threshold(envelope, document.stewards, "its own new steward set")
    if now >= document.expires_at:
        raise DirectoryExpired(
            f"directory version {document.version} expired at {document.expires_at.isoformat()}",
            advice="Ask the stewards for a current directory.",
        )
    if installed is not None:
        _require_not_older(document, data, installed)
    return Directory(document=document, signed=data)


def _require_threshold(envelope: dict[str, Any], stewards: StewardSet, which: str) -> None:
    valid: set[str] = set()
    for signature in envelope["signatures"]:
        kid = _kid(signature)
        jwk = stewards.key(kid)
        if jwk is None or kid in valid:
            continue
        flattened = {"payload": envelope["payload"], **signature}
        try:
            verified = jws.deserialize_json(
                cast(FlattenedJSONSerialization, flattened),
                okp(ed25519_from_jwk(jwk)),
                algorithms=[SIG_ALG],
            )
        except (JoseError, ValueError):
            continue
        if verified.headers().get("typ") == DIRECTORY_TYP:
            valid.add(kid)
    if len(valid) < stewards.threshold:
        raise DirectoryThresholdNotMet(
            f"directory carries {len(valid)} valid signature(s) from {which}; "
            f"{stewards.threshold} are required",
            advice="Collect more steward signatures with `accord directory sign`.",
        )


def _require_not_older(document: DirectoryDocument, data: bytes, installed: Directory) -> None:
    if document.version < installed.version:
        raise DirectoryRollback(
            f"directory version {document.version} is older than the installed version "
            f"{installed.version}",
            advice="Directories only move forward; install the latest one.",
        )
    if document.version == installed.version and read_document(data) != installed.document:
        raise DirectoryRollback(
            f"directory version {document.version} differs from the installed directory of the "
            "same version",
            advice="Two different directories share a version: report this to the stewards.",
        )


def _as_envelope(data: bytes) -> dict[str, Any]:
    """Normalise a draft (a plain document) or a signed directory to general JWS JSON."""
    try:
        value = json_object(data, "directory", DIRECTORY_JSON)
    except ValueError as exc:
        raise DirectoryError(str(exc), advice="Pass a directory file.") from exc
    if "payload" not in value:
        if "signatures" in value:
            raise DirectoryError("directory has signatures but no payload")
        return {"payload": b64url_encode(dump(value)), "signatures": []}
    signatures = value.get("signatures", [])
    if not isinstance(value["payload"], str) or not isinstance(signatures, list):
        raise DirectoryError("directory is not a JWS in general JSON serialization (RFC 7515)")
    if any(not isinstance(s, dict) for s in signatures):
        raise DirectoryError("directory signature entries must be JSON objects")
    if set(value) - {"payload", "signatures"}:
        raise DirectoryError(f"directory: members {sorted(value)[:8]} are not a general JWS")
    try:  # RFC 7515 §7.2.1, as sign_directory writes it
        for index, signature in enumerate(signatures):
            string_members(signature, f"signatures[{index}]", ("protected", "signature"))
    except ValueError as exc:
        raise DirectoryError(str(exc), advice="Pass a directory file.") from exc
    return {"payload": value["payload"], "signatures": signatures}


def _kid(signature: dict[str, Any]) -> str:
    try:
        header = json_object(b64url_decode(signature.get("protected", "")), "signature header")
    except ValueError:
        return ""
    kid = header.get("kid")
    return kid if isinstance(kid, str) else ""
