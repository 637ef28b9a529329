"""Who may hold a marked object, and which hops may carry it (TLP 2.0, Art. 47 handling codes;
ADR 0014). Pure: markings, the originator's signed grant, the directory in; a verified grant or
SharingRefused out.

- CLEAR: anyone. GREEN: the federation's community (every participant of the directory).
- AMBER: the participants the originator addressed, and those each must inform: the
  authorities of its own State (TLP 2.0: "its clients on a need-to-know basis").
- AMBER+STRICT: the addressed participants only, each within its own organisation.
- RED: the participants the originator named one by one (not through a group).
- No TLP marking, or a marking this node cannot read: nobody but the originator.
- ``no_onward_transfer`` (UNCC Art. 36(3), Art. 47): as AMBER+STRICT.

Only the originator passes on RED, AMBER+STRICT, no-onward, unmarked or unreadable objects;
anybody who may hold an AMBER, GREEN or CLEAR object may pass it to another who may.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from accord.clock import from_rfc3339, to_rfc3339
from accord.errors import AccordError, GrantInvalid, SharingRefused
from accord.identity.directory import Directory
from accord.identity.models import signing_kid
from accord.intel.markings import Marking, Tlp, participant_identity
from accord.intel.stix import StixObject
from accord.jose import SIG_ALG, b64url_decode, dump, json_object, okp
from accord.requests.records import HandlingCode

GRANT_TYP = "accord-intel-grant+jws"
MAX_GRANT_BYTES = 8 * 1024 * 1024
TLP_RULE = "TLP 2.0 (FIRST)"
STRICT_LEVELS = frozenset({Tlp.AMBER_STRICT, Tlp.RED})


@dataclass(frozen=True)
class Audience:
    """Whom the originator gave an object to."""

    origin: str
    addressed: frozenset[str]  # every participant reached, groups expanded
    named: frozenset[str]  # those addressed by their own id: TLP:RED reaches only these


def audience_of(origin: str, to: Sequence[str], directory: Directory) -> Audience:
    """The audience of addresses ``to`` (participants or groups) as the directory has them.
    An address the directory does not know raises; an empty list is an empty audience."""
    addressed = frozenset(p.id for address in to for p in directory.resolve(address))
    named = frozenset(a for a in to if a in {p.id for p in directory.document.participants})
    return Audience(origin, addressed, named)


def _restricted(marking: Marking) -> bool:
    """Only the originator may pass it on."""
    return (
        marking.tlp is None
        or marking.tlp in STRICT_LEVELS
        or bool(marking.unknown)
        or HandlingCode.NO_ONWARD_TRANSFER in marking.handling
    )


def reason_to_hold(
    marking: Marking, audience: Audience, participant: str, directory: Directory
) -> tuple[bool, str]:
    """Whether ``participant`` may hold the object, and why (``accord intel preview``)."""
    if participant == audience.origin:
        return True, "the originator"
    if marking.unknown:
        return False, f"a marking this node cannot read ({', '.join(sorted(marking.unknown))})"
    if marking.tlp is None:
        return False, "no TLP marking: only the originator holds it"
    if marking.tlp is Tlp.RED:
        named = participant in audience.named
        return named, "named by the originator (TLP:RED)" if named else (
            "TLP:RED reaches only the participants the originator named"
        )
    if participant in audience.addressed:
        return True, "addressed by the originator"
    return _beyond_addressed(marking, audience, participant, directory)


def _beyond_addressed(
    marking: Marking, audience: Audience, participant: str, directory: Directory
) -> tuple[bool, str]:
    """CLEAR, GREEN and AMBER reach further than the addressed participants."""
    level = marking.tlp
    if HandlingCode.NO_ONWARD_TRANSFER in marking.handling:
        return False, "no_onward_transfer (UNCC Art. 36(3)): only the addressed participants"
    member = participant in {p.id for p in directory.document.participants}
    if level is Tlp.AMBER_STRICT:
        return False, "TLP:AMBER+STRICT: only the addressed participants"
    if level is Tlp.AMBER:
        countries = _countries(directory, audience.addressed | {audience.origin})
        client = member and _country(directory, participant) in countries
        return client, (
            "an authority of an addressed participant's State (TLP:AMBER clients)"
            if client
            else "TLP:AMBER reaches the addressed and their own States' authorities"
        )
    if level is Tlp.GREEN:
        return member, (
            "the federation's community (TLP:GREEN)"
            if member
            else "TLP:GREEN stays within the federation's community"
        )
    return True, "TLP:CLEAR"


def check_may_hold(
    marking: Marking, audience: Audience, participant: str, directory: Directory, what: str
) -> None:
    allowed, reason = reason_to_hold(marking, audience, participant, directory)
    if not allowed:
        raise SharingRefused(
            f"{participant} may not hold {what} ({marking.label}): {reason}",
            advice="Share it only with those its markings allow; `accord intel preview` "
            "shows who they are.",
        )


def check_hop(
    marking: Marking,
    audience: Audience,
    *,
    sender: str,
    recipient: str,
    directory: Directory,
    what: str,
) -> None:
    """Raise SharingRefused unless ``sender`` may pass ``what`` to ``recipient``."""
    check_may_hold(marking, audience, sender, directory, what)
    if sender != audience.origin and _restricted(marking):
        raise SharingRefused(
            f"{sender} may not pass on {what} ({marking.label}): only its originator "
            f"{audience.origin} may share it further",
            advice=f"Ask {audience.origin} to share it with {recipient}.",
        )
    check_may_hold(marking, audience, recipient, directory, what)


def preview(
    marking: Marking, audience: Audience, directory: Directory
) -> list[tuple[str, bool, str]]:
    """Every participant of the directory: whether it may hold the object, and why."""
    return [
        (p.id, *reason_to_hold(marking, audience, p.id, directory))
        for p in directory.document.participants
    ]


def _countries(directory: Directory, ids: Iterable[str]) -> set[str]:
    wanted = set(ids)
    return {p.country for p in directory.document.participants if p.id in wanted}


def _country(directory: Directory, participant: str) -> str | None:
    return next((p.country for p in directory.document.participants if p.id == participant), None)


# Origin --------------------------------------------------------------------------------------


def check_origin(obj: StixObject, origin: str, directory: Directory) -> None:
    """An object whose ``created_by_ref`` is another participant's identity is that
    participant's: nobody else may grant it (and so set or strip its markings)."""
    creator = _identities(directory).get(str(obj.value.get("created_by_ref")))
    if creator is not None and creator != origin:
        raise SharingRefused(
            f"{obj.id} was created by {creator}; {origin} cannot grant it",
            advice=f"Only {creator} decides who receives its objects.",
        )


