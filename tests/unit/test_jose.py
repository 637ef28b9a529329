"""Strict base64url (RFC 7515 §2): one encoding per byte string."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.jose import b64url_decode, b64url_encode


@given(st.binary(max_size=200))
def test_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("eyJ=", "padding"),
        ("ey*J", "character outside the alphabet, silently dropped by the standard library"),
        ("ey J", "white space"),
        ("ey+/", "standard (not url-safe) alphabet"),
        ("eyJhb", "impossible length"),
        ("QR", "unused bits set: decodes like 'QQ' to b'A'"),
    ],
)
def test_non_canonical_text_is_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match="not base64url"):
        b64url_decode(text)
