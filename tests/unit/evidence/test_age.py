"""age v1 to X25519 recipients: interop with pyrage both ways, the spec's known answers, the
spec's construction re-derived step by step, streaming round trips under random slicing, and
one test per attack, named after it. Every rejection must say what failed and where."""

from __future__ import annotations

import base64
import io
import os
import random
import re
from collections.abc import Callable

import pyrage
import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import EvidenceError, PackageTampered
from accord.evidence.age import (
    CHUNK,
    AgeError,
    Decryptor,
    Encryptor,
    _bech32_encode,
    _polymod,
    decrypt_stream,
    encrypt_stream,
    header_length,
    identity_string,
    parse_identity,
    parse_recipient,
    recipient_string,
)

SEALED = CHUNK + 16
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 200 * 1024]
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# age v1 §X25519 recipient type: the spec's example identity and its recipient.
SPEC_IDENTITY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
SPEC_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
# C2SP CCTV age testkit (c2sp.org/CCTV/age): its current identity and its fixed file key.
CCTV_IDENTITY = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"
CCTV_FILE_KEY = b"YELLOW SUBMARINE"
# The header of CCTV's age/testdata/x25519 as generated with the testkit's earlier identity,
# as quoted in the tests of an independent (Zig) age implementation; its payload is "age".
CCTV_X25519_IDENTITY = "AGE-SECRET-KEY-1XMWWC06LY3EE5RYTXM9MFLAZ2U56JJJ36S0MYPDRWSVLUL66MV4QX3S7F6"
CCTV_X25519_HEADER = b"""age-encryption.org/v1
-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc
EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7U
--- Vn+54jqiiUCE+WZcEVY3f1sqHjlu/z1LCQ/T7Xm7qI0
"""
# From the same source: three X25519 stanzas, the first for CCTV_X25519_IDENTITY.
THREE_STANZA_HEADER = b"""age-encryption.org/v1
-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc
EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7U
-> X25519 ajtqAvDEkVNr2B7zUOtq2mAQXDSBlNrVAuM/dKb5sT4
0evrK/HQXVsQ4YaDe+659l5OQzvAzD2ytLGHQLQiqxg
-> X25519 0qC7u6AbLxuwnM8tPFOWVtWZn/ZZe7z7gcsP5kgA0FI
T/PZg76MmVt2IaLntrxppzDnzeFDYHsHFcnTnhbRLQ8
--- UCthUMrk+aJCkWnzueb2xSnd/zj41r4CrMB5SUcz9nM
"""

CRYPTO = settings(max_examples=100)
# Any size up to ~300 KB, and often one within 2 bytes of a chunk boundary.
SIZES_NEAR_BOUNDARIES = st.builds(
    lambda n, d: max(0, n * CHUNK + d), st.integers(0, 4), st.integers(-2, 2)
)
PAYLOAD_SIZES = st.integers(0, 300_000) | SIZES_NEAR_BOUNDARIES


# Helpers -----------------------------------------------------------------------------------


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)  # noqa: S311 (reproducible test data, not keys)


def _pyrage_ids(n: int) -> list[pyrage.x25519.Identity]:
    return [pyrage.x25519.Identity.generate() for _ in range(n)]


def _ours(identity: pyrage.x25519.Identity) -> X25519PrivateKey:
    return parse_identity(str(identity))


