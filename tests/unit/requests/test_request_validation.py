"""Every request type: a complete record is valid, and each required field removed in turn is
named with its rule and article. Then conditional rules, malformed values and unknown fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from accord.errors import FieldError, RequestInvalid
from accord.requests.models import RequestType, article_of
from accord.requests.records import MODELS, Request
from accord.requests.validate import validate

if TYPE_CHECKING:
    from conftest import Example

T = RequestType
ENVELOPE = (
    "message_id",
    "case_ref",
    "related_ids",
    "legal_basis",
    "requesting_state",
    "requested_state",
    "sending_authority",
    "receiving_authority",
    "channel",
    "language",
    "authenticity",
)
MLA = ("requesting_authority", "proceeding", "assistance_types", "assistance_sought", "purpose")
COLLECTION = (
    "requesting_authority",
    "facts_summary",
    "investigation_nature",
    "communications_targeted",
    "relationship_to_offence",
    "owner_user_or_location",
    "justification",
    "collection_period",
    "period_justification",
)
REQUIRED: dict[RequestType, tuple[str, ...]] = {
    T.PRESERVATION: (
        "seeking_authority",
        "offence",
        "facts_summary",
        "data_description",
        "relationship_to_offence",
        "custodian_or_location",
        "necessity",
        "intent_to_follow_with_mla",
        "confidential_no_user_notice",
    ),
    T.TRAFFIC_DISCLOSURE: (
        "parent_preservation_id",
        "communication_ref",
        "sp_identified",
        "path_hops",
        "traffic_data_items",
        "disclosed_at",
    ),
    T.MLA: MLA,
    T.MLA_STORED_DATA: (*MLA, "data_location_claim", "data_scope", "measures"),
    T.MLA_REAL_TIME_TRAFFIC: COLLECTION,
    T.MLA_INTERCEPTION: COLLECTION,
    T.SPONTANEOUS_INFORMATION: (
        "provider_authority",
        "recipient_authority",
        "information",
        "reason",
    ),
    T.LAW_ENFORCEMENT_EXCHANGE: (
        "agency_from",
        "agency_to",
        "subject_type",
        "subject",
        "info_items",
        "handling_codes",
        "review_date",
    ),
    T.JOINT_INVESTIGATION: (
        "participating_states",
        "lead_state",
        "territory",
        "agreement",
        "purpose",
        "duration",
        "evidence_sharing_rules",
        "use_limits",
        "data_protection_terms",
    ),
    T.EXTRADITION: (
        "person",
        "offences",
        "max_penalty_requesting_months",
        "max_penalty_requested_months",
        "warrant_or_judgment_refs",
    ),
    T.TRANSFER_OF_SENTENCED_PERSONS: (
        "person",
        "sentencing_state",
        "administering_state",
        "judgment_ref",
        "sentence_months",
        "remaining_months",
        "person_consent",
        "agreement_ref",
    ),
}
CASES = [(kind, field) for kind, fields in REQUIRED.items() for field in (*ENVELOPE, *fields)]


def problems(data: dict[str, Any]) -> list[FieldError]:
    with pytest.raises(RequestInvalid) as caught:
        validate(data)
    assert caught.value.code == "request_invalid"
    assert caught.value.advice
    return caught.value.errors


def the_problem(data: dict[str, Any]) -> FieldError:
    found = problems(data)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("kind", list(T))
def test_the_example_of_each_type_is_valid(example: Example, kind: RequestType) -> None:
    record: Request = validate(example(kind))
    assert record.type == kind
    assert isinstance(record, MODELS[kind])


@pytest.mark.parametrize("kind", list(T))
def test_the_table_lists_every_required_field_of_the_model(kind: RequestType) -> None:
    fields = MODELS[kind].model_fields
    required = {name for name, info in fields.items() if info.is_required()} - {"type"}
    assert required == set(ENVELOPE) | set(REQUIRED[kind])


@pytest.mark.parametrize(("kind", "field"), CASES, ids=[f"{k}-{f}" for k, f in CASES])
def test_each_required_field_removed_is_named_with_its_article(
    example: Example, kind: RequestType, field: str
) -> None:
    data = example(kind)
    del data[field]
    error = the_problem(data)
    assert error.field == field
    assert error.rule == "required"
    assert error.article == article_of(kind)
    assert error.message == f"{field} is required ({article_of(kind)})"


def test_mla_facts_summary_is_required_unless_only_serving_documents(example: Example) -> None:
    data = example(T.MLA)
    del data["facts_summary"]
    assert the_problem(data) == FieldError(
        "facts_summary",
        "conditional_required",
        "facts_summary is required unless the only assistance sought is service_of_documents"
        " (Art. 40)",
        "Art. 40",
    )
    data["assistance_types"] = ["service_of_documents"]
    assert validate(data).type == T.MLA


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("sending_authority.name", T.PRESERVATION),
        ("authenticity.method", T.MLA),
        ("proceeding.nature", T.MLA),
        ("data_scope.time_range", T.MLA_STORED_DATA),
        ("collection_period.end", T.MLA_INTERCEPTION),
        ("sp_identified.state", T.TRAFFIC_DISCLOSURE),
        ("agreement.kind", T.JOINT_INVESTIGATION),
        ("person.nationality", T.EXTRADITION),
    ],
)
def test_nested_required_fields_are_named_by_path(
    example: Example, path: str, kind: RequestType
) -> None:
    data = example(kind)
    parent, name = path.rsplit(".", 1)
    node = data
    for key in parent.split("."):
        node = node[key]
    del node[name]
    error = the_problem(data)
    assert (error.field, error.rule, error.article) == (path, "required", article_of(kind))


def test_every_problem_is_reported_at_once(example: Example) -> None:
    data = example(T.MLA)
    for field in ("facts_summary", "purpose", "language"):
        del data[field]
    data["deadline_suggested"] = "2026-09-30T00:00:00Z"
    del data["deadline_reason"]
    data["requested_state"] = "russia"
    found = {(e.field, e.rule) for e in problems(data)}
    assert found == {
        ("purpose", "required"),
        ("language", "required"),
        ("requested_state", "format"),
        ("facts_summary", "conditional_required"),
        ("deadline_reason", "conditional_required"),
    }


def change(kind: RequestType, **fields: Any) -> tuple[RequestType, dict[str, Any]]:
    """A change to the example of ``kind``; None removes the field."""
    return kind, fields


CONDITIONAL = [
    ("deadline without reason", change(T.MLA, deadline_reason=None), "deadline_reason",
     "conditional_required", "Art. 40"),
    ("reason without deadline", change(T.MLA, deadline_suggested=None), "deadline_suggested",
     "conditional_required", "Art. 40"),
    ("oral request not urgent", change(T.MLA, oral_origin={"date": "2026-06-01T09:00:00Z"}),
     "urgency", "oral_requires_urgency", "Art. 40"),
    ("written confirmation before the oral request",
     change(T.PRESERVATION, oral_origin={"date": "2026-06-01T09:00:00Z",
                                        "confirmed_in_writing_at": "2026-05-31T09:00:00Z"}),
     "oral_origin.confirmed_in_writing_at", "before_oral_request", "Art. 40"),
    ("legal basis of another article", change(T.PRESERVATION, legal_basis="UNCC-40"),
     "legal_basis", "legal_basis_article", "Art. 42"),
    ("same State on both sides", change(T.MLA, requested_state="VN"), "requested_state",
     "distinct_states", "Art. 40"),
    ("no intent to follow with MLA", change(T.PRESERVATION, intent_to_follow_with_mla=False),
     "intent_to_follow_with_mla", "invalid_choice", "Art. 42"),
    ("offence article outside the Convention's offences",
     change(T.PRESERVATION, offence_articles=[3]), "offence_articles", "not_an_offence", "Art. 42"),
    ("preserved data without its link",
     change(T.MLA_STORED_DATA, linked_preservation_id=None), "linked_preservation_id",
     "conditional_required", "Art. 44"),
    ("prior request not in related_ids", change(T.MLA, prior_mla_ref="vn-2025-0007"),
     "prior_mla_ref", "not_linked", "Art. 40"),
    ("provider in the requested State itself",
     change(T.TRAFFIC_DISCLOSURE, sp_identified={"name": "Mail.example", "state": "RU"}),
     "sp_identified.state", "provider_in_other_state", "Art. 43"),
    ("disclosure not linked to its preservation", change(T.TRAFFIC_DISCLOSURE, related_ids=[]),
     "parent_preservation_id", "not_linked", "Art. 43"),
    ("use limited without the limitation", change(T.LAW_ENFORCEMENT_EXCHANGE, use_limitations=None),
     "use_limitations", "conditional_required", "Art. 47"),
    ("lead State outside the team", change(T.JOINT_INVESTIGATION, lead_state="ZA"), "lead_state",
     "not_participating", "Art. 48"),
    ("territory of a non-participant", change(T.JOINT_INVESTIGATION, territory=["VN", "ZA"]),
     "territory[1]", "not_participating", "Art. 48"),
    ("penalty under one year", change(T.EXTRADITION, max_penalty_requested_months=6),
     "max_penalty_requested_months", "below_extradition_threshold", "Art. 37"),
    ("provisional arrest, not urgent", change(T.EXTRADITION, urgency="normal"), "urgency",
     "provisional_arrest_requires_urgency", "Art. 37"),
    ("more left than imposed", change(T.TRANSFER_OF_SENTENCED_PERSONS, remaining_months=60),
     "remaining_months", "over_sentence", "Art. 38"),
    ("transfer to a third State", change(T.TRANSFER_OF_SENTENCED_PERSONS, administering_state="ZA"),
     "administering_state", "states_mismatch", "Art. 38"),
    ("collection period backwards",
     change(T.MLA_REAL_TIME_TRAFFIC, collection_period={"start": "2026-07-31T00:00:00Z",
                                                        "end": "2026-07-01T00:00:00Z"}),
     "collection_period", "period_order", "Art. 45"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changed", "field", "rule", "article"),
    [c[1:] for c in CONDITIONAL],
    ids=[c[0] for c in CONDITIONAL],
)
def test_conditional_and_cross_field_rules(
    example: Example,
    changed: tuple[RequestType, dict[str, Any]],
    field: str,
    rule: str,
    article: str,
) -> None:
    kind, fields = changed
    data = {k: v for k, v in (example(kind) | fields).items() if v is not None}
    error = the_problem(data)
    assert (error.field, error.rule, error.article) == (field, rule, article)
    assert error.message.endswith(f"({article})")


MALFORMED = [
    ("text for a number", T.EXTRADITION, {"max_penalty_requested_months": "ten"},
     "max_penalty_requested_months", "wrong_type"),
    ("a number for text", T.MLA, {"purpose": 42}, "purpose", "wrong_type"),
    ("blank text", T.PRESERVATION, {"offence": "   "}, "offence", "blank"),
    ("text too long", T.PRESERVATION, {"offence": "x" * 1001}, "offence", "too_long"),
    ("time without a zone", T.TRAFFIC_DISCLOSURE, {"disclosed_at": "2026-06-03T08:00:00"},
     "disclosed_at", "timezone_required"),
    ("not a time", T.TRAFFIC_DISCLOSURE, {"disclosed_at": "yesterday"}, "disclosed_at",
     "wrong_type"),
    ("lowercase country", T.MLA, {"requesting_state": "vn"}, "requesting_state", "format"),
    ("unknown channel", T.MLA, {"channel": "fax"}, "channel", "invalid_choice"),
    ("unknown legal basis", T.MLA, {"legal_basis": "UN-40"}, "legal_basis", "format"),
    ("participant id with capitals", T.MLA, {"receiving_authority": "RU-GP"},
     "receiving_authority", "format"),
    ("empty list where one item is needed", T.EXTRADITION, {"offences": []}, "offences", "too_few"),
    ("a table for a list", T.MLA, {"related_ids": {"a": 1}}, "related_ids", "wrong_type"),
    ("unknown source evaluation", T.LAW_ENFORCEMENT_EXCHANGE,
     {"info_items": [{"content": "x", "source_evaluation": "E", "information_evaluation": "1"}]},
     "info_items[0].source_evaluation", "invalid_choice"),
    ("port out of range", T.PRESERVATION, {"endpoints": [{"ip": "203.0.113.1", "port": 70000}]},
     "endpoints[0].port", "out_of_range"),
    ("unknown field", T.SPONTANEOUS_INFORMATION, {"priority": "high"}, "priority", "unknown_field"),
    ("unknown nested field", T.MLA,
     {"authenticity": {"method": "jws", "reference": "r", "key": "k"}}, "authenticity.key",
     "unknown_field"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "fields", "field", "rule"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_values_are_named(
    example: Example, kind: RequestType, fields: dict[str, Any], field: str, rule: str
) -> None:
    error = the_problem(example(kind) | fields)
    assert (error.field, error.rule, error.article) == (field, rule, article_of(kind))


def test_a_record_without_type_or_with_an_unknown_type_is_refused(example: Example) -> None:
    data = example(T.MLA)
    del data["type"]
    error = the_problem(data)
    assert (error.field, error.rule) == ("type", "required")
    assert "preservation" in error.message
    data["type"] = "rogatory_letter"
    assert the_problem(data).rule == "invalid_choice"


def test_the_type_field_must_match_the_record_built(example: Example) -> None:
    data = example(T.MLA) | {"type": "preservation"}
    with pytest.raises(ValueError, match="type"):
        MODELS[T.MLA].model_validate(data)


def test_records_are_frozen(example: Example) -> None:
    record = validate(example(T.PRESERVATION))
    with pytest.raises(ValueError, match="frozen"):
        record.offence = "other"  # type: ignore[misc]
