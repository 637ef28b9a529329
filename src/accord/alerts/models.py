"""The CAP 1.2 message as records: every element of ``alert``, ``info``, ``resource`` and
``area`` (CAP 1.2 §3.2.1-§3.2.4), in the XSD's order.

Records are built only from a document that passed the XSD and the rules of ``rules.py``
(``cap.read``), or composed and then checked the same way; texts are kept as written so that
XML -> record -> XML gives the same elements back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

NS = "urn:oasis:names:tc:emergency:cap:1.2"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
DEFAULT_LANGUAGE = "en-US"  # CAP 1.2 §3.2.2 language: the default when it is absent


class Status(StrEnum):
    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class MsgType(StrEnum):
    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


class Scope(StrEnum):
    PUBLIC = "Public"
    RESTRICTED = "Restricted"
    PRIVATE = "Private"


class Category(StrEnum):
    GEO = "Geo"
    MET = "Met"
    SAFETY = "Safety"
    SECURITY = "Security"
    RESCUE = "Rescue"
    FIRE = "Fire"
    HEALTH = "Health"
    ENV = "Env"
    TRANSPORT = "Transport"
    INFRA = "Infra"
    CBRNE = "CBRNE"
    OTHER = "Other"


class ResponseType(StrEnum):
    SHELTER = "Shelter"
    EVACUATE = "Evacuate"
    PREPARE = "Prepare"
    EXECUTE = "Execute"
    AVOID = "Avoid"
    MONITOR = "Monitor"
    ASSESS = "Assess"
    ALL_CLEAR = "AllClear"
    NONE = "None"


class Urgency(StrEnum):
    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Severity(StrEnum):
    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Certainty(StrEnum):
    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class ValuePair:
    """``eventCode``, ``parameter`` and ``geocode``: a ``valueName`` and a ``value``."""

    value_name: str
    value: str


@dataclass(frozen=True)
class Resource:
    resource_desc: str
    mime_type: str
    size: int | None = None
    uri: str | None = None
    deref_uri: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class Area:
    area_desc: str
    polygons: tuple[str, ...] = ()
    circles: tuple[str, ...] = ()
    geocodes: tuple[ValuePair, ...] = ()
    altitude: Decimal | None = None
    ceiling: Decimal | None = None


@dataclass(frozen=True)
class Info:
    categories: tuple[Category, ...]
    event: str
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    language: str | None = None  # None: absent (CAP reads it as en-US)
    response_types: tuple[ResponseType, ...] = ()
    audience: str | None = None
    event_codes: tuple[ValuePair, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[ValuePair, ...] = ()
    resources: tuple[Resource, ...] = ()
    areas: tuple[Area, ...] = ()

    @property
    def lang(self) -> str:
        return self.language or DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Reference:
    """One ``sender,identifier,sent`` triple of ``references`` (CAP 1.2 §3.2.1)."""

    sender: str
    identifier: str
    sent: datetime

    def text(self) -> str:
        return f"{self.sender},{self.identifier},{cap_time(self.sent)}"

    @property
    def key(self) -> tuple[str, str]:
        return self.sender, self.identifier


@dataclass(frozen=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    scope: Scope
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: str | None = None
    infos: tuple[Info, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return self.sender, self.identifier

    def reference(self) -> Reference:
        """How a later message names this one."""
        return Reference(self.sender, self.identifier, self.sent)

    @property
    def expires(self) -> datetime | None:
        """The latest ``expires`` of its info blocks; None when one of them has none."""
        times = [info.expires for info in self.infos]
        if not times or any(t is None for t in times):
            return None
        return max(t for t in times if t is not None)

    def headline(self) -> str:
        first = self.infos[0] if self.infos else None
        if first is None:
            return f"{self.msg_type} {self.identifier}"
        return first.headline or first.event

    def for_languages(self, accepted: tuple[str, ...]) -> tuple[Info, ...]:
        """The info blocks in the reader's accepted languages first (CAP 1.2 §3.2.2 language:
        one block per language), then the others in document order."""

        def rank(info: Info) -> int:
            for position, wanted in enumerate(accepted):
                if _language_matches(info.lang, wanted):
                    return position
            return len(accepted)

        return tuple(sorted(self.infos, key=rank))


def _language_matches(tag: str, wanted: str) -> bool:
    """RFC 4647 §3.3.1 basic filtering: ``en`` accepts ``en-US``; case does not matter."""
    tag, wanted = tag.lower(), wanted.lower()
    return tag == wanted or tag.startswith(wanted + "-")


def cap_time(moment: datetime) -> str:
    """A CAP 1.2 date-time: seconds, a numeric offset, UTC as ``-00:00`` (§3.2.1 sent)."""
    if moment.tzinfo is None:
        raise ValueError("CAP times need a time zone offset")
    text = moment.replace(microsecond=0).isoformat()
    offset = moment.utcoffset()
    if offset == timedelta(0):  # CAP 1.2 §3.2.1: "the timezone for UTC MUST be -00:00"
        return text[:19] + "-00:00"
    return text


def parse_cap_time(text: str) -> datetime:
    """Read a CAP date-time whose syntax the XSD already checked."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone offset")
    return parsed
