"""Splitting STIX documents keeps each object's exact bytes; malformed, ambiguous and
oversized documents are refused with the field and the rule."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.errors import StixInvalid
from accord.intel.stix import split

OBJ = '{"type":"x-thing","id":"x-thing--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","n":1.50}'


def test_each_object_keeps_its_exact_bytes_unknown_properties_and_all() -> None:
    weird = (
        '{ "id" :"x-thing--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f" , "type":"x-thing",\n'
        ' "x_v":"\\u00e9", "x_n": 1.50e0 }'
    )
    bundle_id = "bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
    document = f'{{"type": "bundle", "id": "{bundle_id}", "objects": [{OBJ}, {weird}]}}'
    [first, second] = split(document.encode(), max_objects=10)
    assert first.raw == OBJ.encode()
    assert second.raw == weird.encode()
    assert second.value["x_v"] == "é"


def test_a_taxii_envelope_and_a_lone_object_are_read_too() -> None:
    assert [o.raw for o in split(f'{{"objects":[{OBJ}]}}'.encode(), max_objects=1)] == [
        OBJ.encode()
    ]
    assert split(OBJ.encode(), max_objects=1)[0].id.startswith("x-thing--")


@pytest.mark.parametrize(
    ("document", "rule"),
    [
        (b"[1, 2]", "object"),
        (b'{"objects": {"a": 1}}', "array"),
        (b'{"objects": [1]}', "object"),
        (b'{"objects": [' + OBJ.encode() + b"]", "json"),
        (b"\xff\xfe", "utf-8"),
        (b'{"objects": [], "objects": []}', "json"),
        (b'{"objects": []} trailing', "json"),
        (b'{"type": "report", "objects": []}', "bundle"),
    ],
)
def test_a_malformed_document_is_refused_with_its_rule(document: bytes, rule: str) -> None:
    with pytest.raises(StixInvalid) as caught:
        split(document, max_objects=10)
    assert caught.value.errors[0].rule == rule


def test_a_key_given_twice_inside_an_object_is_refused() -> None:
    """Two parsers could read two different markings from it."""
    twice = (
        '{"type":"x-thing","id":"x-thing--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",'
        '"object_marking_refs":["a"],"object_marking_refs":[]}'
    )
    with pytest.raises(StixInvalid, match="appears twice"):
        split(f'{{"objects":[{twice}]}}'.encode(), max_objects=10)


def test_ten_thousand_objects_in_one_document_are_refused_before_parsing_them() -> None:
    document = ('{"objects":[' + ",".join([OBJ] * 10_000) + "]}").encode()
    with pytest.raises(StixInvalid) as caught:
        split(document, max_objects=1000)
    assert caught.value.errors[0].rule == "max_objects"


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.lists(st.dictionaries(st.text(min_size=1, max_size=6), JSONISH, max_size=4), max_size=5),
    st.booleans(),
)
def test_splitting_then_joining_gives_back_the_document(
    objects: list[dict[str, object]], indent: bool
) -> None:
    texts = [json.dumps(o, indent=2 if indent else None) for o in objects]
    document = '{"objects": [' + ", ".join(texts) + "]}"
    parts = split(document.encode(), max_objects=10)
    assert [p.raw.decode() for p in parts] == texts
    assert [p.value for p in parts] == objects
