"""The English source strings of a rendered request: field labels, enumeration values, legal
references and the document's own words. Each is a gettext message ``(context, msgid)``;
``messages()`` lists them all, and the catalogs in ``locales/`` translate exactly these
(``python -m accord.requests.catalogs`` rewrites the template and merges it into them).

Free text (facts, names, reasons) is never a message: it is shown as its author wrote it.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import NamedTuple

from accord.requests.events import Kind, Party, Status
from accord.requests.grounds import RefusalGround
from accord.requests.models import Channel, DataCategory, RequestType, Urgency
from accord.requests.records import (
    Assistance,
    HandlingCode,
    InformationEvaluation,
    Measure,
    SourceEvaluation,
)


class Message(NamedTuple):
    context: str
    msgid: str
    comment: str = ""


FIELD = "field"
DOCUMENT = "document"
LEGAL = "legal"

FIELDS: dict[str, str] = {
    # §3.0 envelope
    "message_id": "Request identifier",
    "case_ref": "Case reference",
    "related_ids": "Related requests",
    "type": "Type of request",
    "legal_basis": "Legal basis",
    "requesting_state": "Requesting State",
    "requested_state": "Requested State",
    "sending_authority": "Sending authority",
    "receiving_authority": "Receiving authority",
    "channel": "Channel of transmission",
    "urgency": "Urgency",
    "language": "Language of the request",
    "confidentiality": "Confidentiality",
    "request_fact_and_substance": "Fact and substance of the request to be kept confidential",
    "no_user_notification": "User not to be notified",
    "deadline_suggested": "Suggested deadline",
    "deadline_reason": "Reasons for the deadline",
    "authenticity": "Authentication",
    "method": "Method",
    "reference": "Reference",
    "oral_origin": "Request first made orally",
    "date": "Date",
    "confirmed_in_writing_at": "Confirmed in writing on",
    # nested records
    "name": "Name",
    "function": "Function",
    "contact": "Contact details",
    "timezone": "Time zone",
    "start": "From",
    "end": "Until",
    "ip": "IP address",
    "port": "Port",
    "state": "State",
    "identity": "Identity",
    "location": "Location",
    "nationality": "Nationality",
    "subject_matter": "Subject matter",
    "nature": "Nature of the proceedings",
    "conducting_authority_name": "Authority conducting the proceedings",
    "conducting_authority_function": "Function of that authority",
    "identifiers": "Identifiers",
    "categories": "Data categories",
    "time_range": "Time range",
    "confidential": "Confidential",
    "use_restrictions": "Restrictions on use",
    "content": "Content",
    "source_evaluation": "Source evaluation",
    "information_evaluation": "Information evaluation",
    "kind": "Kind of agreement",
    "role": "Role",
    # Art. 42 preservation
    "seeking_authority": "Authority seeking preservation",
    "offence": "Offence",
    "facts_summary": "Summary of the facts",
    "data_description": "Stored data to be preserved",
    "relationship_to_offence": "Relationship to the offence",
    "custodian_or_location": "Custodian of the data or location of the system",
    "necessity": "Necessity of preservation",
    "intent_to_follow_with_mla": "Request for mutual legal assistance to follow",
    "confidential_no_user_notice": "Confidential, user not to be notified",
    "offence_articles": "Articles of the Convention defining the offence",
    "account_identifiers": "Account identifiers",
    "time_windows": "Time windows",
    "endpoints": "Network endpoints",
    "sp_name": "Service provider",
    "data_categories": "Data categories",
    # Art. 43 disclosure
    "parent_preservation_id": "Preservation request",
    "communication_ref": "Communication concerned",
    "sp_identified": "Service provider identified",
    "path_hops": "Path of the communication",
    "traffic_data_items": "Traffic data disclosed",
    "disclosed_at": "Disclosed on",
    "use_conditions": "Conditions of use",
    # Art. 40 mutual legal assistance
    "requesting_authority": "Requesting authority",
    "proceeding": "Investigation, prosecution or proceeding",
    "assistance_types": "Types of assistance",
    "assistance_sought": "Assistance sought",
    "special_procedure": "Particular procedure requested",
    "persons": "Persons concerned",
    "items_or_accounts": "Items or accounts concerned",
    "time_period": "Time period concerned",
    "purpose": "Purpose",
    "videoconference_requested": "Hearing by videoconference requested",
    "preferred_reply_means": "Preferred means of reply",
    "prior_preservation_ref": "Earlier preservation request",
    "prior_mla_ref": "Earlier request for mutual legal assistance",
    "court_reference": "Prosecution office or court reference",
    "related_decisions": "Related decisions",
    # Art. 44 stored data
    "data_location_claim": "Location of the data in the requested State",
    "data_scope": "Scope of the data",
    "measures": "Measures sought",
    "linked_preservation_id": "Linked preservation request",
    "data_vulnerable": "Data particularly vulnerable to loss or modification",
    # Arts 45 and 46 collection
    "investigation_nature": "Nature of the investigation",
    "communications_targeted": "Communications targeted",
    "owner_user_or_location": "Owner, user or location of the system",
    "justification": "Justification",
    "collection_period": "Collection period",
    "period_justification": "Justification of the period",
    # Art. 40(4)-(5) spontaneous information
    "provider_authority": "Providing authority",
    "recipient_authority": "Receiving authority",
    "information": "Information",
    "reason": "Reason for providing it",
    "conditions": "Conditions",
    # Art. 47 law-enforcement exchange
    "agency_from": "Sending agency",
    "agency_to": "Receiving agency",
    "subject_type": "Type of subject",
    "subject": "Subject",
    "info_items": "Information items",
    "handling_codes": "Handling codes",
    "use_limitations": "Use limitations",
    "review_date": "Review date",
    # Art. 48 joint investigation
    "participating_states": "Participating States",
    "lead_state": "Lead State",
    "territory": "Territory of the investigation",
    "agreement": "Agreement or arrangement",
    "duration": "Duration",
    "members": "Team members",
    "evidence_sharing_rules": "Rules for sharing evidence",
    "use_limits": "Limits on use",
    "data_protection_terms": "Data protection terms",
    # Arts 37 and 38
    "person": "Person concerned",
    "offences": "Offences",
    "max_penalty_requesting_months": "Maximum penalty in the requesting State (months)",
    "max_penalty_requested_months": "Maximum penalty in the requested State (months)",
    "warrant_or_judgment_refs": "Warrants or judgments",
    "provisional_arrest_requested": "Provisional arrest requested",
    "sentencing_state": "Sentencing State",
    "administering_state": "Administering State",
    "judgment_ref": "Judgment",
    "sentence_months": "Sentence (months)",
    "remaining_months": "Remaining to be served (months)",
    "person_consent": "Consent of the sentenced person",
    "agreement_ref": "Agreement or arrangement on transfer",
    # state and event payloads (§8)
    "request_id": "Request identifier",
    "status": "Status",
    "since": "Since",
    "submitted_at": "Submitted on",
    "refusal": "Refusal",
    "grounds": "Grounds for refusal",
    "reasons": "Reasons",
    "postponement": "Postponement",
    "expected_resume": "Expected resumption",
    "conditions_accepted": "Conditions accepted by the requesting State",
    "hold": "Preservation",
    "preserved_at": "Preserved on",
    "until": "Preserved until",
    "hold_until": "Preserved until",
    "follow_up_id": "Follow-up request",
    "disclosures": "Disclosures of traffic data",
    "disclosure_id": "Disclosure",
    "authorisation": "Authorisation",
    "authorised_from": "Authorised from",
    "authorised_until": "Authorised until",
    "renewals": "Renewals",
    "batches_collected": "Batches collected",
    "executed_items": "Executed",
    "not_executed_items": "Not executed",
    "evidence_packages": "Evidence packages",
    "notices": "Notices sent",
    "onward_authorised": "Onward transfer authorised to",
    "forwarded_to": "Forwarded to",
    "recipient": "Recipient",
    "note": "Note",
}

ENUMS: dict[StrEnum, str] = {
    RequestType.PRESERVATION: "Request for expedited preservation of stored electronic data",
    RequestType.TRAFFIC_DISCLOSURE: "Expedited disclosure of preserved traffic data",
    RequestType.MLA: "Request for mutual legal assistance",
    RequestType.MLA_STORED_DATA: "Request for mutual legal assistance in accessing stored "
    "electronic data",
    RequestType.MLA_REAL_TIME_TRAFFIC: "Request for mutual legal assistance in the real-time "
    "collection of traffic data",
    RequestType.MLA_INTERCEPTION: "Request for mutual legal assistance in the interception of "
    "content data",
    RequestType.SPONTANEOUS_INFORMATION: "Spontaneous information",
    RequestType.LAW_ENFORCEMENT_EXCHANGE: "Law enforcement information exchange",
    RequestType.JOINT_INVESTIGATION: "Proposal of a joint investigation",
    RequestType.EXTRADITION: "Request for extradition",
    RequestType.TRANSFER_OF_SENTENCED_PERSONS: "Request for the transfer of a sentenced person",
    Channel.CA: "Central authority",
    Channel.POC_24X7: "24/7 point of contact",
    Channel.DIPLOMATIC: "Diplomatic channels",
    Channel.INTERPOL: "INTERPOL",
    Channel.DIRECT_JUDICIAL: "Direct communication between judicial authorities",
    Urgency.NORMAL: "Normal",
    Urgency.URGENT: "Urgent",
    Urgency.EMERGENCY: "Emergency (imminent risk to the life or safety of a person)",
    DataCategory.SUBSCRIBER: "Subscriber information",
    DataCategory.TRAFFIC: "Traffic data",
    DataCategory.CONTENT: "Content data",
    Assistance.TAKING_EVIDENCE: "Taking evidence or statements from persons",
    Assistance.SERVICE_OF_DOCUMENTS: "Effecting service of judicial documents",
    Assistance.SEARCH_SEIZURE_FREEZING: "Executing searches and seizures, and freezing",
    Assistance.EXAMINING_OBJECTS_AND_SITES: "Examining objects and sites",
    Assistance.INFORMATION_AND_EXPERT_EVALUATIONS: "Providing information, evidentiary items "
    "and expert evaluations",
    Assistance.RECORDS: "Providing originals or certified copies of relevant documents and records",
    Assistance.TRACING_PROCEEDS: "Identifying or tracing proceeds of crime",
    Assistance.VOLUNTARY_APPEARANCE: "Facilitating the voluntary appearance of persons",
    Assistance.STORED_DATA: "Accessing stored electronic data",
    Assistance.REAL_TIME_TRAFFIC_DATA: "Real-time collection of traffic data",
    Assistance.INTERCEPTION: "Interception of content data",
    Assistance.RECOVERY_OF_PROCEEDS: "Recovery of proceeds of crime",
    Assistance.OTHER: "Other assistance not contrary to the law of the requested State",
    Measure.SEARCH_OR_ACCESS: "Search or similar access",
    Measure.SEIZE_OR_SECURE: "Seizure or similar securing",
    Measure.DISCLOSE: "Disclosure",
    HandlingCode.CONFIDENTIAL: "Confidential",
    HandlingCode.USE_LIMITED: "Use limited as stated",
    HandlingCode.NOT_FOR_EVIDENCE: "Not to be used as evidence without consent",
    HandlingCode.NO_ONWARD_TRANSFER: "No onward transfer",
    SourceEvaluation.A: "A: completely reliable",
    SourceEvaluation.B: "B: usually reliable",
    SourceEvaluation.C: "C: usually unreliable",
    SourceEvaluation.X: "X: reliability cannot be assessed",
    InformationEvaluation.KNOWN_TRUE: "1: known to be true without reservation",
    InformationEvaluation.KNOWN_TO_SOURCE: "2: known personally to the source",
    InformationEvaluation.CORROBORATED: "3: corroborated by other information",
    InformationEvaluation.UNVERIFIED: "4: cannot be assessed",
    RefusalGround.NONCONFORMING: "The request does not conform to the Convention",
    RefusalGround.ESSENTIAL_INTERESTS: "Prejudice to sovereignty, security, public order or "
    "other essential interests",
    RefusalGround.DOMESTIC_PROHIBITION: "Action prohibited by domestic law",
    RefusalGround.CONTRARY_TO_LEGAL_SYSTEM: "Contrary to the legal system of the requested State",
    RefusalGround.POLITICAL_OFFENCE: "Political offence",
    RefusalGround.DISCRIMINATORY_PURPOSE: "Purpose of prosecuting or punishing a person on "
    "discriminatory grounds",
    RefusalGround.NO_DUAL_CRIMINALITY: "Absence of dual criminality",
    RefusalGround.CONDITIONS_NOT_ACCEPTED: "Conditions not accepted",
    RefusalGround.NATIONALITY_OF_PERSON: "The person sought is a national of the requested State",
    RefusalGround.BANK_SECRECY: "Bank secrecy",
    RefusalGround.FISCAL_ONLY: "Fiscal matters only",
    Status.DRAFT: "Draft",
    Status.VALIDATED: "Validated",
    Status.SUBMITTED: "Submitted",
    Status.RECEIVED: "Received",
    Status.AWAITING_WRITTEN_CONFIRMATION: "Awaiting written confirmation",
    Status.UNDER_ASSESSMENT: "Under assessment",
    Status.INFO_REQUESTED: "Additional information requested",
    Status.CONFIDENTIALITY_CONFLICT: "Confidentiality cannot be ensured",
    Status.CONSULTATION: "In consultation",
    Status.CONDITIONS_PROPOSED: "Conditions proposed",
    Status.POSTPONED: "Postponed",
    Status.IN_EXECUTION: "In execution",
    Status.PRESERVED: "Data preserved",
    Status.PRESERVED_PENDING_DECISION: "Data preserved pending a decision on the follow-up request",
    Status.RISK_NOTIFIED: "Risk to preservation notified",
    Status.COLLECTING: "Collection in progress",
    Status.EXECUTED: "Executed",
    Status.PARTIALLY_EXECUTED: "Partially executed",
    Status.DELIVERED_RESTRICTED: "Delivered, subject to restrictions on use",
    Status.REFUSED: "Refused",
    Status.WITHDRAWN: "Withdrawn",
    Status.EXPIRED: "Expired",
    Status.CLOSED: "Closed",
    Kind.VALIDATE: "Request validated",
    Kind.SUBMIT: "Request submitted",
    Kind.AWAIT_WRITTEN_CONFIRMATION: "Written confirmation awaited",
    Kind.CONFIRM_IN_WRITING: "Request confirmed in writing",
    Kind.ACKNOWLEDGE: "Receipt acknowledged",
    Kind.BEGIN_ASSESSMENT: "Assessment begun",
    Kind.REQUEST_INFO: "Additional information requested",
    Kind.SUPPLY_INFO: "Additional information supplied",
    Kind.REPORT_CONFIDENTIALITY_CONFLICT: "Confidentiality conflict reported",
    Kind.PROCEED: "Decision to proceed",
    Kind.CONSULT: "Consultation opened",
    Kind.PROPOSE_CONDITIONS: "Conditions proposed",
    Kind.ACCEPT_CONDITIONS: "Conditions accepted",
    Kind.DECLINE_CONDITIONS: "Conditions declined",
    Kind.REFUSE: "Request refused",
    Kind.POSTPONE: "Execution postponed",
    Kind.RESUME: "Execution resumed",
    Kind.START_EXECUTION: "Execution started",
    Kind.CONFIRM_HOLD: "Preservation confirmed",
    Kind.EXTEND_HOLD: "Preservation extended",
    Kind.NOTIFY_RISK: "Risk to preservation notified",
    Kind.LINK_FOLLOW_UP: "Follow-up request received",
    Kind.EXPIRE: "Preservation expired",
    Kind.DECIDE_FOLLOW_UP: "Follow-up request decided",
    Kind.DISCLOSE_TRAFFIC: "Traffic data disclosed",
    Kind.AUTHORISE_COLLECTION: "Collection authorised",
    Kind.RENEW_AUTHORISATION: "Authorisation renewed",
    Kind.RECORD_COLLECTION: "Collected data delivered",
    Kind.END_COLLECTION: "Collection ended",
    Kind.EXECUTE: "Request executed",
    Kind.EXECUTE_PARTIALLY: "Request partially executed",
    Kind.NOTIFY_DELAY: "Delay or impossibility notified",
    Kind.INGEST: "Evidence received",
    Kind.AUTHORISE_ONWARD: "Onward transfer authorised",
    Kind.FORWARD: "Evidence forwarded",
    Kind.CLOSE: "Request closed",
    Kind.WITHDRAW: "Request withdrawn",
    Party.REQUESTING: "Requesting State",
    Party.REQUESTED: "Requested State",
}

# Values of Literal fields, under the context "Model.field"
LITERALS: dict[tuple[str, str], str] = {
    ("Authenticity.method", "jws"): "Electronic signature (JWS)",
    ("Authenticity.method", "signature"): "Handwritten signature",
    ("Authenticity.method", "seal"): "Official seal",
    ("LawEnforcementExchange.subject_type", "person"): "Person",
    ("LawEnforcementExchange.subject_type", "account"): "Account",
    ("LawEnforcementExchange.subject_type", "asset"): "Asset",
    ("LawEnforcementExchange.subject_type", "method"): "Modus operandi",
    ("Agreement.kind", "standing"): "Standing agreement",
    ("Agreement.kind", "ad_hoc"): "Agreement for the specific case",
}

# Legal references: an article number, then the instrument a legal basis cites
ARTICLE = "Art. {number}"
INSTRUMENTS: dict[str, str] = {
    "UNCC": "{article} of the United Nations Convention against Cybercrime",
    "BC": "{article} of the Convention on Cybercrime (Budapest Convention)",
    "UNTOC": "{article} of the United Nations Convention against Transnational Organized Crime",
    "SAP": "{article} of the Second Additional Protocol to the Convention on Cybercrime",
}
TREATY = "Treaty: {name}"
RECIPROCITY = "Reciprocity"

# The document's own words
WORDS: dict[str, str] = {
    "request": "The request",
    "particulars": "Particulars",
    "state": "Current state",
    "reply": "Reply of the requested State",
    "limitations": "Use limitations",
    "limitations_note": "Binding on the requesting State: the evidence or information may not "
    "be used or transmitted beyond these limits without the prior consent of the requested "
    "State.",
    "timeline": "Timeline",
    "time": "Time",
    "by": "By",
    "event": "Event",
    "details": "Details",
    "no_events": "No events recorded.",
    "yes": "Yes",
    "no": "No",
    "until_decision": "Until the decision on the follow-up request",
    "generated": "Generated on {date} from the signed records of this request.",
    "free_text": "Free text is reproduced as written by its author, in the language of the "
    "request; labels, enumerations and legal references are translated.",
    "one_way": "A communication without a reply procedure.",
}


def enum_context(value: StrEnum) -> str:
    return type(value).__name__


def messages() -> Iterator[Message]:
    """Every message the renderer may look up, each once, in a stable order."""
    seen: set[tuple[str, str]] = set()
    for message in _all():
        if (message.context, message.msgid) not in seen:
            seen.add((message.context, message.msgid))
            yield message


def _all() -> Iterator[Message]:
    for name, label in FIELDS.items():
        yield Message(FIELD, label, f"field {name}")
    for value, text in ENUMS.items():
        yield Message(enum_context(value), text, f"{enum_context(value)}.{value.name}")
    for (context, literal), text in LITERALS.items():
        yield Message(context, text, f"value {literal!r}")
    yield Message(LEGAL, ARTICLE, "an article of the instrument; keep {number}")
    for code, text in INSTRUMENTS.items():
        yield Message(LEGAL, text, f"legal basis {code}-n; {{article}} is the translated article")
    yield Message(LEGAL, TREATY, "legal basis treaty:NAME; {name} is shown as written")
    yield Message(LEGAL, RECIPROCITY, "legal basis reciprocity")
    for key, text in WORDS.items():
        yield Message(DOCUMENT, text, key)
