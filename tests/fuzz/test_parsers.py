"""Fuzzing every parser of input from outside (issue 20): random bytes, and mutations of a
genuine sample (bit flips, insertions of hostile tokens, deletions, splices, and JSON values
replaced by hostile JSON). Each parser must either accept or raise an ``AccordError`` (a
``ValueError`` for the timestamp parser): any other exception is a crash a peer could cause.
The envelope, whose wire form is canonical (ADR 0016), must moreover accept no bytes but the
sample's own.

``make test`` runs ``ACCORD_FUZZ_EXAMPLES`` (default 60) examples per parser; ``make fuzz``
runs 5,000 each, and Hypothesis keeps every failure it finds in ``.hypothesis/`` to try
first next time.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.audit.log import log_origin
from accord.audit.merkle import consistency_proof, leaf_hash, perfect_from_leaves, root_of
from accord.audit.models import ConsistencyProof
from accord.audit.note import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    cosign,
    open_checkpoint,
    parse_checkpoint_body,
    sign_checkpoint,
    verify_cosignature,
)
from accord.audit.proofs import consistency_document, verify_document
from accord.audit.witness import format_add_checkpoint, parse_add_checkpoint
from accord.boundedjson import parse_json
from accord.clock import from_rfc3339, to_rfc3339
from accord.documents import load
from accord.envelope.core import open_envelope, seal
from accord.envelope.models import Kind, Opened, Priority, Routing, new_message_id
from accord.envelope.receipt import make_receipt, sign_refusal, verify_receipt, verify_refusal
from accord.errors import AccordError
from accord.evidence.age import Decryptor, Encryptor, header_length
from accord.evidence.transfer import Offer
from accord.federation.auth import sign_request, verify_request
from accord.identity.card import make_card, verify_card
from accord.identity.directory import verify_directory
from accord.requests.validate import validate


def _world() -> Any:
    """The pure core's World of tests/conftest.py, loaded by path: every test folder has a
    module named conftest, so the name alone is ambiguous in a whole-suite run."""
    spec = importlib.util.spec_from_file_location(
        "accord_test_world", Path(__file__).parents[1] / "conftest.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.World()


EXAMPLES = int(os.environ.get("ACCORD_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VN, RU = "vn-mps-247", "ru-gp-ca"
WORLD = _world()
NOW = WORLD.now

# Hostile tokens: what the findings of issue 20 and their class are made of.
# fmt: off
TOKENS = [
    b"9" * 5000, b"-1", b"0" * 30, b"18446744073709551616", b"1e400", b"NaN", b"-Infinity",
    b"[" * 64, b"{" * 64, b'{"a":' * 40, b"]", b"}", b'"\\ud800"', b"\\u0000", b'"', b"\\",
    b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\r\n", b"\n\n", b" ", b"==", b"=", b"-", b"_",
    "\u2014 ".encode(), b"0001-01-01T00:00:00+23:59", b"9999-12-31T23:59:59-23:59",
    b"\xef\xbb\xbf", b",", b":", b"null", b"true", b"[]", b"{}",
]
# fmt: on

_JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["9" * 5000, "\ud800", "A" * 10_000, ""]),
)
HOSTILE_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutate(sample: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    data = bytearray(sample)
    for kind, where, which in ops:
        at = where % (len(data) + 1)
        if kind == 0 and data:  # flip a bit
            data[at % len(data)] ^= 1 << (which % 8)
        elif kind == 1:  # insert a hostile token
            data[at:at] = TOKENS[which % len(TOKENS)]
        elif kind == 2:  # delete a run
            del data[at : at + 1 + which % 16]
        elif kind == 3:  # repeat a slice (duplicate members, extra entries)
            data[at:at] = data[at : at + 1 + which % 64] * (1 + which % 3)
        elif data:  # replace a byte
            data[at % len(data)] = which % 256
    return bytes(data)


def _replace_json(sample: bytes, path_choices: list[int], value: Any) -> bytes:
    """Parse the sample, put ``value`` at a path chosen by ``path_choices``, dump it."""
    document = json.loads(sample)
    node: Any = document
    for choice in path_choices:
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        if not children or not isinstance(node, dict | list):
            break
        key, child = children[choice % len(children)]
        if not isinstance(child, dict | list) or choice % 3 == 0:
            node[key] = value
            break
        node = child
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )


def variants(sample: bytes, *, is_json: bool = False) -> st.SearchStrategy[bytes]:
    """Random bytes, mutations of ``sample`` and, for JSON, hostile JSON values in it."""
    ops = st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 1 << 30), st.integers(0, 1 << 16)),
        min_size=1,
        max_size=8,
    )
    strategies = [st.binary(max_size=512), ops.map(lambda o: _mutate(sample, o))]
    if is_json:
        paths = st.lists(st.integers(0, 1 << 16), min_size=1, max_size=6)
        strategies.append(st.builds(lambda p, v: _replace_json(sample, p, v), paths, HOSTILE_JSON))
    return st.one_of(*strategies)


def survives(
    parse: Callable[[], object], allowed: tuple[type[BaseException], ...] = (AccordError,)
) -> bool:
    """True if ``parse`` accepted; False if it refused with an allowed error; anything else
    propagates and fails the example."""
    try:
        parse()
    except allowed:
        return False
    return True


def open_as_ru(wire: bytes) -> Opened:
    return open_envelope(
        wire, me=RU, my_key=WORLD.keys[RU].encryption, directory=WORLD.directory, now=NOW,
        max_age=3600, skew=300, max_bytes=1 << 20,
    )  # fmt: skip


# The samples --------------------------------------------------------------------------------


def _envelope() -> bytes:
    routing = Routing(new_message_id(NOW), VN, (RU,), NOW, Priority.ROUTINE)
    return seal(
        routing=routing,
        kind=Kind.NOTE,
        body={"subject": "s", "text": "t"},
        signing_key=WORLD.keys[VN].signing,
        recipient_keys={
            RU: WORLD.directory.encryption_key(RU),
            VN: WORLD.directory.encryption_key(VN),
        },
        max_bytes=1 << 20,
    )


ENVELOPE = _envelope()
RECEIPT = make_receipt(
    message_id=new_message_id(NOW),
    sha256="ab" * 32,
    sender=VN,
    receiver=RU,
    received_at=NOW,
    key=WORLD.keys[RU].signing,
)
REFUSAL_BODY = b'{"code":"x"}'
REFUSAL = sign_refusal(REFUSAL_BODY, request_sha256="", signer=RU, key=WORLD.keys[RU].signing)
CARD = make_card(WORLD.participants[VN], WORLD.keys[VN].signing, NOW)
LOG = NoteSigner(log_origin(VN), WORLD.keys[VN].signing)
WITNESS = NoteSigner("accord-witness/ru-gp-ca", WORLD.keys[RU].signing)
LEAVES = [leaf_hash(bytes([i])) for i in range(7)]
NOTE_3 = sign_checkpoint(Checkpoint(LOG.name, 3, root_of(LEAVES[:3])), LOG)
NOTE_7 = sign_checkpoint(Checkpoint(LOG.name, 7, root_of(LEAVES)), LOG)
COSIGNED = cosign(NOTE_7, WITNESS, NOW)
PROOF = tuple(consistency_proof(3, 7, perfect_from_leaves(LEAVES)))
ADD_CHECKPOINT = format_add_checkpoint(3, PROOF, NOTE_7)
PROOF_DOCUMENT = json.dumps(consistency_document(ConsistencyProof(NOTE_3, NOTE_7, PROOF))).encode()
AUTH = sign_request(
    participant=VN,
    key=WORLD.keys[VN].signing,
    audience=RU,
    method="GET",
    target="/audit/v1/checkpoint",
    now=NOW,
)
AGE_KEY = X25519PrivateKey.generate()
_ENCRYPTOR = Encryptor([AGE_KEY.public_key()])
AGE_FILE = _ENCRYPTOR.header + _ENCRYPTOR.update(b"seized mailbox") + _ENCRYPTOR.finalize()
EXAMPLE = Path(__file__).parents[2] / "examples" / "requests" / "preservation.toml"
REQUEST = json.dumps(load(EXAMPLE), default=str).encode()


# The parsers --------------------------------------------------------------------------------


@FUZZ
@given(variants(b'{"a":[1,2.5,"x",{"b":null}],"c":true}', is_json=True))
def test_fuzz_bounded_json_parser(data: bytes) -> None:
    survives(lambda: parse_json(data, what="fuzz"))


@FUZZ
@given(variants(ENVELOPE, is_json=True))
def test_fuzz_envelope_accepts_only_its_canonical_bytes(wire: bytes) -> None:
    if survives(lambda: open_as_ru(wire)) and wire != ENVELOPE:
        # RFC 7516 §7.2.1: another recipient's entry is authenticated for that recipient
        # only. A change there, in canonical form, is the one change a receiver cannot see
        # (ADR 0016, "What the form cannot fix"); everything else must be the sample's.
        got, sealed = json.loads(wire), json.loads(ENVELOPE)
        mine = [i for i, e in enumerate(sealed["recipients"]) if e["header"]["kid"] == f"{RU}#enc"]
        assert [got["recipients"][i] for i in mine] == [sealed["recipients"][i] for i in mine]
        del got["recipients"], sealed["recipients"]
        assert got == sealed


@FUZZ
@given(variants(RECEIPT.token.encode()))
def test_fuzz_receipt(token: bytes) -> None:
    text = token.decode("utf-8", "replace")
    survives(
        lambda: verify_receipt(
            text,
            message_id=RECEIPT.message_id,
            sha256="ab" * 32,
            receiver=RU,
            receiver_key=WORLD.directory.signing_key(RU),
        )
    )


@FUZZ
@given(variants(REFUSAL.encode()), variants(REFUSAL_BODY, is_json=True))
def test_fuzz_signed_refusal(token: bytes, body: bytes) -> None:
    text = token.decode("utf-8", "replace")
    survives(
        lambda: verify_refusal(
            text, body, request_sha256="", signer=RU, key=WORLD.directory.signing_key(RU)
        )
    )


@FUZZ
@given(variants(CARD, is_json=True))
def test_fuzz_card(data: bytes) -> None:
    survives(lambda: verify_card(data))


@FUZZ
@given(variants(WORLD.signed, is_json=True))
def test_fuzz_directory(data: bytes) -> None:
    survives(
        lambda: verify_directory(data, trusted=WORLD.stewards, installed=WORLD.directory, now=NOW)
    )


@FUZZ
@given(variants(NOTE_7))
def test_fuzz_checkpoint_and_signed_note(note: bytes) -> None:
    survives(lambda: open_checkpoint(note, LOG.verifier()))
    survives(lambda: parse_checkpoint_body(note.partition(b"\n\n")[0] + b"\n"))


@FUZZ
@given(variants(COSIGNED))
def test_fuzz_cosignature(note: bytes) -> None:
    survives(lambda: verify_cosignature(note, WITNESS.verifier()))


@FUZZ
@given(variants(ADD_CHECKPOINT))
def test_fuzz_witness_add_checkpoint_request(body: bytes) -> None:
    survives(lambda: parse_add_checkpoint(body))


@FUZZ
@given(variants(LOG.vkey().encode()))
def test_fuzz_verifier_key(vkey: bytes) -> None:
    survives(lambda: NoteVerifier.from_vkey(vkey.decode("utf-8", "replace")))


@FUZZ
@given(variants(PROOF_DOCUMENT, is_json=True))
def test_fuzz_proof_documents(document: bytes) -> None:
    survives(lambda: verify_document(document, LOG.verifier()))


@FUZZ
@given(variants(AUTH.encode()))
def test_fuzz_signed_request_header(token: bytes) -> None:
    text = token.decode("latin-1")
    survives(
        lambda: verify_request(
            text,
            audience=RU,
            method="GET",
            target="/audit/v1/checkpoint",
            directory=WORLD.directory,
            now=NOW,
            window=300,
        )
    )


@FUZZ
@given(data=variants(REQUEST, is_json=True), name=st.sampled_from(["r.json", "r.toml"]))
def test_fuzz_request_records(
    data: bytes, name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("records") / name
    path.write_bytes(data)
    survives(lambda: validate(load(path)))


@FUZZ
@given(variants(Offer(b"a.b.c", (b"d.e.f",), WORLD.signed).to_json(), is_json=True))
def test_fuzz_evidence_offer_and_manifest(body: bytes) -> None:
    def read() -> object:
        offer = Offer.from_json(body)
        from accord.evidence.signing import verify_manifest  # noqa: PLC0415

        return verify_manifest(offer.manifest, WORLD.directory.signing_key)

    survives(read)


@FUZZ
@given(variants(AGE_FILE))
def test_fuzz_age_header_and_payload(blob: bytes) -> None:
    survives(lambda: header_length(io.BytesIO(blob)))

    def decrypt() -> bytes:
        decryptor = Decryptor(AGE_KEY)
        return decryptor.update(blob) + decryptor.finalize()

    if survives(decrypt):
        assert decrypt() == b"seized mailbox"


@FUZZ
@given(variants(to_rfc3339(NOW).encode()))
def test_fuzz_timestamps(text: bytes) -> None:
    survives(lambda: from_rfc3339(text.decode("utf-8", "replace")), (ValueError,))


def test_the_samples_are_accepted() -> None:
    """Guards the suite: every sample above is what its parser accepts."""
    assert open_as_ru(ENVELOPE).body == {"subject": "s", "text": "t"}
    verify_card(CARD)
    verify_directory(WORLD.signed, trusted=WORLD.stewards, installed=None, now=NOW)
    assert open_checkpoint(NOTE_7, LOG.verifier()).size == 7
    assert verify_cosignature(COSIGNED, WITNESS.verifier()) <= NOW + timedelta(seconds=1)
    assert parse_add_checkpoint(ADD_CHECKPOINT).old == 3
    assert "extends" in verify_document(PROOF_DOCUMENT, LOG.verifier())
    assert (
        verify_request(
            AUTH,
            audience=RU,
            method="GET",
            target="/audit/v1/checkpoint",
            directory=WORLD.directory,
            now=NOW,
            window=300,
        )
        == VN
    )
    assert header_length(io.BytesIO(AGE_FILE)) == len(_ENCRYPTOR.header)
    verify_refusal(
        REFUSAL, REFUSAL_BODY, request_sha256="", signer=RU, key=WORLD.directory.signing_key(RU)
    )
    assert validate(parse_json(REQUEST, what="sample")).type == "preservation"