_IDENTITIES: dict[str, dict[str, str]] = {}


def _identities(directory: Directory) -> dict[str, str]:
    """Each participant's STIX identity id -> the participant, once per directory."""
    found = _IDENTITIES.get(directory.sha256)
    if found is None:
        _IDENTITIES.clear()
        found = _IDENTITIES[directory.sha256] = {
            participant_identity(p.id): p.id for p in directory.document.participants
        }
    return found


# Grants --------------------------------------------------------------------------------------


def object_key(obj: StixObject) -> str:
    return f"{obj.id}|{obj.version}"


@dataclass(frozen=True)
class Grant:
    """The originator's signed statement: these exact objects, to this audience."""

    audience: Audience
    to: tuple[str, ...]
    objects: Mapping[str, str]  # "id|version" -> SHA-256 of the object's exact bytes
    issued_at: datetime
    token: str

    @cached_property
    def sha256(self) -> str:  # a grant names up to a page of objects: hash it once
        return hashlib.sha256(self.token.encode()).hexdigest()

    def check_object(self, obj: StixObject) -> None:
        """Raise GrantInvalid unless ``obj`` is, byte for byte, an object of this grant."""
        expected = self.objects.get(object_key(obj))
        if expected is None:
            raise GrantInvalid(
                f"{obj.id} (version {obj.version or 'none'}) is not in {self.audience.origin}'s "
                "grant",
                advice="Objects travel with the originator's grant that names them.",
            )
        if hashlib.sha256(obj.raw).hexdigest() != expected:
            raise GrantInvalid(
                f"{obj.id} was modified in transit: its bytes are not those "
                f"{self.audience.origin} granted",
                advice="Pass objects on exactly as received; nothing was stored.",
            )


def make_grant(
    *,
    origin: str,
    key: Ed25519PrivateKey,
    to: Sequence[str],
    objects: Sequence[StixObject],
    directory: Directory,
    now: datetime,
) -> Grant:
    audience = audience_of(origin, to, directory)
    claims = {
        "origin": origin,
        "to": list(to),
        "addressed": sorted(audience.addressed),
        "named": sorted(audience.named),
        "objects": {object_key(o): hashlib.sha256(o.raw).hexdigest() for o in objects},
        "iat": to_rfc3339(now),
    }
    header = {"alg": SIG_ALG, "kid": signing_kid(origin), "typ": GRANT_TYP}
    token = jws.serialize_compact(header, dump(claims), okp(key), registry=_registry())
    return verify_grant(token, directory)


def verify_grant(token: str, directory: Directory) -> Grant:
    """The grant, its signature checked against the originator's directory key."""
    if not isinstance(token, str) or len(token) > MAX_GRANT_BYTES or token.count(".") != 2:
        raise GrantInvalid("a share grant must be a compact JWS", advice=_GRANT_ADVICE)
    try:
        claims = json_object(b64url_decode(token.split(".")[1]), "grant")
        origin = str(claims.get("origin"))
        key = okp(directory.signing_key(origin))
        verified = jws.deserialize_compact(token, key, registry=_registry())
    except (JoseError, ValueError, AccordError) as exc:
        raise GrantInvalid(
            "the share grant is not signed by a participant of the directory",
            advice=_GRANT_ADVICE,
        ) from exc
    header = verified.headers()
    if header.get("typ") != GRANT_TYP or header.get("kid") != signing_kid(origin):
        raise GrantInvalid("the share grant has the wrong typ or kid", advice=_GRANT_ADVICE)
    try:
        objects = {str(k): str(v) for k, v in dict(claims["objects"]).items()}
        audience = Audience(
            origin, frozenset(map(str, claims["addressed"])), frozenset(map(str, claims["named"]))
        )
        return Grant(
            audience,
            tuple(map(str, claims["to"])),
            objects,
            from_rfc3339(str(claims["iat"])),
            token,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GrantInvalid(f"the share grant is malformed: {exc}", advice=_GRANT_ADVICE) from exc


def _registry() -> JWSRegistry:
    """A grant names up to a page of objects: larger than joserfc's default payload limit."""
    registry = JWSRegistry(algorithms=[SIG_ALG])
    registry.max_payload_length = MAX_GRANT_BYTES
    return registry


_GRANT_ADVICE = "Only the originator's own node issues grants; pass them on unchanged."
