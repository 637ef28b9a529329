"""Moving a sealed package between nodes (pure: the plan, the offer and the receipt).

A transfer has three steps, each idempotent so that either node may die at any point:

1. **Offer**: the sender posts the signed manifest, the custody chain ending with its ``sent``
   record, and the directory the package was sealed under. The receiver checks all three and
   answers with the chunks it still lacks.
2. **Chunks**: each 4 MiB slice of ciphertext is put at its global index. The receiver keeps it
   only if its SHA-256 is the one the signed manifest gives for that index, so a corrupted or
   substituted chunk is refused and sent again; what the receiver confirmed is durable.
3. **Completion**: once every chunk is held, the receiver verifies the whole package, adds its
   ``received`` and ``verified`` custody records, and signs a receipt naming the manifest's
   SHA-256 and its own last custody record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field

from accord.boundedjson import DEFAULT, parse_json
from accord.clock import to_rfc3339
from accord.errors import EvidenceError, FieldError, InputError
from accord.evidence.models import CHUNK_BYTES, HEX64, Manifest, Strict, timestamp_field
from accord.evidence.package import MAX_CUSTODY_BYTES
from accord.evidence.signing import MAX_MANIFEST_BYTES, KeyLookup, read_signed, sign_claims

RECEIPT_TYPE = "accord-evidence-receipt/v1"
RECEIPT_TYP = "accord-evidence-receipt+jws"
MAX_DIRECTORY_BYTES = 16 * 1024 * 1024
MAX_OFFER_BYTES = MAX_MANIFEST_BYTES + MAX_CUSTODY_BYTES + MAX_DIRECTORY_BYTES
# three strings (manifest, custody records, directory) at the top; their size is the bound
OFFER_JSON = DEFAULT.but(max_bytes=MAX_OFFER_BYTES, max_depth=4)
MAX_RANGES = 1000  # per answer, so that it stays small; the sender asks again after these


@dataclass(frozen=True)
class Chunk:
    """One slice of one blob, at its index in the package's order of chunks."""

    index: int
    blob: str
    offset: int
    length: int
    sha256: str


@dataclass(frozen=True)
class Plan:
    """Every chunk of a package in order: file by file, then by offset in its blob."""

    chunks: tuple[Chunk, ...]

    @classmethod
    def of(cls, manifest: Manifest) -> Plan:
        chunks: list[Chunk] = []
        for entry in manifest.files:
            for number, digest in enumerate(entry.chunks):
                offset = number * CHUNK_BYTES
                length = min(CHUNK_BYTES, entry.ciphertext_size - offset)
                chunks.append(Chunk(len(chunks), entry.blob, offset, length, digest))
        return cls(tuple(chunks))

    @property
    def total_bytes(self) -> int:
        return sum(c.length for c in self.chunks)

    def chunk(self, index: int) -> Chunk:
        if not 0 <= index < len(self.chunks):
            raise InputError(
                f"chunk {index} does not exist: the package has {len(self.chunks)} chunks "
                f"(0..{len(self.chunks) - 1})",
                advice="Send the chunks the signed manifest lists, by their index.",
                errors=[FieldError("index", "chunk.range", "outside the manifest's chunks")],
            )
        return self.chunks[index]