def _seal(
    data: bytes,
    recipients: list[X25519PublicKey],
    *,
    file_key: bytes | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> bytes:
    encryptor = Encryptor(recipients, file_key=file_key, rng=rng)
    return encryptor.header + encryptor.update(data) + encryptor.finalize()


def _open(blob: bytes, identity: X25519PrivateKey) -> bytes:
    decryptor = Decryptor(identity)
    return decryptor.update(blob) + decryptor.finalize()


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _chacha_rng() -> Callable[[int], bytes]:
    """The CCTV testkit's randomness: the ChaCha20 keystream of a fixed key, zero nonce."""
    stream = Cipher(algorithms.ChaCha20(b"TEST RANDOMNESS TEST RANDOMNESS!", bytes(16)), None)
    encryptor = stream.encryptor()
    return lambda n: encryptor.update(bytes(n))


def _with_header(blob: bytes, file_key: bytes, edit: Callable[[list[bytes]], list[bytes]]) -> bytes:
    """Edit the header lines of ``blob`` and recompute a valid MAC, to test grammar alone."""
    end = blob.index(b"\n---") + 1
    lines = edit(blob[:end].split(b"\n")[:-1])
    covered = b"\n".join(lines) + b"\n---"
    mac = hmac.HMAC(_hkdf(file_key, b"", b"header"), hashes.SHA256())
    mac.update(covered)
    return covered + b" " + _b64(mac.finalize()) + b"\n" + blob[blob.index(b"\n", end) + 1 :]


def _b64(raw: bytes) -> bytes:
    return base64.b64encode(raw).rstrip(b"=")


def _flip_low_bit(char: int) -> int:
    return ord(B64[B64.index(chr(char)) ^ 1])


@pytest.fixture
def key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


# Keys: Bech32 ------------------------------------------------------------------------------


def test_key_strings_match_pyrage() -> None:
    for identity in _pyrage_ids(5):
        ours = parse_identity(str(identity))
        assert identity_string(ours) == str(identity)
        assert recipient_string(ours.public_key()) == str(identity.to_public())
        parsed = parse_recipient(str(identity.to_public()))
        assert parsed.public_bytes_raw() == ours.public_key().public_bytes_raw()


def test_spec_example_identity_gives_spec_recipient() -> None:
    identity = parse_identity(SPEC_IDENTITY)
    assert recipient_string(identity.public_key()) == SPEC_RECIPIENT
    assert identity_string(identity) == SPEC_IDENTITY


def test_cctv_testkit_identity_round_trips_and_matches_pyrage() -> None:
    identity = parse_identity(CCTV_IDENTITY)
    assert identity_string(identity) == CCTV_IDENTITY
    expected = str(pyrage.x25519.Identity.from_str(CCTV_IDENTITY).to_public())
    assert recipient_string(identity.public_key()) == expected


def test_single_case_bech32_is_accepted_in_either_case() -> None:
    assert parse_identity(SPEC_IDENTITY.lower()).private_bytes_raw() == bytes.fromhex(
        "4242424242424242424242424242424242424242424242424242424242424242"
    )
    assert recipient_string(parse_recipient(SPEC_RECIPIENT.upper())) == SPEC_RECIPIENT


def _bech32m(hrp: str, payload: bytes) -> str:
    """The same data with a bech32m checksum (constant 0x2bc830a3), which age does not use."""
    plain = _bech32_encode(hrp, payload)
    data = ["qpzry9x8gf2tvdw0s3jn54khce6mua7l".index(c) for c in plain[len(hrp) + 1 : -6]]
    check = _polymod(hrp, [*data, 0, 0, 0, 0, 0, 0]) ^ 0x2BC830A3
    tail = [check >> 5 * (5 - i) & 31 for i in range(6)]
    return plain[:-6] + "".join("qpzry9x8gf2tvdw0s3jn54khce6mua7l"[d] for d in tail)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (SPEC_RECIPIENT[:-1] + ("q" if SPEC_RECIPIENT[-1] != "q" else "p"), "checksum"),
        (SPEC_RECIPIENT[:10] + SPEC_RECIPIENT[10:].upper(), "not Bech32"),
        (SPEC_RECIPIENT.replace("1", "b", 1), "not Bech32"),
        ("age1", "not Bech32"),
        (SPEC_IDENTITY, "'age' Bech32 string of 32 bytes"),
        (_bech32_encode("age", bytes(31)), "32 bytes"),
        (_bech32_encode("age", bytes(33)), "32 bytes"),
        (_bech32m("age", bytes(range(32))), "checksum"),
        (" " + SPEC_RECIPIENT, "not Bech32"),
    ],
    ids=["typo", "mixed-case", "no-separator", "empty", "identity", "31", "33", "m", "space"],
)
def test_bad_recipient_strings_are_rejected(text: str, fragment: str) -> None:
    with pytest.raises(AgeError, match=re.escape(fragment)):
        parse_recipient(text)


