"""TLP 2.0 with the official definitions, TLP 1.0 read as its level, granular markings, and
Art. 47 handling codes translated to STIX markings and back without loss."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.intel.markings import (
    TLP2_IDS,
    Tlp,
    definitions_in,
    handling_codes,
    handling_definitions,
    marking_of,
    tlp_definition,
)
from accord.intel.validate import problems_of
from accord.requests.records import HandlingCode


def test_the_official_tlp2_definitions_are_valid_stix() -> None:
    for level in Tlp:
        definition = tlp_definition(level)
        assert problems_of(definition) == []
        assert definition["id"] == TLP2_IDS[level]
        assert marking_of({"type": "x", "object_marking_refs": [definition["id"]]}, {}).tlp is level


def test_tlp1_white_is_read_as_clear_and_tlp1_amber_as_amber() -> None:
    white = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
    amber = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
    assert marking_of({"object_marking_refs": [white]}, {}).tlp is Tlp.CLEAR
    assert marking_of({"object_marking_refs": [amber]}, {}).tlp is Tlp.AMBER


def test_a_granular_red_marking_makes_the_whole_object_red() -> None:
    value = {
        "object_marking_refs": [TLP2_IDS[Tlp.GREEN]],
        "granular_markings": [{"selectors": ["description"], "marking_ref": TLP2_IDS[Tlp.RED]}],
    }
    assert marking_of(value, {}).tlp is Tlp.RED


def test_an_unknown_marking_is_named_and_no_tlp_is_none() -> None:
    unknown = "marking-definition--00000000-0000-4000-8000-000000000000"
    marking = marking_of({"type": "indicator", "object_marking_refs": [unknown]}, {})
    assert marking.unknown == {unknown}
    assert marking_of({"type": "indicator"}, {}).tlp is None


@given(
    st.lists(st.sampled_from(list(HandlingCode)), min_size=1, max_size=4, unique=True),
    st.text(min_size=1, max_size=60),
)
def test_handling_codes_go_to_stix_and_back_without_loss(
    codes: list[HandlingCode], text: str
) -> None:
    limitation = text if HandlingCode.USE_LIMITED in codes else None
    definitions = handling_definitions(codes, limitation)
    for definition in definitions:
        assert problems_of(definition) == []
    refs = [d["id"] for d in definitions]
    assert handling_codes(refs, definitions_in(definitions)) == (tuple(codes), limitation)
    assert marking_of({"object_marking_refs": refs}, definitions_in(definitions)).handling == set(
        codes
    )


def test_two_use_limitations_are_two_definitions() -> None:
    [a] = handling_definitions([HandlingCode.USE_LIMITED], "Case A only")
    [b] = handling_definitions([HandlingCode.USE_LIMITED], "Case B only")
    assert a["id"] != b["id"]


@pytest.mark.parametrize("text", ["TLP:AMBER+STRICT", "amber+strict", "tlp:clear", "WHITE"])
def test_tlp_names_parse(text: str) -> None:
    assert Tlp.parse(text) in (Tlp.AMBER_STRICT, Tlp.CLEAR)
