"""TAXII ``next`` cursors: stateless, and refused when forged, edited, or used for another
collection, query or reader (TAXII 2.1 §3.5)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.errors import CursorInvalid
from accord.intel.cursor import Position, cursor_key, make_cursor, query_digest, read_cursor
from accord.jose import b64url_decode, b64url_encode

KEY = cursor_key(Ed25519PrivateKey.generate())
HERE = query_digest("coll-a", "ru-cert", '["q"]')
AT = Position(1_796_000_000_000_001, "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "")


def test_a_cursor_reads_back_its_position() -> None:
    assert read_cursor(KEY, HERE, make_cursor(KEY, HERE, AT)) == AT


def test_a_cursor_from_another_collection_is_refused() -> None:
    other = make_cursor(KEY, query_digest("coll-b", "ru-cert", '["q"]'), AT)
    with pytest.raises(CursorInvalid) as caught:
        read_cursor(KEY, HERE, other)
    assert caught.value.errors[0].rule == "foreign"


def test_a_cursor_of_another_reader_or_query_is_refused() -> None:
    for binding in (
        query_digest("coll-a", "za-cert", '["q"]'),
        query_digest("coll-a", "ru-cert", '["r"]'),
    ):
        with pytest.raises(CursorInvalid):
            read_cursor(KEY, HERE, make_cursor(KEY, binding, AT))


def test_a_forged_cursor_is_refused() -> None:
    forged = make_cursor(cursor_key(Ed25519PrivateKey.generate()), HERE, AT)
    with pytest.raises(CursorInvalid) as caught:
        read_cursor(KEY, HERE, forged)
    assert caught.value.errors[0].rule == "forged"


def test_an_edited_cursor_position_is_refused() -> None:
    payload, tag = make_cursor(KEY, HERE, AT).split(".")
    edited = b64url_decode(payload).replace(b"000001", b"000000")
    with pytest.raises(CursorInvalid):
        read_cursor(KEY, HERE, b64url_encode(edited) + "." + tag)


@pytest.mark.parametrize("junk", ["", "abc", "a.b.c", "!!!.???", "x" * 5000])
def test_junk_is_refused_as_malformed(junk: str) -> None:
    with pytest.raises(CursorInvalid):
        read_cursor(KEY, HERE, junk)