def test_bad_identity_is_rejected_without_echoing_the_secret() -> None:
    typo = SPEC_IDENTITY[:-2] + "QQ"
    with pytest.raises(AgeError) as caught:
        parse_identity(typo)
    assert "checksum" in caught.value.message
    assert typo not in str(caught.value)
    assert caught.value.advice
    with pytest.raises(AgeError, match="age-secret-key-"):
        parse_identity(SPEC_RECIPIENT)


# Interop with pyrage -----------------------------------------------------------------------


@pytest.mark.parametrize("recipients", [1, 3])
@pytest.mark.parametrize("size", SIZES)
def test_our_file_opens_in_pyrage(size: int, recipients: int) -> None:
    ids, data = _pyrage_ids(recipients), _data(size, size)
    blob = _seal(data, [parse_recipient(str(i.to_public())) for i in ids])
    assert pyrage.decrypt(blob, [ids[-1]]) == data
    assert len(blob) == header_length(io.BytesIO(blob)) + size + 16 * max(1, -(-size // CHUNK))


@pytest.mark.parametrize("recipients", [1, 3])
@pytest.mark.parametrize("size", SIZES)
def test_pyrage_file_opens_here(size: int, recipients: int) -> None:
    ids, data = _pyrage_ids(recipients), _data(size, size)
    blob = pyrage.encrypt(data, [i.to_public() for i in ids])
    assert _open(blob, _ours(ids[-1])) == data
    assert _open(blob, _ours(ids[0])) == data


def test_stream_functions_interop_with_small_reads() -> None:
    (identity,) = _pyrage_ids(1)
    data = _data(3 * CHUNK + 5)
    sealed = io.BytesIO()
    encrypt_stream(io.BytesIO(data), sealed, [parse_recipient(str(identity.to_public()))])
    assert pyrage.decrypt(sealed.getvalue(), [identity]) == data
    opened = io.BytesIO()
    theirs = pyrage.encrypt(data, [identity.to_public()])
    decrypt_stream(io.BytesIO(theirs), opened, _ours(identity), read_size=777)
    assert opened.getvalue() == data


def test_header_length_is_the_offset_of_the_first_chunk(key: X25519PrivateKey) -> None:
    encryptor = Encryptor([key.public_key()])
    blob = encryptor.header + encryptor.update(b"x" * 10) + encryptor.finalize()
    src = io.BytesIO(blob)
    assert header_length(src) == len(encryptor.header)
    assert src.tell() == len(encryptor.header)
    with pytest.raises(AgeError, match="truncated"):
        header_length(io.BytesIO(blob[: len(encryptor.header) - 17]))


# The spec's construction, re-derived step by step -------------------------------------------


def test_file_layout_follows_the_spec_step_by_step(key: X25519PrivateKey) -> None:
    """age v1: header, X25519 stanza, header MAC and STREAM payload, with the CCTV testkit's
    file key and randomness (recipient stanza first takes 32 bytes, then the 16-byte nonce)."""
    rng, data = _chacha_rng(), _data(CHUNK + 3)
    eph_secret, nonce = rng(32), rng(16)
    blob = _seal(data, [key.public_key()], file_key=CCTV_FILE_KEY, rng=_chacha_rng())
    recipient = key.public_key().public_bytes_raw()
    eph = X25519PrivateKey.from_private_bytes(eph_secret)
    share = eph.public_key().public_bytes_raw()
    wrap = _hkdf(eph.exchange(key.public_key()), share + recipient, b"age-encryption.org/v1/X25519")
    body = ChaCha20Poly1305(wrap).encrypt(bytes(12), CCTV_FILE_KEY, None)
    covered = b"age-encryption.org/v1\n-> X25519 " + _b64(share) + b"\n" + _b64(body) + b"\n---"
    mac = hmac.HMAC(_hkdf(CCTV_FILE_KEY, b"", b"header"), hashes.SHA256())
    mac.update(covered)
    header = covered + b" " + _b64(mac.finalize()) + b"\n" + nonce
    stream = ChaCha20Poly1305(_hkdf(CCTV_FILE_KEY, nonce, b"payload"))
    first = stream.encrypt(bytes(11) + b"\x00", data[:CHUNK], None)
    last = stream.encrypt((1).to_bytes(11, "big") + b"\x01", data[CHUNK:], None)
    assert blob == header + first + last


def test_cctv_x25519_vector_header_known_answer() -> None:
    """With the testkit's file key and randomness, the header is the vector's, byte for byte,
    and the file opens here and in pyrage."""
    identity = parse_identity(CCTV_X25519_IDENTITY)
    encryptor = Encryptor([identity.public_key()], file_key=CCTV_FILE_KEY, rng=_chacha_rng())
    assert encryptor.header[:-16] == CCTV_X25519_HEADER
    blob = encryptor.header + encryptor.update(b"age") + encryptor.finalize()
    assert _open(blob, identity) == b"age"
    assert pyrage.decrypt(blob, [pyrage.x25519.Identity.from_str(CCTV_X25519_IDENTITY)]) == b"age"


def test_three_stanza_header_known_answer() -> None:
    """A published header: its MAC verifies under the testkit file key, the first stanza opens."""
    nonce = bytes(range(16))
    stream = ChaCha20Poly1305(_hkdf(CCTV_FILE_KEY, nonce, b"payload"))
    blob = THREE_STANZA_HEADER + nonce + stream.encrypt(bytes(11) + b"\x01", b"age", None)
    assert _open(blob, parse_identity(CCTV_X25519_IDENTITY)) == b"age"
    assert pyrage.decrypt(blob, [pyrage.x25519.Identity.from_str(CCTV_X25519_IDENTITY)]) == b"age"
    assert header_length(io.BytesIO(blob)) == len(THREE_STANZA_HEADER) + 16


# Streaming ---------------------------------------------------------------------------------


def _sliced(feed: Callable[[bytes], bytes], data: bytes, cuts: list[int]) -> bytes:
    out, at, i = [], 0, 0
    while at < len(data):
        step = cuts[i % len(cuts)] if cuts else len(data)
        out.append(feed(data[at : at + step]))
        at, i = at + step, i + 1
    return b"".join(out)


@CRYPTO
@given(
    size=PAYLOAD_SIZES,
    seed=st.integers(0, 2**32),
    enc_cuts=st.lists(st.integers(1, 150_000), max_size=12),
    dec_cuts=st.lists(st.integers(1, 150_000), max_size=12),
)
def test_round_trip_under_random_slicing(
    size: int, seed: int, enc_cuts: list[int], dec_cuts: list[int]
) -> None:
    data, identity = _data(size, seed), X25519PrivateKey.from_private_bytes(_data(32, seed))
    encryptor = Encryptor([identity.public_key()], file_key=bytes(16), rng=_chacha_rng())
    body = _sliced(encryptor.update, data, enc_cuts) + encryptor.finalize()
    # Slicing never changes the bytes: one update gives the same file.
    assert encryptor.header + body == _seal(
        data, [identity.public_key()], file_key=bytes(16), rng=_chacha_rng()
    )
    decryptor = Decryptor(identity)
    assert (
        _sliced(decryptor.update, encryptor.header + body, dec_cuts) + decryptor.finalize() == data
    )


@CRYPTO
@given(position=st.integers(0, 2 * SEALED), mask=st.integers(1, 255))
def test_any_single_byte_change_is_rejected(position: int, mask: int) -> None:
    identity = X25519PrivateKey.from_private_bytes(bytes(range(32)))
    blob = bytearray(_seal(_data(CHUNK + 1000), [identity.public_key()], rng=_chacha_rng()))
    blob[position % len(blob)] ^= mask
    with pytest.raises(EvidenceError):
        _open(bytes(blob), identity)


def test_byte_by_byte_feeding(key: X25519PrivateKey) -> None:
    data = _data(CHUNK + 10)
    encryptor = Encryptor([key.public_key()])
    body = b"".join(encryptor.update(data[i : i + 1]) for i in range(len(data)))
    blob = encryptor.header + body + encryptor.finalize()
    decryptor = Decryptor(key)
    opened = b"".join(decryptor.update(blob[i : i + 1]) for i in range(len(blob)))
    assert opened + decryptor.finalize() == data


def test_encryptor_holds_back_the_final_chunk(key: X25519PrivateKey) -> None:
    encryptor = Encryptor([key.public_key()])
    assert encryptor.update(b"a" * CHUNK) == b""  # might be the final chunk: not emitted yet
    assert len(encryptor.update(b"b")) == SEALED
    assert len(encryptor.finalize()) == 1 + 16
    empty = Encryptor([key.public_key()])
    assert empty.update(b"") == b""
    assert len(empty.finalize()) == 16  # age v1 §Payload: an empty payload is one empty chunk


def test_decryptor_releases_only_verified_chunks(key: X25519PrivateKey) -> None:
    data = _data(2 * CHUNK)
    blob = _seal(data, [key.public_key()])
    start = header_length(io.BytesIO(blob))
    decryptor = Decryptor(key)
    assert decryptor.update(blob[: start + SEALED]) == b""  # could be a full final chunk
    assert decryptor.update(blob[start + SEALED : start + SEALED + 1]) == data[:CHUNK]
    assert decryptor.update(blob[start + SEALED + 1 :]) == b""
    assert decryptor.finalize() == data[CHUNK:]


class _Released:
    """An Output that keeps what it is given, as the evidence sink would."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def fill(self, size: int, produce: Callable[[memoryview], object]) -> None:
        room = bytearray(size)
        produce(memoryview(room))
        self.parts.append(bytes(room))


def test_decrypting_into_an_output_releases_nothing_of_a_chunk_that_fails(
    key: X25519PrivateKey,
) -> None:
    data = _data(3 * CHUNK + 7)
    blob = bytearray(_seal(data, [key.public_key()]))
    start = header_length(io.BytesIO(bytes(blob)))
    blob[start + 2 * SEALED + 9] ^= 4  # chunk 2 of 4
    out = _Released()
    with pytest.raises(PackageTampered, match="age payload chunk 2 "):
        Decryptor(key).update_into(bytes(blob), out)
    assert out.parts == [data[:CHUNK], data[CHUNK : 2 * CHUNK]]


def test_a_full_final_chunk_with_data_after_it_is_not_released(key: X25519PrivateKey) -> None:
    blob = _seal(_data(CHUNK), [key.public_key()]) + b"extra"
    out, decryptor = _Released(), Decryptor(key)
    decryptor.update_into(blob, out)
    with pytest.raises(PackageTampered, match="5 bytes after its final chunk 0"):
        decryptor.finalize_into(out)
    assert out.parts == []


def test_encrypting_into_an_output_gives_the_same_file(key: X25519PrivateKey) -> None:
    data = _data(2 * CHUNK + 3)
    encryptor = Encryptor([key.public_key()])
    out = _Released()
    encryptor.update_into(data[:5], out)
    encryptor.update_into(data[5:], out)
    encryptor.finalize_into(out)
    assert [len(part) for part in out.parts] == [SEALED, SEALED, 3 + 16]
    assert _open(encryptor.header + b"".join(out.parts), key) == data


def test_misuse_after_finalize_or_failure_is_refused(key: X25519PrivateKey) -> None:
    encryptor = Encryptor([key.public_key()])
    encryptor.finalize()
    with pytest.raises(AgeError, match="after finalize"):
        encryptor.update(b"x")
    with pytest.raises(AgeError, match="twice"):
        encryptor.finalize()
    decryptor = Decryptor(key)
    with pytest.raises(AgeError):
        decryptor.update(b"not an age file")
    with pytest.raises(AgeError, match="failed file"):
        decryptor.update(b"")
    with pytest.raises(AgeError, match="at least one recipient"):
        Encryptor([])


# Attacks on the payload --------------------------------------------------------------------


@pytest.fixture
def three_chunks(key: X25519PrivateKey) -> tuple[bytes, int, bytes]:
    """(plaintext, payload offset, age file) of 2 full chunks and a 100-byte final chunk."""
    data = _data(2 * CHUNK + 100)
    blob = _seal(data, [key.public_key()])
    return data, header_length(io.BytesIO(blob)), blob


def test_flipped_byte_in_payload_chunk(
    key: X25519PrivateKey, three_chunks: tuple[bytes, int, bytes]
) -> None:
    data, start, blob = three_chunks
    bad = bytearray(blob)
    bad[start + SEALED + 500] ^= 1
    decryptor = Decryptor(key)
    assert decryptor.update(bytes(bad[: start + SEALED + 1])) == data[:CHUNK]  # chunk 0 is fine
    message = re.escape(
        "age payload chunk 1 (bytes 65536..131072 of the plaintext) failed authentication: "
        "the ciphertext was altered or chunks were swapped"
    )
    with pytest.raises(PackageTampered, match=message):
        decryptor.update(bytes(bad[start + SEALED + 1 :]))


def test_flipped_byte_in_final_chunk(
    key: X25519PrivateKey, three_chunks: tuple[bytes, int, bytes]
) -> None:
    _, _, blob = three_chunks
    bad = bytearray(blob)
    bad[-1] ^= 0x80
    with pytest.raises(PackageTampered, match=r"chunk 2 \(bytes 131072..131172 .*cut mid-chunk"):
        _open(bytes(bad), key)


def test_swapped_chunks(key: X25519PrivateKey, three_chunks: tuple[bytes, int, bytes]) -> None:
    _, start, blob = three_chunks
    first, second = blob[start : start + SEALED], blob[start + SEALED : start + 2 * SEALED]
    swapped = blob[:start] + second + first + blob[start + 2 * SEALED :]
    with pytest.raises(PackageTampered, match=r"chunk 0 .*chunks were swapped"):
        _open(swapped, key)


def test_truncated_file_last_chunk_removed(
    key: X25519PrivateKey, three_chunks: tuple[bytes, int, bytes]
) -> None:
    _, _, blob = three_chunks
    with pytest.raises(PackageTampered, match=r"truncated: no final chunk \(it ends after 2 chunk"):
        _open(blob[: -(100 + 16)], key)
    with pytest.raises(PackageTampered, match="cut mid-chunk"):
        _open(blob[:-50], key)


def test_truncated_full_size_final_chunk_removed(key: X25519PrivateKey) -> None:
    blob = _seal(_data(2 * CHUNK), [key.public_key()])
    with pytest.raises(PackageTampered, match=r"no final chunk \(it ends after 1 chunk"):
        _open(blob[:-SEALED], key)


def test_truncated_mid_chunk(key: X25519PrivateKey, three_chunks: tuple[bytes, int, bytes]) -> None:
    _, start, blob = three_chunks
    with pytest.raises(PackageTampered, match=r"chunk 1 \(.*cut mid-chunk"):
        _open(blob[: start + SEALED + 1000], key)
    with pytest.raises(PackageTampered, match=r"chunk 1 .*truncated"):
        _open(blob[: start + SEALED + 10], key)  # not even a tag's worth


def test_truncated_header_and_header_only(
    key: X25519PrivateKey, three_chunks: tuple[bytes, int, bytes]
) -> None:
    _, start, blob = three_chunks
    with pytest.raises(PackageTampered, match="truncated inside its header"):
        _open(blob[:60], key)
    with pytest.raises(PackageTampered, match="truncated inside its header"):
        _open(blob[: start - 1], key)  # the nonce is cut
    with pytest.raises(PackageTampered, match=r"no final chunk \(it ends after 0 chunk"):
        _open(blob[:start], key)


def test_appended_trailing_data(key: X25519PrivateKey) -> None:
    blob = _seal(_data(2 * CHUNK), [key.public_key()])
    with pytest.raises(PackageTampered, match="age file has 12 bytes after its final chunk 1"):
        _open(blob + b"x" * 12, key)
    decryptor = Decryptor(key)  # counted across slices, none of it kept
    decryptor.update(blob + b"y")
    decryptor.update(b"z" * 99)
    with pytest.raises(PackageTampered, match="has 100 bytes after its final chunk"):
        decryptor.finalize()


def test_appended_trailing_data_after_short_final_chunk(key: X25519PrivateKey) -> None:
    blob = _seal(b"short", [key.public_key()])
    with pytest.raises(PackageTampered, match=r"chunk 0 .*extended after its final chunk"):
        _open(blob + b"x" * 12, key)


def test_empty_final_chunk_after_data(key: X25519PrivateKey) -> None:
    """age v1 §Payload: the final chunk MUST NOT be empty unless the whole payload is."""
    encryptor = Encryptor([key.public_key()], file_key=CCTV_FILE_KEY)
    nonce = encryptor.header[-16:]
    stream = ChaCha20Poly1305(_hkdf(CCTV_FILE_KEY, nonce, b"payload"))
    full = stream.encrypt(bytes(12), _data(CHUNK), None)
    empty = stream.encrypt((1).to_bytes(11, "big") + b"\x01", b"", None)
    with pytest.raises(PackageTampered, match=r"chunk 1 .*an empty final chunk after others"):
        _open(encryptor.header + full + empty, key)


# Attacks on the header ---------------------------------------------------------------------


def test_header_edited(key: X25519PrivateKey) -> None:
    blob = _seal(b"evidence", [key.public_key()])
    grease = blob.replace(b"\n---", b"\n-> grease arg\nAAAA\n---", 1)
    with pytest.raises(PackageTampered, match="header MAC does not match: the header was altered"):
        _open(grease, key)
    at = blob.index(b"--- ") + 10
    bad_mac = blob[:at] + bytes([_flip_low_bit(blob[at])]) + blob[at + 1 :]
    with pytest.raises(PackageTampered, match="header MAC does not match"):
        _open(bad_mac, key)


def test_wrong_identity(key: X25519PrivateKey) -> None:
    blob = _seal(b"evidence", [X25519PrivateKey.generate().public_key() for _ in range(2)])
    with pytest.raises(PackageTampered, match=r"opens with the given identity \(wrong key\?\)"):
        _open(blob, key)


def test_stanza_with_non_canonical_base64(key: X25519PrivateKey) -> None:
    blob = _seal(b"evidence", [key.public_key()])
    share_end = blob.index(b"\n", blob.index(b"-> X25519 ")) - 1
    body_end = blob.index(b"\n", share_end + 2) - 1
    for at, where in [(share_end, "ephemeral share"), (body_end, "body of the stanza on line 2")]:
        bad = blob[:at] + bytes([_flip_low_bit(blob[at])]) + blob[at + 1 :]
        with pytest.raises(AgeError, match=f"{where} is not canonical base64"):
            _open(bad, key)


def _replace_line(index: int, new: bytes) -> Callable[[list[bytes]], list[bytes]]:
    return lambda lines: [*lines[:index], new, *lines[index + 1 :]]


GRAMMAR_ATTACKS: dict[str, tuple[Callable[[list[bytes]], list[bytes]], str]] = {
    "padding": (lambda ls: [ls[0], ls[1] + b"=", *ls[2:]], "share is not unpadded base64"),
    "extra-argument": (lambda ls: [ls[0], ls[1] + b" x", *ls[2:]], "2 arguments instead of 1"),
    "missing-argument": (_replace_line(1, b"-> X25519"), "0 arguments instead of 1"),
    "empty-argument": (lambda ls: [ls[0], ls[1].replace(b" ", b"  ", 1), *ls[2:]], "empty"),
    "no-arguments": (_replace_line(1, b"-> "), "argument is empty"),
    "bad-arrow": (lambda ls: [ls[0], ls[1][1:], *ls[2:]], "line 2: expected a '-> ' stanza"),
    "version": (_replace_line(0, b"age-encryption.org/v2"), "is not 'age-encryption.org/v1'"),
    "crlf": (lambda ls: [line + b"\r" for line in ls], "line 1"),
    "long-body": (lambda ls: [*ls[:2], b"A" * 65], "line 3 (stanza of line 2)"),
    "no-final-body-line": (lambda ls: [*ls[:2], b"A" * 64], "the last under 64 columns"),
    "no-stanza": (lambda ls: ls[:1], "expected stanzas, then '--- <MAC>'"),
    "stray-line": (lambda ls: [*ls, b"AAAA"], "line 4: expected a '-> ' stanza"),
    "short-body": (_replace_line(2, b"AAAA"), "its share or its body is not 32 bytes"),
    "scrypt-mixed": (lambda ls: [*ls, b"-> scrypt c2FsdHNhbHRzYWx0c2FsdA 10", b""], "scrypt"),
    "grease-bad-grammar": (lambda ls: [*ls, b"-> grease \x01", b""], "not VCHAR"),
    "grease-bad-body": (lambda ls: [*ls, b"-> grease", b"A==="], "expected a base64 body line"),
}


@pytest.mark.parametrize("attack", list(GRAMMAR_ATTACKS))
def test_header_grammar_is_enforced_even_with_a_valid_mac(
    key: X25519PrivateKey, attack: str
) -> None:
    edit, fragment = GRAMMAR_ATTACKS[attack]
    blob = _seal(b"evidence", [key.public_key()], file_key=CCTV_FILE_KEY)
    with pytest.raises(AgeError, match=re.escape(fragment)):
        _open(_with_header(blob, CCTV_FILE_KEY, edit), key)


def test_other_stanza_types_are_ignored() -> None:
    """age v1 §Recipient stanza: identities MUST ignore unrecognized stanzas."""
    (identity,) = _pyrage_ids(1)
    blob = _seal(b"evidence", [parse_recipient(str(identity.to_public()))], file_key=CCTV_FILE_KEY)
    grease = [b"-> grease-type arg1 4+/=", b"A" * 64, b"QUJD"]
    edited = _with_header(blob, CCTV_FILE_KEY, lambda ls: [ls[0], *grease, *ls[1:]])
    assert _open(edited, _ours(identity)) == b"evidence"
    assert pyrage.decrypt(edited, [identity]) == b"evidence"


def test_low_order_ephemeral_share(key: X25519PrivateKey) -> None:
    """age v1 §X25519: an all-zero shared secret MUST abort."""
    blob = _seal(b"evidence", [key.public_key()], file_key=CCTV_FILE_KEY)
    zero_share = b"-> X25519 " + _b64(bytes(32))
    with pytest.raises(AgeError, match="line 2: the X25519 share is a low-order X25519 point"):
        _open(_with_header(blob, CCTV_FILE_KEY, _replace_line(1, zero_share)), key)
    with pytest.raises(AgeError, match="low-order"):
        Encryptor([X25519PublicKey.from_public_bytes(bytes(32))])


def test_not_an_age_file(key: X25519PrivateKey) -> None:
    with pytest.raises(AgeError, match="not an age file"):
        Decryptor(key).update(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
