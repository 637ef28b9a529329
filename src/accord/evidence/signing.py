"""Signed manifests and the hash-linked chain of custody (pure: bytes and keys in, verdicts out).

Both are compact JWS (RFC 7515 §7.1, ``alg: Ed25519``) over canonical JSON. A custody record's
``prev`` is the SHA-256 of the previous record's compact JWS, and the first record's ``prev`` is
the SHA-256 of the signed manifest, so a record cannot be removed, reordered or moved to another
package without breaking a link.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry
from pydantic import BaseModel, ValidationError

from accord.boundedjson import DEFAULT
from accord.envelope.core import sha256_hex
from accord.errors import DirectoryError, EvidenceError, FieldError, PackageTampered
from accord.evidence.models import CUSTODY_TYPE, CustodyRecord, Event, Manifest
from accord.identity.models import signing_kid
from accord.jose import SIG_ALG, b64url_decode, dump, json_object, okp

MANIFEST_TYP = "accord-evidence-manifest+jws"
CUSTODY_TYP = "accord-custody+jws"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024

# joserfc refuses payloads over 128,000 bytes by default; a manifest of a large package (one
# 64-hex digest per 4 MiB chunk: 10 GiB is 2,560 digests) is bigger. The token's own size is
# bounded by MAX_MANIFEST_BYTES before it gets here.
_REGISTRY = JWSRegistry(algorithms=[SIG_ALG])
_REGISTRY.max_payload_length = MAX_MANIFEST_BYTES

# one digest per 4 MiB chunk: a manifest at its byte bound lists about a million of them
MANIFEST_JSON = DEFAULT.but(
    max_bytes=MAX_MANIFEST_BYTES, max_items=1_100_000, max_values=2_500_000, max_depth=8
)

KeyLookup = Callable[[str], Ed25519PublicKey]
"""The signing key of a participant id (a directory or a card); raises DirectoryError."""


@runtime_checkable
class KeysByTime(Protocol):
    """A lookup that knows rotations (ADR 0018): the key in force when ``what`` was signed,
    and only if it is still trusted for that (an anchor when the key was retired since)."""

    def __call__(self, participant_id: str) -> Ed25519PublicKey: ...

    def at(
        self, participant_id: str, moment: datetime, digest: str, what: str
    ) -> Ed25519PublicKey: ...


Model = TypeVar("Model", bound=BaseModel)


def sign_claims(payload: dict[str, Any], typ: str, signer: str, key: Ed25519PrivateKey) -> bytes:
    header = {"alg": SIG_ALG, "kid": signing_kid(signer), "typ": typ}
    token = jws.serialize_compact(header, dump(payload), okp(key), algorithms=[SIG_ALG])
    return token.encode("ascii")


def sign_manifest(manifest: Manifest, key: Ed25519PrivateKey) -> bytes:
    return sign_claims(manifest.as_json(), MANIFEST_TYP, manifest.sealed_by, key)


def sign_custody(record: CustodyRecord, key: Ed25519PrivateKey) -> bytes:
    return sign_claims(record.as_json(), CUSTODY_TYP, record.actor, key)


def next_record(
    manifest_token: bytes,
    manifest: Manifest,
    chain: Sequence[bytes],
    *,
    event: Event,
    actor: str,
    at: datetime,
    details: dict[str, str] | None = None,
) -> CustodyRecord:
    """The record that extends ``chain`` (the first one links to the signed manifest)."""
    return CustodyRecord(
        type=CUSTODY_TYPE,
        package_id=manifest.package_id,
        seq=len(chain),
        event=event,
        actor=actor,
        at=at,
        prev=sha256_hex(chain[-1] if chain else manifest_token),
        details=details or {},
    )


def read_signed(
    token: bytes,
    what: str,
    *,
    model: type[Model],
    signer_of: Callable[[Model], str],
    keys: KeyLookup,
    typ: str,
) -> Model:
    try:
        protected, payload, _ = token.split(b".")
        header = json_object(b64url_decode(protected.decode("ascii")), f"{what} header")
        body = json_object(b64url_decode(payload.decode("ascii")), what, MANIFEST_JSON)
        claims = model.model_validate(body)
    except ValidationError as exc:
        raise EvidenceError(
            f"{what} does not follow its schema",
            advice="The package was not written by Accord or was edited; ask the sender again.",
            errors=[
                FieldError(".".join(map(str, e["loc"])), e["type"], e["msg"]) for e in exc.errors()
            ],
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"{what} is not a compact JWS: {exc}") from exc
    signer = signer_of(claims)
    if header.get("typ") != typ or header.get("kid") != signing_kid(signer):
        raise PackageTampered(
            f"{what} header names typ {header.get('typ')!r} and key {header.get('kid')!r}, "
            f"not {typ!r} and {signing_kid(signer)!r}",
            advice="Treat the package as forged.",
        )
    try:
        if isinstance(keys, KeysByTime):
            key = keys.at(signer, signed_at(claims), sha256_hex(token), what)
        else:
            key = keys(signer)
    except DirectoryError as exc:
        raise PackageTampered(
            f"{what} is signed in the name of {signer!r}, who is not a trusted participant: "
            f"{exc.message}",
            advice="Treat the package as forged, or verify with the directory it was sealed under.",
        ) from exc
    try:
        jws.deserialize_compact(token, okp(key), registry=_REGISTRY)
    except (JoseError, ValueError) as exc:
        raise PackageTampered(
            f"{what} is not signed by the key of {signer!r} in the directory: it was edited "
            "after signing or re-signed by another key",
            advice="Do not rely on this package; ask the sender to seal it again.",
        ) from exc
    return claims


SIGNED_AT = ("sealed_at", "at", "received_at")  # manifest, custody record, package receipt


def signed_at(claims: BaseModel) -> datetime:
    """When a manifest, a custody record or a package receipt says it was signed."""
    for name in SIGNED_AT:
        moment = getattr(claims, name, None)
        if isinstance(moment, datetime):
            return moment
    raise EvidenceError(f"{type(claims).__name__} names no time it was signed")


def verify_manifest(token: bytes, keys: KeyLookup) -> Manifest:
    """The manifest, once its signature by the sealing participant's directory key holds."""
    if len(token) > MAX_MANIFEST_BYTES:
        raise EvidenceError(f"manifest is over {MAX_MANIFEST_BYTES} bytes")
    return read_signed(
        token,
        "manifest",
        model=Manifest,
        signer_of=lambda m: m.sealed_by,
        keys=keys,
        typ=MANIFEST_TYP,
    )


