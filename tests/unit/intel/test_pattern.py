"""The STIX pattern checker (STIX 2.1 §9) agrees with the reference: stix2-validator on an
indicator carrying the pattern (stix2-patterns' ANTLR parser, then the validator's own checks
of type and property names), on hand-picked patterns and on random ones built from the
grammar and then mutated."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stix2patterns.v21.pattern import Pattern
from stix2validator import ValidationOptions, validate_instance

from accord.intel.pattern import PatternInvalid, check_pattern

CASES = [
    "[ipv4-addr:value = '198.51.100.7']",
    "[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS",
    "[file:name = 'a'] AND [file:size > 10] REPEATS 2 TIMES",
    "([url:value = 'x'] OR [url:value = 'y']) FOLLOWEDBY [domain-name:value LIKE '%.example']",
    "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    "[file:hashes.MD5 = 'abc']",
    "[network-traffic:extensions.'http-request-ext'.request_header.'Accept-Encoding' = 'gzip']",
    "[email-message:to_refs[*].value = 'a@example.org']",
    "[process:arguments[0] = 'x'] START t'2026-01-01T00:00:00Z' STOP t'2026-02-01T00:00:00Z'",
    "[file:name IN ('a', 'b')]",
    "[file:name NOT IN ()]",
    "[artifact:payload_bin = b'aGVsbG8=']",
    "[file:x_custom = h'0a0b']",
    "[file:name MATCHES '^a.*$' AND NOT file:size <= 3]",
    "[x-acme-thing:name = 'x']",
    "[file:name = 'a'] WITHIN 5 SECONDS WITHIN 6 SECONDS",
    "[a:b = 1]",
    "[file:name = 'a' OR]",
    "file:name = 'a'",
    "[file:name = 'a']]",
    "[file:size = true]",
    "[file:size > true]",
    "[file:name = 'it''s']",
    "[file:name = 'it\\'s']",
    "[EXISTS file:name]",
    "[file:Name = 'x']",
    "[file:name = 'a'] WITHIN -5 SECONDS",
    "[file:name = 'a'] REPEATS 0 TIMES",
    "[file:size = 01]",
    "[file:size = 1.5e3]",
    "[file:size = -3]",
    "[file:name = 'a'] and [file:name = 'b']",
]


OPTIONS = ValidationOptions(version="2.1")


def reference(pattern: str) -> bool:
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2026-11-24T09:00:00.000Z",
        "modified": "2026-11-24T09:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-24T09:00:00Z",
    }
    return bool(validate_instance(indicator, OPTIONS).is_valid)


def mine(pattern: str) -> bool:
    try:
        check_pattern(pattern)
    except PatternInvalid:
        return False
    return True


@pytest.mark.parametrize("pattern", CASES)
def test_same_verdict_as_stix2_patterns(pattern: str) -> None:
    assert mine(pattern) == reference(pattern), pattern


TYPES = st.sampled_from(["file", "ipv4-addr", "url", "x-acme-thing", "network-traffic"])
PROPS = st.sampled_from(["name", "value", "size", "x_note", "hashes.MD5", "dst_port"])
VALUES = st.sampled_from(
    [
        "'a'",
        "'198.51.100.7'",
        "5",
        "-2",
        "1.5",
        "true",
        "t'2026-01-01T00:00:00Z'",
        "h'ab'",
        "'d41d8cd98f00b204e9800998ecf8427e'",
        "('a', 'b')",
    ]
)
OPS = st.sampled_from(["=", "!=", ">", "<=", "LIKE", "IN", "MATCHES", "NOT ="])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    def test() -> str:
        return f"{draw(TYPES)}:{draw(PROPS)} {draw(OPS)} {draw(VALUES)}"

    def observation() -> str:
        inner = " AND ".join(test() for _ in range(draw(st.integers(1, 2))))
        text = f"[{inner}]"
        return text + draw(st.sampled_from(["", " WITHIN 5 SECONDS", " REPEATS 2 TIMES"]))

    joiner = draw(st.sampled_from([" AND ", " OR ", " FOLLOWEDBY "]))
    text = joiner.join(observation() for _ in range(draw(st.integers(1, 3))))
    cut = draw(st.integers(0, 3))
    if cut == 1:  # a mutation: drop one character
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + text[at + 1 :]
    return text


@given(patterns())
def test_random_patterns_get_the_same_verdict(pattern: str) -> None:
    assert mine(pattern) == reference(pattern), pattern


def test_the_reference_inspector_reads_what_accord_accepts() -> None:
    Pattern(CASES[3]).inspect()  # the reference parses it into comparisons too
