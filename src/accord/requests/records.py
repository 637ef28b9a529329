"""One typed record per request type of convention-procedures.md §3, with the fields that
section marks required (no default), optional (a default) and conditional (a rule in
``rules``). Each rule cites its article; paragraph references to UNTOC and the Budapest
Convention (BC) name the model the UN article was drafted on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from accord.errors import FieldError
from accord.fields import Country, Strict, Text
from accord.requests.models import (
    MAX_ITEMS,
    Data,
    DataCategory,
    Envelope,
    Id,
    LongText,
    Period,
    Person,
    PersonSought,
    RequestType,
    Urgency,
    given,
    items,
    linked,
    problem,
    require_when,
)


class Assistance(StrEnum):
    """UNTOC 18(3) purposes, with the UN additions of Arts 44-46 (multi-select)."""

    TAKING_EVIDENCE = "taking_evidence"
    SERVICE_OF_DOCUMENTS = "service_of_documents"
    SEARCH_SEIZURE_FREEZING = "search_seizure_freezing"
    EXAMINING_OBJECTS_AND_SITES = "examining_objects_and_sites"
    INFORMATION_AND_EXPERT_EVALUATIONS = "information_and_expert_evaluations"
    RECORDS = "records"
    TRACING_PROCEEDS = "tracing_proceeds"
    VOLUNTARY_APPEARANCE = "voluntary_appearance"
    STORED_DATA = "stored_data"
    REAL_TIME_TRAFFIC_DATA = "real_time_traffic_data"
    INTERCEPTION = "interception"
    RECOVERY_OF_PROCEEDS = "recovery_of_proceeds"
    OTHER = "other"


class Measure(StrEnum):
    """BC 31(1); UNCC Art. 44: what the requested State is asked to do with stored data."""

    SEARCH_OR_ACCESS = "search_or_access"
    SEIZE_OR_SECURE = "seize_or_secure"
    DISCLOSE = "disclose"


# UNCC Art. 42 ------------------------------------------------------------------------------


class TimeWindow(Period):
    timezone: Text


class Endpoint(Strict):
    ip: Text
    port: int | None = Field(default=None, ge=0, le=65535)


class Preservation(Envelope):
    """Expedited preservation of stored electronic data (UNCC Art. 42; BC 29(2)(a)-(f))."""

    REQUEST_TYPE: ClassVar[RequestType] = RequestType.PRESERVATION
    type: Literal[RequestType.PRESERVATION]

    seeking_authority: Text  # BC 29(2)(a)
    offence: Text  # BC 29(2)(b)
    facts_summary: LongText  # BC 29(2)(b)
    data_description: LongText  # BC 29(2)(c)
    relationship_to_offence: LongText  # BC 29(2)(c)
    custodian_or_location: Text  # BC 29(2)(d), may be "unknown"
    necessity: LongText  # BC 29(2)(e)
    intent_to_follow_with_mla: Literal[True]  # BC 29(2)(f): an MLA request will follow
    confidential_no_user_notice: bool  # UNCC Art. 42 (7th item)
    # Convention articles defining the offence: core offences (Arts 7-11) bar the
    # dual-criminality reservation of BC 29(4) / UNCC Art. 42 (invariant 4 of §8.4)
    offence_articles: tuple[int, ...] = Field(default=(), max_length=20)
    account_identifiers: tuple[Text, ...] = Field(default=(), max_length=MAX_ITEMS)
    time_windows: tuple[TimeWindow, ...] = Field(default=(), max_length=MAX_ITEMS)
    endpoints: tuple[Endpoint, ...] = Field(default=(), max_length=MAX_ITEMS)
    sp_name: Text | None = None
    data_categories: tuple[DataCategory, ...] = Field(default=(), max_length=3)

    @property
    def core_offence(self) -> bool:
        """UNCC Arts 7-11 (BC Arts 2-11): the offences no reservation may exclude."""
        return bool(self.offence_articles) and all(7 <= n <= 11 for n in self.offence_articles)

    @classmethod
    def rules(cls, data: Data) -> list[FieldError]:
        outside = [
            n for n in items(data, "offence_articles") if isinstance(n, int) and not 7 <= n <= 17
        ]
        wrong = (
            [
                problem(
                    "offence_articles", "not_an_offence", "offences are UNCC Arts 7-17", "Art. 42"
                )
            ]
            if outside
            else []
        )
        return super().rules(data) + wrong


# UNCC Art. 43 ------------------------------------------------------------------------------


class ProviderIdentified(Strict):
    name: Text
    state: Country


class TrafficDisclosure(Envelope):
    """Expedited disclosure of preserved traffic data (UNCC Art. 43; BC 30): sent by the
    requested State when a provider in another State took part in the transmission."""

    REQUEST_TYPE: ClassVar[RequestType] = RequestType.TRAFFIC_DISCLOSURE
    type: Literal[RequestType.TRAFFIC_DISCLOSURE]

    parent_preservation_id: Id
    communication_ref: Text
    sp_identified: ProviderIdentified
    path_hops: tuple[Text, ...] = Field(min_length=1, max_length=MAX_ITEMS)
    traffic_data_items: tuple[Text, ...] = Field(min_length=1, max_length=MAX_ITEMS)
    disclosed_at: AwareDatetime
    use_conditions: tuple[Text, ...] = Field(default=(), max_length=MAX_ITEMS)

    @classmethod
    def rules(cls, data: Data) -> list[FieldError]:
        errors = super().rules(data) + linked(data, "parent_preservation_id", "Art. 43")
        provider = data.get("sp_identified")
        if isinstance(provider, Mapping) and provider.get("state") == data.get("requested_state"):
            errors.append(
                problem(
                    "sp_identified.state",
                    "provider_in_other_state",
                    "Art. 43 disclosure names a provider in another State than the requested one",
                    "Art. 43",
                )
            )
        return errors


# UNCC Art. 40 ------------------------------------------------------------------------------


class Proceeding(Strict):
    """UNTOC 18(15)(b): subject matter and nature of the investigation, prosecution or
    proceeding, and the authority conducting it."""

    subject_matter: Text
    nature: Text
    conducting_authority_name: Text
    conducting_authority_function: Text


class Mla(Envelope):
    """Mutual legal assistance, general (UNCC Art. 40; UNTOC 18(15))."""

    REQUEST_TYPE: ClassVar[RequestType] = RequestType.MLA
    type: Literal[RequestType.MLA]

    requesting_authority: Text  # UNTOC 18(15)(a)
    proceeding: Proceeding  # UNTOC 18(15)(b)
    facts_summary: LongText | None = None  # UNTOC 18(15)(c), see rules
    assistance_types: tuple[Assistance, ...] = Field(min_length=1, max_length=len(Assistance))
    assistance_sought: LongText  # UNTOC 18(15)(d)
    special_procedure: LongText | None = None  # UNTOC 18(15)(d): only if one is wanted
    persons: tuple[Person, ...] = Field(default=(), max_length=MAX_ITEMS)  # 18(15)(e)
    items_or_accounts: tuple[Text, ...] = Field(default=(), max_length=MAX_ITEMS)  # UN addition
    time_period: Period | None = None  # UNCC Art. 40 addition, where applicable
    purpose: LongText  # UNTOC 18(15)(f)
    videoconference_requested: bool = False  # UNTOC 18(18)
    preferred_reply_means: Text | None = None
    prior_preservation_ref: Id | None = None
    prior_mla_ref: Id | None = None
    court_reference: Text | None = None
    related_decisions: tuple[Text, ...] = Field(default=(), max_length=MAX_ITEMS)

    @classmethod
    def rules(cls, data: Data) -> list[FieldError]:
        only_service = items(data, "assistance_types") == (Assistance.SERVICE_OF_DOCUMENTS,)
        # UNTOC 18(15)(c); §8.4 invariant 6: facts may be left out only to serve documents
        return (
            super().rules(data)
            + require_when(
                data,
                "facts_summary",
                not only_service,
                "unless the only assistance sought is service_of_documents",
                "Art. 40",
            )
            + linked(data, "prior_preservation_ref", "Art. 40")
            + linked(data, "prior_mla_ref", "Art. 40")
        )


class DataScope(Strict):
    identifiers: tuple[Text, ...] = Field(min_length=1, max_length=MAX_ITEMS)
    categories: tuple[DataCategory, ...] = Field(min_length=1, max_length=3)
    time_range: Period


class MlaStoredData(Mla):
    """MLA for accessing stored electronic data (UNCC Art. 44; BC 31): everything of Art. 40
    plus where the data is, its scope and the measures sought."""

    REQUEST_TYPE: ClassVar[RequestType] = RequestType.MLA_STORED_DATA
    type: Literal[RequestType.MLA_STORED_DATA]  # type: ignore[assignment]

    data_location_claim: Text  # stored in a system in the requested State's territory
    data_scope: DataScope
    measures: tuple[Measure, ...] = Field(min_length=1, max_length=len(Measure))
    linked_preservation_id: Id | None = None  # BC 31(1)
    data_vulnerable: bool = False  # BC 31(3)(a): expedited answer

    @classmethod
    def rules(cls, data: Data) -> list[FieldError]:
        # BC 29(7), 31(1): the follow-up of a preservation names it, so the hold continues
        return (
            super().rules(data)
            + require_when(
                data,
                "linked_preservation_id",
                given(data, "prior_preservation_ref"),
                "when the data was preserved (prior_preservation_ref)",
                "Art. 44",
            )
            + linked(data, "linked_preservation_id", "Art. 44")
        )


# UNCC Arts 45 and 46 -----------------------------------------------------------------------


class Collection(Envelope):
    """The UN content list shared by real-time collection and interception (§3.5, §3.6)."""

    requesting_authority: Text
    facts_summary: LongText  # main facts
    investigation_nature: Text
    communications_targeted: LongText  # specified communications, and their data
    relationship_to_offence: LongText
    owner_user_or_location: Text  # any available data; may be "unknown"
    justification: LongText
    collection_period: Period  # the period sought ...
    period_justification: LongText  # ... and why that length is needed


class MlaRealTimeTraffic(Collection):
    """MLA in real-time collection of traffic data (UNCC Art. 45; BC 33)."""

    REQUEST_TYPE: ClassVar[RequestType] = RequestType.MLA_REAL_TIME_TRAFFIC
    type: Literal[RequestType.MLA_REAL_TIME_TRAFFIC]


class MlaInterception(Collection):
    """MLA in interception of content data (UNCC Art. 46; BC 34)."""

    REQUEST_TYPE: ClassVar[RequestType] = RequestType.MLA_INTERCEPTION
    type: Literal[RequestType.MLA_INTERCEPTION]


# UNCC Art. 40(4)-(5) -----------------------------------------------------------------------


class InformationConditions(Strict):
    confidential: bool = False
    use_restrictions: tuple[Text, ...] = Field(default=(), max_length=MAX_ITEMS)


class SpontaneousInformation(Envelope):
    """Information sent without a prior request (UNCC Art. 40(4)-(5); UNTOC 18(4)-(5); BC 26)."""

    REQUEST_TYPE: ClassVar[RequestType] = RequestType.SPONTANEOUS_INFORMATION
    type: Literal[RequestType.SPONTANEOUS_INFORMATION]

    provider_authority: Text
    recipient_authority: Text
    information: LongText
    reason: LongText
    conditions: InformationConditions | None = None


# UNCC Art. 47 ------------------------------------------------------------------------------


class HandlingCode(StrEnum):
    """How the receiving agency may use an item (§3.8 handling_code)."""

    CONFIDENTIAL = "confidential"
    USE_LIMITED = "use_limited"  # the use_limitations text says how
    NOT_FOR_EVIDENCE = "not_for_evidence"  # not as evidence without the provider's consent
    NO_ONWARD_TRANSFER = "no_onward_transfer"  # UNCC Art. 36(3)


class SourceEvaluation(StrEnum):
    """Reliability of the source (the 4x4 scheme used by INTERPOL and Europol)."""

    A = "A"  # no doubt about authenticity, trustworthiness and competence
    B = "B"  # information from this source has mostly proved reliable
    C = "C"  # information from this source has mostly proved unreliable
    X = "X"  # reliability cannot be assessed


class InformationEvaluation(StrEnum):
    KNOWN_TRUE = "1"  # known to be true without reservation
    KNOWN_TO_SOURCE = "2"  # known personally to the source, not to the official passing it on
    CORROBORATED = "3"  # not known personally to the source, corroborated by other information
    UNVERIFIED = "4"  # cannot be assessed


class InformationItem(Strict):
    content: LongText
    source_evaluation: SourceEvaluation
    information_evaluation: InformationEvaluation


class LawEnforcementExchange(Envelope):
    """Law-enforcement information exchange (UNCC Art. 47; UNTOC 27)."""

    REQUEST_TYPE: ClassVar[RequestType] = RequestType.LAW_ENFORCEMENT_EXCHANGE
    type: Literal[RequestType.LAW_ENFORCEMENT_EXCHANGE]

    agency_from: Text
    agency_to: Text
    subject_type: Literal["person", "account", "asset", "method"]
    subject: Text
    info_items: tuple[InformationItem, ...] = Field(min_length=1, max_length=MAX_ITEMS)
    handling_codes: tuple[HandlingCode, ...] = Field(min_length=1, max_length=len(HandlingCode))
    use_limitations: LongText | None = None
    review_date: date

    @classmethod
    def rules(cls, data: Data) -> list[FieldError]:
        limited = HandlingCode.USE_LIMITED in items(data, "handling_codes")
        return super().rules(data) + require_when(
            data, "use_limitations", limited, "when handling_codes has use_limited", "Art. 47"
        )


# UNCC Art. 48 ------------------------------------------------------------------------------


class Agreement(Strict):
    kind: Literal["standing", "ad_hoc"]  # UNTOC 19: agreements, or case by case
    reference: Text


class TeamMember(Strict):
    name: Text
    state: Country
    role: Text


class JointInvestigation(Envelope):
    """Proposal of a joint investigation (UNCC Art. 48; UNTOC 19; SAP 12)."""

    REQUEST_TYPE: ClassVar[RequestType] = RequestType.JOINT_INVESTIGATION
    type: Literal[RequestType.JOINT_INVESTIGATION]

    participating_states: tuple[Country, ...] = Field(min_length=2, max_length=200)
    lead_state: Country
    territory: tuple[Country, ...] = Field(min_length=1, max_length=200)
    agreement: Agreement
    purpose: LongText
    duration: Period
    members: tuple[TeamMember, ...] = Field(default=(), max_length=MAX_ITEMS)
    evidence_sharing_rules: LongText
    use_limits: LongText
    data_protection_terms: LongText

    @classmethod
    def rules(cls, data: Data) -> list[FieldError]:
        states = items(data, "participating_states")
        if not states:
            return super().rules(data)
        outside = "must be one of participating_states"
        errors = [
            problem(field, "not_participating", f"{field} {outside}", "Art. 48")
            for field in ("lead_state", "requesting_state", "requested_state")
            if given(data, field) and data[field] not in states
        ]
        # UNTOC 19: the State where the investigation takes place takes part, sovereignty intact
        territory = items(data, "territory")
        errors += [
            problem(f"territory[{i}]", "not_participating", f"territory {outside}", "Art. 48")
            for i, state in enumerate(territory)
            if state not in states
        ]
        return super().rules(data) + errors


# UNCC Arts 37 and 38 -----------------------------------------------------------------------

MIN_PENALTY_MONTHS = 12  # UNCC Art. 37; BC 24(1)(a): at least one year in both States


class Extradition(Envelope):
    """Extradition (UNCC Art. 37; UNTOC 16; BC 24)."""

    REQUEST_TYPE: ClassVar[RequestType] = RequestType.EXTRADITION
    type: Literal[RequestType.EXTRADITION]

    person: PersonSought
    offences: tuple[Text, ...] = Field(min_length=1, max_length=MAX_ITEMS)
    max_penalty_requesting_months: int = Field(ge=0, le=12_000)
    max_penalty_requested_months: int = Field(ge=0, le=12_000)
    warrant_or_judgment_refs: tuple[Text, ...] = Field(min_length=1, max_length=MAX_ITEMS)
    provisional_arrest_requested: bool = False

    @classmethod
    def rules(cls, data: Data) -> list[FieldError]:
        errors = [
            problem(field, "below_extradition_threshold", f"{field} must be at least 12", "Art. 37")
            for field in ("max_penalty_requesting_months", "max_penalty_requested_months")
            if isinstance(data.get(field), int) and data[field] < MIN_PENALTY_MONTHS
        ]
        # UNTOC 16(9): provisional arrest in urgent cases
        if data.get("provisional_arrest_requested") is True and data.get("urgency") in (
            None,
            Urgency.NORMAL,
        ):
            errors.append(
                problem(
                    "urgency",
                    "provisional_arrest_requires_urgency",
                    "provisional arrest is requested only in urgent cases",
                    "Art. 37",
                )
            )
        return super().rules(data) + errors


class TransferOfSentencedPerson(Envelope):
    """Transfer of a sentenced person (UNCC Art. 38; UNTOC 17). The treaty sets no procedure:
    the fields are those of the agreement or arrangement it invites States to make."""

    REQUEST_TYPE: ClassVar[RequestType] = RequestType.TRANSFER_OF_SENTENCED_PERSONS
    type: Literal[RequestType.TRANSFER_OF_SENTENCED_PERSONS]

    person: PersonSought
    sentencing_state: Country
    administering_state: Country
    judgment_ref: Text
    sentence_months: int = Field(ge=1, le=12_000)
    remaining_months: int = Field(ge=0, le=12_000)
    person_consent: bool
    agreement_ref: Text

    @classmethod
    def rules(cls, data: Data) -> list[FieldError]:
        errors: list[FieldError] = []
        sentence, remaining = data.get("sentence_months"), data.get("remaining_months")
        if isinstance(sentence, int) and isinstance(remaining, int) and remaining > sentence:
            errors.append(
                problem(
                    "remaining_months", "over_sentence", "cannot exceed sentence_months", "Art. 38"
                )
            )
        ends = ("sentencing_state", "administering_state", "requesting_state", "requested_state")
        states = [data.get(field) for field in ends]
        if all(given(data, field) for field in ends) and set(states[:2]) != set(states[2:]):
            errors.append(
                problem(
                    "administering_state",
                    "states_mismatch",
                    "sentencing and administering States are the two States of the request",
                    "Art. 38",
                )
            )
        return super().rules(data) + errors


Request = (
    Preservation
    | TrafficDisclosure
    | Mla
    | MlaStoredData
    | MlaRealTimeTraffic
    | MlaInterception
    | SpontaneousInformation
    | LawEnforcementExchange
    | JointInvestigation
    | Extradition
    | TransferOfSentencedPerson
)

MODELS: dict[RequestType, type[Envelope]] = {
    model.REQUEST_TYPE: model
    for model in (
        Preservation,
        TrafficDisclosure,
        Mla,
        MlaStoredData,
        MlaRealTimeTraffic,
        MlaInterception,
        SpontaneousInformation,
        LawEnforcementExchange,
        JointInvestigation,
        Extradition,
        TransferOfSentencedPerson,
    )
}

__all__ = ["MODELS", "Country", "Request"]