def verify_chain(
    manifest_token: bytes, manifest: Manifest, chain: Sequence[bytes], keys: KeyLookup
) -> list[CustodyRecord]:
    """Every record, checked in order: signature, package, sequence and hash link.

    ``manifest`` is what :func:`verify_manifest` returned for ``manifest_token``. The first
    record must be ``acquired`` and link to the manifest. Raises PackageTampered
    naming the first record that does not hold (a removed record breaks the next link).
    """
    records: list[CustodyRecord] = []
    previous = manifest_token
    for seq, token in enumerate(chain):
        what = f"custody record {seq}"
        record = read_signed(
            token,
            what,
            model=CustodyRecord,
            signer_of=lambda r: r.actor,
            keys=keys,
            typ=CUSTODY_TYP,
        )
        if record.package_id != manifest.package_id:
            raise PackageTampered(
                f"{what} belongs to package {record.package_id}, not {manifest.package_id}",
                advice="A record from another package was inserted; treat the chain as broken.",
            )
        if record.seq != seq or record.prev != sha256_hex(previous):
            raise PackageTampered(
                f"{what} does not link to {'the manifest' if seq == 0 else f'record {seq - 1}'}"
                f" (sequence {record.seq}, previous hash {record.prev[:12]}…): a record was "
                "removed, reordered or altered before it",
                advice="The chain of custody is broken; report it and keep this copy as it is.",
            )
        if records and records[-1].event is Event.DISPOSED:
            raise PackageTampered(
                f"{what} ({record.event} by {record.actor}) comes after the disposal recorded "
                f"in record {seq - 1}: nothing can happen to evidence that was disposed of",
                advice="The chain of custody is broken; report it and keep this copy as it is.",
            )
        records.append(record)
        previous = token
    if not records or records[0].event is not Event.ACQUIRED:
        raise PackageTampered(
            "the chain of custody does not start with the acquisition",
            advice="The first records were removed; report it and keep this copy as it is.",
        )
    return records
