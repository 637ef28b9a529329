"""Records of the federation: participants, groups, stewards and the directory document."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from accord.identity.areas import AreaOfInterest
from accord.identity.registry import Registry
from accord.jose import ed25519_from_jwk, p256_from_jwk, x25519_from_jwk
from accord.names import COUNTRY, LANGUAGE, SLUG


def _slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError(
            "must be a lowercase slug: letters a-z, digits and inner hyphens, 1 to 64 characters"
        )
    return value


Slug = Annotated[str, AfterValidator(_slug)]


class Role(StrEnum):
    CENTRAL_AUTHORITY = "central-authority"
    POC_24X7 = "24x7-poc"
    CERT = "cert"
    EARLY_WARNING = "early-warning"
    LAW_ENFORCEMENT = "law-enforcement"


class RetiredKeys(BaseModel):
    """Keys a participant used until ``until``, its rotation time (ADR 0018). ``keys`` maps
    the participant's key fields (``signing_key``, ``encryption_key``, any later one) to the
    public JWK each held; a field not named was not rotated then."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: dict[str, dict[str, str]] = Field(min_length=1)
    until: datetime
    compromised: bool = False  # nothing signed with these keys counts unless anchored


class Participant(BaseModel):
    """A node of the federation as the directory knows it (protocol v1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Slug
    name: str = Field(min_length=1, max_length=200)
    country: str
    roles: tuple[Role, ...] = Field(min_length=1)
    languages: tuple[str, ...] = Field(min_length=1)
    url: str = Field(max_length=500)
    signing_key: dict[str, str]
    encryption_key: dict[str, str]
    # Optional, so that cards and directories without them keep their bytes (ADR 0013): the
    # ECDSA P-256 key that signs this participant's CAP alerts (XML-DSig, CAP 1.2 §3.3.2.1),
    # and the areas an early-warning participant wants alerts about
    alert_key: dict[str, str] | None = None
    areas: tuple[AreaOfInterest, ...] = Field(default=(), max_length=100)
    # ADR 0018: earlier keys, oldest first; omitted from the JSON when there are none, so
    # that cards and directories without a rotation keep their bytes
    retired_keys: tuple[RetiredKeys, ...] = ()

    def key_fields(self) -> tuple[str, ...]:
        """The names of this participant's public keys (every field ending in ``_key``)."""
        return tuple(
            name for name in type(self).model_fields
            if name.endswith("_key") and isinstance(getattr(self, name), dict)
        )  # fmt: skip

    def key_at(self, field: str, moment: datetime) -> tuple[dict[str, str], RetiredKeys | None]:
        """The JWK of key ``field`` in force at ``moment``, and the retired entry it comes
        from (None for the current key): keys in force before each rotation time."""
        for retired in self.retired_keys:
            if moment < retired.until and field in retired.keys:
                return retired.keys[field], retired
        return getattr(self, field), None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not COUNTRY.match(value):
            raise ValueError("must be an ISO 3166-1 alpha-2 code in capitals, e.g. VN")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tag in value:
            if not LANGUAGE.match(tag):
                raise ValueError(f"{tag!r} is not a BCP 47 language tag such as 'vi' or 'en'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+(?::\d+)?(?:/\S*)?$", value):
            raise ValueError("must be an http(s) base URL such as https://accord.example.org")
        return value.rstrip("/")

    @field_validator("signing_key")
    @classmethod
    def _signing_key(cls, value: dict[str, str]) -> dict[str, str]:
        ed25519_from_jwk(value)
        return value

    @field_validator("encryption_key")
    @classmethod
    def _encryption_key(cls, value: dict[str, str]) -> dict[str, str]:
        x25519_from_jwk(value)
        return value

    @field_validator("alert_key")
    @classmethod
    def _alert_key(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            p256_from_jwk(value)
        return value

    @model_validator(mode="after")
    def _key_ids(self) -> Participant:
        if self.signing_key.get("kid") != signing_kid(self.id):
            raise ValueError(f"signing_key.kid must be {signing_kid(self.id)!r}")
        if self.encryption_key.get("kid") != encryption_kid(self.id):
            raise ValueError(f"encryption_key.kid must be {encryption_kid(self.id)!r}")
        if self.alert_key is not None and self.alert_key.get("kid") != alert_kid(self.id):
            raise ValueError(f"alert_key.kid must be {alert_kid(self.id)!r}")
        _check_retired(self)
        return self

    @model_serializer(mode="wrap")
    def _without_absent_options(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A participant without the optional fields serialises as before they existed."""
        data: dict[str, Any] = handler(self)
        if self.alert_key is None:
            data.pop("alert_key", None)
        if not self.areas:
            data.pop("areas", None)
        if not self.retired_keys:  # ADR 0018
            data.pop("retired_keys", None)
        return data


def _check_retired(participant: Participant) -> None:
    """ADR 0018: rotation times in order; each retired key of the kind (kty, crv, kid) of the
    current key it preceded, and never the current key itself."""
    fields = participant.key_fields()
    times = [r.until for r in participant.retired_keys]
    if times != sorted(set(times)):
        raise ValueError("retired_keys: rotation times must increase, each once")
    for number, retired in enumerate(participant.retired_keys):
        for name, jwk in retired.keys.items():
            where = f"retired_keys[{number}].keys.{name}"
            if name not in fields:
                raise ValueError(f"{where}: {participant.id} has no key {name!r}")
            current = getattr(participant, name)
            if any(jwk.get(k) != current.get(k) for k in ("kty", "crv", "kid", "use")):
                raise ValueError(f"{where}: not a key of the kind of the current {name}")
            if jwk.get("x") == current.get("x") or "d" in jwk:
                raise ValueError(f"{where}: a retired key must be public and not the current one")


def signing_kid(participant_id: str) -> str:
    return f"{participant_id}#sig"


def encryption_kid(participant_id: str) -> str:
    return f"{participant_id}#enc"


def alert_kid(participant_id: str) -> str:
    return f"{participant_id}#alert"


class Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = Field(default="", max_length=500)
    members: tuple[Slug, ...] = Field(min_length=1)


class StewardSet(BaseModel):
    """The keys allowed to sign a directory and how many of them must (TUF-style threshold)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: tuple[dict[str, str], ...] = Field(min_length=1)
    threshold: int = Field(ge=1)

    @model_validator(mode="after")
    def _check(self) -> StewardSet:
        kids = [key.get("kid", "") for key in self.keys]
        for key in self.keys:
            ed25519_from_jwk(key)
        if any(not kid for kid in kids) or len(set(kids)) != len(kids):
            raise ValueError("every steward key needs a distinct 'kid'")
        if self.threshold > len(self.keys):
            raise ValueError(
                f"threshold {self.threshold} exceeds the {len(self.keys)} steward keys"
            )
        return self

    def key(self, kid: str) -> dict[str, str] | None:
        return next((key for key in self.keys if key.get("kid") == kid), None)


class DirectoryDocument(BaseModel):
    """The directory payload that stewards sign."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(default="accord-directory", pattern=r"^accord-directory$")
    federation: Slug
    version: int = Field(ge=1)
    issued_at: datetime
    expires_at: datetime
    stewards: StewardSet
    participants: tuple[Participant, ...] = ()
    groups: dict[Slug, Group] = Field(default_factory=dict)
    # The States Parties registry (UNCC Art. 65; ADR 0009): signed with the participants it
    # names, so a node never holds a registry the stewards did not vouch for
    states_parties: Registry | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DirectoryDocument:
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        ids = [p.id for p in self.participants]
        if len(set(ids)) != len(ids):
            raise ValueError("participant ids must be unique")
        clash = set(ids) & set(self.groups)
        if clash:
            raise ValueError(f"names used both for a participant and a group: {sorted(clash)}")
        for name, group in self.groups.items():
            unknown = [m for m in group.members if m not in self.groups and m not in set(ids)]
            if unknown:
                raise ValueError(f"group {name!r} names unknown members {unknown}")
        _check_acyclic(self.groups)
        return self

    def json_payload(self) -> dict[str, Any]:
        payload = self.model_dump(mode="json")
        if self.states_parties is None:  # directories without one keep their earlier bytes
            del payload["states_parties"]
        return payload


def _check_acyclic(groups: dict[str, Group]) -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValueError(f"groups form a cycle: {' -> '.join((*path, name))}")
        if name in done:
            return
        for member in groups[name].members:
            if member in groups:
                visit(member, (*path, name))
        done.add(name)

    for name in groups:
        visit(name, ())
