"""Accord's STIX 2.1 validator gives stix2-validator's verdict (OASIS's reference checker) on
a corpus of valid objects and of objects that each break one rule, and names the object id,
the property, the rule and the section of what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance

from accord.intel.validate import problems_of

CORPUS = json.loads((Path(__file__).parents[2] / "data" / "intel" / "corpus.json").read_text())
OPTIONS = ValidationOptions(version="2.1")
# STIX 2.1 §3.2: object_marking_refs lists "marking-definition objects"; the reference
# schema checks only that each is an identifier. Accord refuses the others.
STRICTER = {"marking-ref-not-marking"}


def reference_verdict(value: dict[str, Any]) -> bool:
    return bool(validate_instance(value, OPTIONS).is_valid)


@pytest.mark.parametrize("name", sorted(CORPUS["valid"]))
def test_a_valid_object_is_valid_for_both(name: str) -> None:
    value = CORPUS["valid"][name]
    assert reference_verdict(value)
    assert problems_of(value) == []


@pytest.mark.parametrize("name", sorted(set(CORPUS["invalid"]) - STRICTER))
def test_an_invalid_object_is_refused_by_both(name: str) -> None:
    value = CORPUS["invalid"][name]
    assert not reference_verdict(value)
    problems = problems_of(value)
    assert problems, f"{name} passed Accord's validator"
    [oid, prop] = problems[0].field.split(".", 1)
    assert oid == value.get("id") or oid == "object"
    assert prop
    assert problems[0].rule
    assert (problems[0].article or "").startswith("STIX 2.1 §")


@pytest.mark.parametrize("name", sorted(STRICTER))
def test_where_accord_is_stricter_the_spec_text_says_so(name: str) -> None:
    value = CORPUS["invalid"][name]
    assert reference_verdict(value)
    assert [p.rule for p in problems_of(value)] == ["type"]


def test_every_rule_an_object_breaks_is_listed() -> None:
    value = dict(CORPUS["valid"]["indicator"])
    value.pop("pattern")
    value["confidence"] = 200
    value["spec_version"] = "2.0"
    fields = {p.field.split(".", 1)[1] for p in problems_of(value)}
    assert fields == {"pattern", "confidence", "spec_version"}


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
TYPES = st.sampled_from(
    [
        "indicator",
        "malware",
        "sighting",
        "relationship",
        "marking-definition",
        "observed-data",
        "report",
        "ipv4-addr",
        "x-custom-thing",
    ]
)
PROPERTIES = st.sampled_from(
    [
        "id",
        "created",
        "modified",
        "pattern",
        "pattern_type",
        "valid_from",
        "valid_until",
        "definition",
        "definition_type",
        "object_marking_refs",
        "granular_markings",
        "count",
        "first_seen",
        "last_seen",
        "is_family",
        "extensions",
        "labels",
        "confidence",
        "spec_version",
        "name",
    ]
)


@given(TYPES, st.dictionaries(PROPERTIES, JSONISH, max_size=10))
def test_any_object_gets_a_verdict_never_a_crash(kind: str, properties: dict[str, Any]) -> None:
    value = {"type": kind, **properties}
    problems = problems_of(value)
    assert all(p.rule and p.article for p in problems)
    if not problems:
        assert reference_verdict(value)