def ranges(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted indices as half-open ``[start, end)`` runs (at most MAX_RANGES of them)."""
    runs: list[tuple[int, int]] = []
    for index in sorted(indices):
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        elif len(runs) == MAX_RANGES:
            break
        else:
            runs.append((index, index + 1))
    return runs


def expand(runs: object, total: int) -> Iterator[int]:
    """The indices of ``[start, end)`` runs a receiver answered, checked against ``total``."""
    if not isinstance(runs, list):
        raise EvidenceError("the receiver's answer has no list of missing chunks")
    for run in runs:
        if (
            not isinstance(run, list)
            or len(run) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in run)
            or not 0 <= run[0] < run[1] <= total
        ):
            raise EvidenceError(f"the receiver named missing chunks {run!r} outside 0..{total}")
        yield from range(run[0], run[1])


# The offer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """What a receiver needs before the first chunk: the signed manifest, the custody chain as
    the sender holds it (ending with its ``sent`` record) and the sealing directory."""

    manifest: bytes
    custody: tuple[bytes, ...]
    directory: bytes

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "manifest": self.manifest.decode("ascii"),
                "custody": [record.decode("ascii") for record in self.custody],
                "directory": self.directory.decode("utf-8"),
            }
        ).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Offer:
        if len(body) > MAX_OFFER_BYTES:
            raise InputError(f"the offer is over {MAX_OFFER_BYTES} bytes")
        # an offer carries the custody chain and the directory, larger than the default bound
        value = parse_json(body, what="offer", limits=OFFER_JSON)
        problems = _offer_problems(value)
        if problems:
            raise InputError(
                "the offer is malformed",
                advice="Send {manifest, custody, directory} as `accord evidence send` does.",
                errors=problems,
            )
        return cls(
            value["manifest"].encode("ascii"),
            tuple(record.encode("ascii") for record in value["custody"]),
            value["directory"].encode("utf-8"),
        )


def _offer_problems(value: Any) -> list[FieldError]:
    if not isinstance(value, dict):
        return [FieldError("offer", "type", "must be a JSON object")]
    problems = [
        FieldError(name, "unknown", "is not a field of an offer")
        for name in sorted(set(value) - {"manifest", "custody", "directory"})
    ]
    for name in ("manifest", "directory"):
        if not isinstance(value.get(name), str) or not value[name]:
            problems.append(FieldError(name, "required", f"{name} must be a non-empty string"))
    custody = value.get("custody")
    if not isinstance(custody, list) or not custody:
        problems.append(FieldError("custody", "required", "must be a non-empty list of records"))
    elif not all(isinstance(r, str) and r.isascii() for r in custody):
        problems.append(FieldError("custody", "type", "each record must be a compact JWS"))
    manifest = value.get("manifest")
    if isinstance(manifest, str) and not manifest.isascii():
        problems.append(FieldError("manifest", "type", "must be a compact JWS"))
    directory = value.get("directory")
    if isinstance(directory, str) and not _encodes(directory):
        problems.append(FieldError("directory", "type", "must be valid UTF-8 text"))
    return problems


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# The receipt -------------------------------------------------------------------------------


class PackageReceipt(Strict):
    """The receiver's signed statement that it holds the whole package, verified."""

    type: str = Field(pattern=f"^{RECEIPT_TYPE}$")
    package_id: str
    manifest_sha256: str = Field(pattern=HEX64)
    sender: str
    receiver: str
    received_at: datetime
    chunks: int = Field(ge=1)
    bytes: int = Field(ge=0)
    custody_sha256: str = Field(pattern=HEX64)  # the receiver's ``verified`` record
    audit_index: int = Field(ge=0)

    _at = timestamp_field("received_at")

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json") | {"received_at": to_rfc3339(self.received_at)}


def sign_receipt(receipt: PackageReceipt, key: Ed25519PrivateKey) -> bytes:
    return sign_claims(receipt.as_json(), RECEIPT_TYP, receipt.receiver, key)


def verify_receipt(
    token: bytes,
    keys: KeyLookup,
    *,
    package_id: str,
    manifest_sha256: str,
    receiver: str,
    expected: dict[str, object] | None = None,
) -> PackageReceipt:
    """The receipt, once signed by ``receiver``'s key and about this exact package (and
    stating the ``expected`` values of its other claims, such as sender and chunks)."""
    receipt = read_signed(
        token,
        "package receipt",
        model=PackageReceipt,
        signer_of=lambda r: r.receiver,
        keys=keys,
        typ=RECEIPT_TYP,
    )
    claims: dict[str, object] = {
        "package_id": package_id,
        "manifest_sha256": manifest_sha256,
        "receiver": receiver,
    }
    claims |= expected or {}
    wrong = [name for name, value in claims.items() if getattr(receipt, name) != value]
    if wrong:
        raise EvidenceError(
            f"the receipt from {receiver} states a different {', '.join(wrong)}",
            advice="The receiver acknowledged another package; the transfer will be retried.",
        )
    return receipt


def custody_tokens(lines: Sequence[bytes]) -> str:
    """A custody chain as stored by a receiving node: one compact JWS per line."""
    return "\n".join(line.decode("ascii") for line in lines)
