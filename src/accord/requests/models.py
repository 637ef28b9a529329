"""The common envelope of every cooperation request (convention-procedures.md §3.0) and the
pieces request records share.

Records are frozen and refuse unknown fields: a request is a legal act, and a field Accord does
not understand is one it cannot check. Rules that tie one field to another ("required when …")
are written once, as ``rules(data)`` over plain mappings, so the same code checks a model being
built and a raw file whose fields are still broken (``validate.py`` reports both at once).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, AwareDatetime, Field, model_validator
from pydantic_core import PydanticCustomError

from accord.errors import FieldError
from accord.fields import Country, Language, ParticipantId, Strict, Text, matching, not_blank

Data = Mapping[str, Any]
MAX_ITEMS = 1000


class RequestType(StrEnum):
    """The request and communication types of §3, each under its Convention article."""

    PRESERVATION = "preservation"  # UNCC Art. 42
    TRAFFIC_DISCLOSURE = "traffic_disclosure"  # UNCC Art. 43
    MLA = "mla"  # UNCC Art. 40
    MLA_STORED_DATA = "mla_stored_data"  # UNCC Art. 44
    MLA_REAL_TIME_TRAFFIC = "mla_real_time_traffic"  # UNCC Art. 45
    MLA_INTERCEPTION = "mla_interception"  # UNCC Art. 46
    SPONTANEOUS_INFORMATION = "spontaneous_information"  # UNCC Art. 40(4)-(5)
    LAW_ENFORCEMENT_EXCHANGE = "law_enforcement_exchange"  # UNCC Art. 47
    JOINT_INVESTIGATION = "joint_investigation"  # UNCC Art. 48
    EXTRADITION = "extradition"  # UNCC Art. 37
    TRANSFER_OF_SENTENCED_PERSONS = "transfer_of_sentenced_persons"  # UNCC Art. 38


# The Convention article of each type, and the UNCC-n legal bases a request of that type may cite.
ARTICLE_NUMBERS: dict[RequestType, tuple[int, ...]] = {
    RequestType.PRESERVATION: (42,),
    RequestType.TRAFFIC_DISCLOSURE: (43,),
    RequestType.MLA: (40,),
    RequestType.MLA_STORED_DATA: (44, 40),
    RequestType.MLA_REAL_TIME_TRAFFIC: (45, 40),
    RequestType.MLA_INTERCEPTION: (46, 40),
    RequestType.SPONTANEOUS_INFORMATION: (40,),
    RequestType.LAW_ENFORCEMENT_EXCHANGE: (47,),
    RequestType.JOINT_INVESTIGATION: (48,),
    RequestType.EXTRADITION: (37,),
    RequestType.TRANSFER_OF_SENTENCED_PERSONS: (38,),
}


def article_of(kind: RequestType) -> str:
    return f"Art. {ARTICLE_NUMBERS[kind][0]}"


class Channel(StrEnum):
    """§3.0; UNTOC 18(13): CA to CA, diplomatic if required, INTERPOL in urgent cases."""

    CA = "CA"
    POC_24X7 = "24x7"
    DIPLOMATIC = "diplomatic"
    INTERPOL = "INTERPOL"
    DIRECT_JUDICIAL = "direct-judicial"


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    EMERGENCY = "emergency"  # UNCC Art. 2: significant and imminent risk to life or safety


class DataCategory(StrEnum):
    SUBSCRIBER = "subscriber"
    TRAFFIC = "traffic"
    CONTENT = "content"


# Field types -------------------------------------------------------------------------------


LongText = Annotated[str, Field(max_length=20_000), AfterValidator(not_blank)]
Id = Annotated[
    str,
    Field(max_length=128),
    matching(re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"), "format", "must be an identifier"),
]
LegalBasis = Annotated[
    str,
    matching(
        re.compile(r"^(?:(?:UNCC|BC|UNTOC|SAP)-[0-9]{1,2}|treaty:\S.{0,198}|reciprocity)$"),
        "format",
        "must be UNCC-n, BC-n, UNTOC-n, SAP-n, treaty:NAME or reciprocity",
    ),
]
Items = Field(max_length=MAX_ITEMS)
SomeItems = Field(min_length=1, max_length=MAX_ITEMS)


class Period(Strict):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise PydanticCustomError("period_order", "end must be after start")
        return self


class Authority(Strict):
    """UNTOC 18(15)(a): identity of the authority; the T-CY template adds contact and time zone."""

    name: Text
    function: Text
    contact: Text
    timezone: Text


class Confidentiality(Strict):
    request_fact_and_substance: bool = False  # UNTOC 18(20); BC 27(8)
    no_user_notification: bool = False  # UNCC Art. 42


class OralOrigin(Strict):
    """UNTOC 18(14): an urgent request made orally, to be confirmed in writing forthwith."""

    date: AwareDatetime
    confirmed_in_writing_at: AwareDatetime | None = None


class Authenticity(Strict):
    """§6: signature or seal, so the requested State can check the request is genuine."""

    method: Literal["jws", "signature", "seal"]
    reference: Text


class Person(Strict):
    identity: Text
    location: Text | None = None
    nationality: Country | None = None


class PersonSought(Strict):
    identity: Text
    nationality: Country
    location: Text


# Rules over mappings -----------------------------------------------------------------------


def problem(field: str, rule: str, text: str, article: str) -> FieldError:
    """A broken rule, with the article in the message as users read it."""
    return FieldError(field=field, rule=rule, message=f"{text} ({article})", article=article)


def given(data: Data, key: str) -> bool:
    return data.get(key) not in (None, "", (), [])


def items(data: Data, key: str) -> tuple[Any, ...]:
    """A list field of a mapping that may not have been validated yet (else empty)."""
    value = data.get(key)
    return tuple(value) if isinstance(value, list | tuple) else ()


def get_path(data: Data, path: str) -> Any:
    value: Any = data
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def require_when(
    data: Data, field: str, condition: bool, why: str, article: str
) -> list[FieldError]:
    if condition and not given(data, field):
        return [problem(field, "conditional_required", f"{field} is required {why}", article)]
    return []


def linked(data: Data, field: str, article: str) -> list[FieldError]:
    """§3.0: related_ids carries every link (preservation → MLA → disclosure)."""
    value = data.get(field)
    related = data.get("related_ids")
    if value and isinstance(related, list | tuple) and value not in related:
        return [
            problem(field, "not_linked", f"{field} must also be listed in related_ids", article)
        ]
    return []


def _envelope_rules(data: Data, kind: RequestType) -> list[FieldError]:
    article = article_of(kind)
    errors: list[FieldError] = []
    if given(data, "requesting_state") and data.get("requesting_state") == data.get(
        "requested_state"
    ):
        errors.append(
            problem(
                "requested_state", "distinct_states", "must differ from requesting_state", article
            )
        )
    # UNTOC 18(24): a suggested deadline counts when its reasons are given
    errors += require_when(
        data,
        "deadline_reason",
        given(data, "deadline_suggested"),
        "with deadline_suggested",
        article,
    )
    errors += require_when(
        data, "deadline_suggested", given(data, "deadline_reason"), "with deadline_reason", article
    )
    oral = data.get("oral_origin")
    # UNTOC 18(14): oral requests only in urgent cases
    if isinstance(oral, Mapping) and data.get("urgency", Urgency.NORMAL) == Urgency.NORMAL:
        errors.append(
            problem("urgency", "oral_requires_urgency", "an oral request must be urgent", "Art. 40")
        )
    said, confirmed = (
        get_path(data, "oral_origin.date"),
        get_path(data, "oral_origin.confirmed_in_writing_at"),
    )
    if isinstance(said, datetime) and isinstance(confirmed, datetime) and confirmed < said:
        errors.append(
            problem(
                "oral_origin.confirmed_in_writing_at",
                "before_oral_request",
                "written confirmation cannot precede the oral request",
                "Art. 40",
            )
        )
    basis = data.get("legal_basis")
    if isinstance(basis, str) and basis.startswith("UNCC-"):
        allowed = ARTICLE_NUMBERS[kind]
        if basis.removeprefix("UNCC-") not in {str(number) for number in allowed}:
            cited = " or ".join(f"UNCC-{number}" for number in allowed)
            errors.append(
                problem(
                    "legal_basis", "legal_basis_article", f"a {kind} request cites {cited}", article
                )
            )
    return errors


class Envelope(Strict):
    """§3.0: the fields every request and communication carries."""

    REQUEST_TYPE: ClassVar[RequestType]

    message_id: Id
    case_ref: Text
    related_ids: tuple[Id, ...] = Field(max_length=MAX_ITEMS)  # required, may be empty
    type: RequestType
    legal_basis: LegalBasis
    requesting_state: Country
    requested_state: Country
    sending_authority: Authority
    receiving_authority: ParticipantId
    channel: Channel
    urgency: Urgency = Urgency.NORMAL
    language: Language
    confidentiality: Confidentiality | None = None
    deadline_suggested: AwareDatetime | None = None
    deadline_reason: Text | None = None
    authenticity: Authenticity
    oral_origin: OralOrigin | None = None

    @classmethod
    def article(cls) -> str:
        return article_of(cls.REQUEST_TYPE)

    @classmethod
    def rules(cls, data: Data) -> list[FieldError]:
        """Rules that tie fields together; subclasses add theirs to these."""
        return _envelope_rules(data, cls.REQUEST_TYPE)

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        if self.type != self.REQUEST_TYPE:
            raise PydanticCustomError("type_mismatch", "does not match the record's type")
        errors = self.rules(self.model_dump())
        if errors:
            summary = "; ".join(error.message for error in errors)
            raise PydanticCustomError(
                "accord_rules", "{summary}", {"summary": summary, "errors": errors}
            )
        return self

    @property
    def confidential(self) -> bool:
        """The requester asked for the fact and substance of the request to stay confidential."""
        return self.confidentiality is not None and self.confidentiality.request_fact_and_substance
