"""What a sealed evidence package says about itself: the manifest and the custody records.

Both are signed as canonical JSON (:func:`accord.jose.dump`) and carried as-is; these models are
their validated, typed reading. Unknown fields are refused: a manifest is a legal exhibit, and a
field Accord does not understand is a field it cannot vouch for.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from accord.clock import from_rfc3339, to_rfc3339

MANIFEST_TYPE = "accord-evidence-manifest/v1"
CUSTODY_TYPE = "accord-custody/v1"
ENCRYPTION = "age-v1"  # https://age-encryption.org/v1, X25519 recipients (ADR 0007)
CHUNK_BYTES = 4 * 1024 * 1024
HEX64 = r"^[0-9a-f]{64}$"
PACKAGE_ID = r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$"  # also a folder name on a receiving node
MAX_FILES = 100_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp")  # noqa: TRY004 - pydantic wants ValueError
    return from_rfc3339(value)


def timestamp_field(name: str) -> Any:
    """A validator reading ``name`` from an RFC 3339 string (as signed) or a datetime."""
    return field_validator(name, mode="before")(_timestamp)


class Acquisition(Strict):
    """Who acquired the data, when, how, with which tool, from which source or provider."""

    acquired_by: str = Field(min_length=1, max_length=200)
    acquired_at: datetime
    method: str = Field(min_length=1, max_length=500)
    tool: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)

    _at = timestamp_field("acquired_at")

    def as_json(self) -> dict[str, str]:
        return self.model_dump(mode="json") | {"acquired_at": to_rfc3339(self.acquired_at)}


class SealedFile(Strict):
    """One file: its plaintext size and digest, and where its ciphertext lies in the package."""

    path: str = Field(min_length=1, max_length=4096)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=HEX64)
    blob: str = Field(pattern=r"^files/[0-9]{6}\.age$")
    ciphertext_size: int = Field(ge=0)
    chunks: tuple[str, ...]  # SHA-256 of each CHUNK_BYTES slice of the ciphertext, in order

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or "\\" in value or "\x00" in value:
            raise ValueError("must be a relative path inside the package, without '..'")
        return value

    @field_validator("chunks")
    @classmethod
    def _hex(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(len(h) != 64 or h.strip("0123456789abcdef") for h in value):
            raise ValueError("chunk digests must be 64 lowercase hex characters")
        return value

    @model_validator(mode="after")
    def _chunk_count(self) -> SealedFile:
        if len(self.chunks) != max(1, -(-self.ciphertext_size // CHUNK_BYTES)):
            raise ValueError(f"{len(self.chunks)} chunk digests for {self.ciphertext_size} bytes")
        return self


class Manifest(Strict):
    """The signed description of a package (what the sealing node vouches for)."""

    type: str = Field(pattern=f"^{MANIFEST_TYPE}$")
    package_id: str = Field(pattern=PACKAGE_ID)
    case: str = Field(min_length=1, max_length=200)
    sealed_by: str
    sealed_at: datetime
    recipients: tuple[str, ...] = Field(min_length=1)
    acquisition: Acquisition
    use_limitations: tuple[str, ...] = ()
    request_id: str | None = Field(default=None, min_length=1, max_length=128)  # UNCC Art. 36
    encryption: str = Field(pattern=f"^{ENCRYPTION}$")
    chunk_bytes: int = Field(ge=CHUNK_BYTES, le=CHUNK_BYTES)
    files: tuple[SealedFile, ...] = Field(max_length=MAX_FILES)

    _at = timestamp_field("sealed_at")

    @model_validator(mode="after")
    def _unique(self) -> Manifest:
        for what, values in (
            ("file paths", [f.path for f in self.files]),
            ("blobs", [f.blob for f in self.files]),
            ("recipients", list(self.recipients)),
        ):
            if len(set(values)) != len(values):
                raise ValueError(f"{what} must be unique")
        return self

    def as_json(self) -> dict[str, Any]:
        """As signed; ``request_id`` only when there is one (older manifests keep their bytes)."""
        return self.model_dump(mode="json", exclude_none=True) | {
            "sealed_at": to_rfc3339(self.sealed_at),
            "acquisition": self.acquisition.as_json(),
        }


class Event(StrEnum):
    """Custody events, in the order a package usually meets them."""

    ACQUIRED = "acquired"
    SEALED = "sealed"
    SENT = "sent"
    RECEIVED = "received"
    VERIFIED = "verified"
    OPENED = "opened"
    EXTRACTED = "extracted"
    EXPORTED = "exported"
    DISPOSED = "disposed"


class CustodyRecord(Strict):
    """One link of the chain of custody; ``prev`` is the SHA-256 of the previous signed record
    (of the signed manifest for the first one)."""

    type: str = Field(pattern=f"^{CUSTODY_TYPE}$")
    package_id: str
    seq: int = Field(ge=0)
    event: Event
    actor: str
    at: datetime
    prev: str = Field(pattern=HEX64)
    details: dict[str, str] = Field(default_factory=dict)

    _at = timestamp_field("at")

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json") | {"at": to_rfc3339(self.at)}
