"""C2SP signed notes, checkpoints and cosignatures against published vectors, round trips and
attacks. Every vector below is copied from the file named beside it; none is our own output."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from accord.audit.note import (
    MAX_NOTE_BYTES,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    cosign,
    open_checkpoint,
    open_note,
    parse_checkpoint_body,
    sign_checkpoint,
    sign_note,
    signature_lines,
    verify_cosignature,
)
from accord.errors import CheckpointInvalid

DASH = "\u2014"  # the em dash that starts every signature line


def rejects(fragment: str) -> pytest.RaisesExc[CheckpointInvalid]:
    return pytest.raises(CheckpointInvalid, match=re.escape(fragment))


def seeded(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def line(name: str, raw: bytes) -> str:
    return f"{DASH} {name} {base64.b64encode(raw).decode()}\n"


# Published vectors ---------------------------------------------------------------------------

# golang/mod sumdb/note/note_test.go (TestNewSigner, TestSign, TestOpen, TestVerifierList).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    f"{DASH} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq"
    "dngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    f"{DASH} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGw"
    "nWLox33WWd1RvMc+QQ=\n"
)
GO_SIGNED = (GO_TEXT + "\n" + PETER_SIG).encode()

# sigsum/sigsum-go pkg/checkpoint/checkpoint_test.go: key crypto.PrivateKey{17},
# validCheckpointASCII, testCheckpointASCII and the cosignature lines of
# TestCheckpointVerifyCosignatureByKey (cosignature/v1 at timestamp 1234 by example.org/witness).
SIGSUM_KEY = Ed25519PrivateKey.from_private_bytes(bytes([17]) + bytes(31))
SIGSUM_ORIGIN = (
    "sigsum.org/v1/tree/e796172b92befd62d9dc67e41c2f5bc9d3100a3023b20b1ca40288dd1c679e69"
)
SIGSUM_ROOT = "HA5HAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
SIGSUM_SIGNED = (
    f"{SIGSUM_ORIGIN}\n10\n{SIGSUM_ROOT}\n\n{DASH} {SIGSUM_ORIGIN} gJ2ho0n8F8olcerUF1FFdv235A/5as/"
    "coWrpLrtE7ovMeP5whgwouYExowG/lTznxu6OUGjjt5yJQ6bXtTcf718MqAQ=\n"
).encode()
SIGSUM_TEST_CHECKPOINT = (
    f"example.org/log\n10\n{SIGSUM_ROOT}\n\n{DASH} example.org/log DEADBEEFAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
).encode()
_COSIG = "ATSftMzceM8zssdZ9jin9SjwIxzx9iADMf63VqirX2hafol9RsqNqbofIz0LVRqHXI2kpEBSki5RTXFtxz1vo9+C"
SIGSUM_COSIGNATURES = [
    f"{DASH} example.org/witness yX8uUAAAAAAAA{_COSIG}g==\n",  # another key ID
    f"{DASH} example.org/witness ys8uUAAAAAAAA{_COSIG}g==\n",  # the good one
    f"{DASH} example.org/witness-2 ys8uUAAAAAAAA{_COSIG}g==\n",  # another name
    f"{DASH} example.org/witness ys8uUAAAAAAAA{_COSIG}gXX\n",  # another signature size
]

# sigsum/sigsum-go pkg/checkpoint/checkpoint_test.go TestGoSumDBCheckpoint: sum.golang.org's
# live checkpoint of 2024-09-23 and the key from cmd/go/internal/modfetch/key.go.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n30055305\nmXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM=\n\n"
    f"{DASH} sum.golang.org Az3grpgEild5qw7+5dtV13Kf1C2Xurm8q4fhdxvcsDHnqNTaxL2AFjBY+2TyGKevucFc"
    "AAlWFJJYle3EJlDCrQ+y3A8=\n"
).encode()

# FiloSottile/torchwood internal/witness/witness_test.go TestRace: a sigsum log key and three
# checkpoints it signed.
TORCHWOOD_KEY = "ffdc2d4d98e4124d3feaf788c0c2f9abfd796083d1f0495437f302ec79cf100f"
TORCHWOOD_ORIGIN = (
    "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562"
)
TORCHWOOD_CHECKPOINTS = [
    (
        1,
        "KgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "UgIom7fPZTqpxWWhyjWduBvTvGVqsokMbqTArsQ"
        "ilegKoFBJQjUFAmQ0+YeSPM3wfUQMFSzVnnNuWRTYrajXpNUbIQY=",
    ),
    (
        3,
        "RcCI1Nk56ZcSmIEfIn0SleqtV7uvrlXNccFx595Iwl0=",
        "UgIom2VbtIcdFbwFAy1n7s6IkAxIY6J/GQOTuZF"
        "2ORV39d75cbAj2aQYwyJre36kezNobZs4SUUdrcawfAB8WVrx6go=",
    ),
    (
        5,
        "QrtXrQZCCvpIgsSmOsah7HdICzMLLyDfxToMql9WTjY=",
        "UgIomw/EOJmWi0i1FQsOj+etB7F8IccFam/jgd6"
        "wzRns4QPVmyEZtdvl1U2KEmLOZ/ASRcWJi0tW90dJWAShei7sDww=",
    ),
]

# C2SP/C2SP signed-note.md, tlog-checkpoint.md and tlog-cosignature.md: the examples.
C2SP_NOTE = (
    "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n"
    f"{DASH} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKON"
    "rMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
).encode()
C2SP_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    f"{DASH} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    f"{DASH} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
    "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
).encode()

# transparency-dev/formats note/note_cosigv1_test.go TestCoSigV1NewVerifier.
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
TEST_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
# transparency-dev/formats note/note_verifier_test.go: Sigstore's Rekor key, ECDSA (type 0x02).
SIGSTORE_MATERIAL = (
    "AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+smGNM7nwZ4Q"
    "vFK/4sueRoVj//QP22Ni4Qt9DPfkWLc="
)


def go_signer(skey: str) -> NoteSigner:
    """Decode Go's ``PRIVATE+KEY+<name>+<id>+base64(0x01 || seed)`` (sumdb/note NewSigner)."""
    _, _, name, _, material = skey.split("+", 4)
    seed = base64.b64decode(material)
    assert seed[0] == 0x01
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(seed[1:]))


def test_go_key_id_and_vkey_are_reproduced() -> None:
    signer = go_signer(GO_SKEY)
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.vkey() == PETER_VKEY
    assert NoteVerifier.from_vkey(PETER_VKEY) == signer.verifier()


def test_go_signature_is_reproduced_byte_for_byte() -> None:
    assert sign_note(GO_TEXT.encode(), go_signer(GO_SKEY)) == GO_SIGNED


def test_go_signed_note_opens() -> None:
    assert open_note(GO_SIGNED, NoteVerifier.from_vkey(PETER_VKEY)) == GO_TEXT.encode()


def test_go_doubly_signed_note_opens_with_either_key_and_ignores_the_other() -> None:
    note = (GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    for vkey in (PETER_VKEY, ENOCH_VKEY):
        assert open_note(note, NoteVerifier.from_vkey(vkey)) == GO_TEXT.encode()
    assert [name for name, _ in signature_lines(note)] == ["PeterNeumann", "EnochRoot"]
    assert signature_lines(note)[1][1][:4].hex() == "af0cfe78"


def test_signing_adds_to_an_existing_note_after_its_lines() -> None:
    existing = (GO_TEXT + "\n" + ENOCH_SIG).encode()
    signed = sign_note(GO_TEXT.encode(), go_signer(GO_SKEY), existing=existing)
    assert signed == (GO_TEXT + "\n" + ENOCH_SIG + PETER_SIG).encode()


def test_signing_replaces_an_existing_line_by_the_same_key() -> None:
    # sumdb/note TestSign: "Check that existing signature is replaced by new one."
    stale = line("PeterNeumann", bytes.fromhex("c74f20a3") + bytes(64))
    existing = (GO_TEXT + "\n" + stale).encode()
    assert sign_note(GO_TEXT.encode(), go_signer(GO_SKEY), existing=existing) == GO_SIGNED


def test_existing_note_over_another_text_is_refused() -> None:
    with rejects("the existing note's text differs from the text being signed"):
        sign_note(b"another text\n", go_signer(GO_SKEY), existing=GO_SIGNED)


def test_sigsum_checkpoint_signature_is_reproduced_and_opens() -> None:
    signer = NoteSigner(SIGSUM_ORIGIN, SIGSUM_KEY)
    checkpoint = Checkpoint(SIGSUM_ORIGIN, 10, base64.b64decode(SIGSUM_ROOT))
    assert sign_checkpoint(checkpoint, signer) == SIGSUM_SIGNED
    assert open_checkpoint(SIGSUM_SIGNED, signer.verifier()) == checkpoint


def test_sigsum_cosignature_is_reproduced_byte_for_byte() -> None:
    witness = NoteSigner("example.org/witness", SIGSUM_KEY)
    cosigned = cosign(SIGSUM_TEST_CHECKPOINT, witness, datetime.fromtimestamp(1234, UTC))
    assert cosigned == SIGSUM_TEST_CHECKPOINT + SIGSUM_COSIGNATURES[1].encode()
    assert witness.cosignature_key_id.hex() == "cacf2e50"


def test_sigsum_cosignature_verifies_among_lines_of_other_keys() -> None:
    note = SIGSUM_TEST_CHECKPOINT + "".join(SIGSUM_COSIGNATURES[:3]).encode()
    witness = NoteVerifier("example.org/witness", SIGSUM_KEY.public_key())
    assert verify_cosignature(note, witness) == datetime(1970, 1, 1, 0, 20, 34, tzinfo=UTC)


def test_second_line_by_the_witness_key_rejects_the_note() -> None:
    # sigsum skips the fourth line for its size; its name and key ID are the witness's, so
    # C2SP signed-note §Signatures says it must be verified: Accord refuses the ambiguity.
    note = SIGSUM_TEST_CHECKPOINT + "".join(SIGSUM_COSIGNATURES).encode()
    witness = NoteVerifier("example.org/witness", SIGSUM_KEY.public_key())
    with rejects("note has 2 signature lines by key example.org/witness+cacf2e50; one is allowed"):
        verify_cosignature(note, witness)


def test_sum_golang_org_checkpoint_opens_as_a_note() -> None:
    text = open_note(SUMDB_NOTE, NoteVerifier.from_vkey(SUMDB_VKEY))
    checkpoint = parse_checkpoint_body(text)
    assert (checkpoint.origin, checkpoint.size) == ("go.sum database tree", 30055305)
    assert checkpoint.root.hex()[:8] == "9977e045"


def test_sum_golang_org_origin_is_not_its_key_name() -> None:
    with rejects(
        "checkpoint origin 'go.sum database tree' differs from the log key name 'sum.golang.org'"
    ):
        open_checkpoint(SUMDB_NOTE, NoteVerifier.from_vkey(SUMDB_VKEY))


@pytest.mark.parametrize(("size", "root", "signature"), TORCHWOOD_CHECKPOINTS)
def test_torchwood_sigsum_checkpoints_open(size: int, root: str, signature: str) -> None:
    verifier = NoteVerifier(
        TORCHWOOD_ORIGIN, Ed25519PublicKey.from_public_bytes(bytes.fromhex(TORCHWOOD_KEY))
    )
    note = f"{TORCHWOOD_ORIGIN}\n{size}\n{root}\n\n{DASH} {TORCHWOOD_ORIGIN} {signature}\n"
    checkpoint = open_checkpoint(note.encode(), verifier)
    assert (checkpoint.size, base64.b64encode(checkpoint.root).decode()) == (size, root)


def test_c2sp_signed_note_example_splits_at_the_last_blank_line() -> None:
    ((name, raw),) = signature_lines(C2SP_NOTE)
    assert (name, len(raw)) == ("quasimodo.example/salvatore", 4 + 64)


def test_c2sp_checkpoint_and_cosignature_example_parse() -> None:
    text = C2SP_CHECKPOINT.split(b"\n\n")[0] + b"\n"
    checkpoint = parse_checkpoint_body(text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.body() == text
    log, witness = signature_lines(C2SP_CHECKPOINT)
    assert (log[0], len(log[1])) == ("example.com/behind-the-sofa", 68)
    # tlog-cosignature.md's signed message example reads "time 1679315147".
    assert witness[0] == "witness.example.com/w1"
    assert int.from_bytes(witness[1][4:12], "big") == 1679315147


def test_transparency_dev_cosignature_vkey_round_trips() -> None:
    verifier = NoteVerifier.from_vkey(REMORA_VKEY)
    assert verifier.cosignature_key_id.hex() == "da77ade7"
    assert verifier.cosignature_vkey() == REMORA_VKEY
    assert NoteVerifier.from_vkey(TEST_VKEY).vkey() == TEST_VKEY


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("bananas.sigstore.dev+12344556", "verifier key is not <name>+<hex key ID>+<base64 key>"),
        ("rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!", "verifier key is not standard base64"),
        ("rekor.sigstore.dev+12345678+AwEB", "signature type 0x03 is not supported"),
        ("rekor.sigstore.dev+NOT_A_NUMBER+" + SIGSTORE_MATERIAL, "is not 8 hex digits"),
        (
            "rekor.sigstore.dev+c0d23d6a+" + SIGSTORE_MATERIAL,
            "signature type 0x02 is not supported",
        ),
        # golang/mod sumdb/note/note_test.go TestNewVerifier, with adjusted key hashes:
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "verifier key is not canonical base64",  # Go ignores the stray bits; we do not
        ),
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEYAA",
            "verifier key: Ed25519 public key is 38 bytes, not 32",
        ),
        (
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "signature type 0x65 is not supported",
        ),
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "declared key ID c74f20a4 does not match the name and key",
        ),
        ("Peter Neumann+c74f20a3+AAAA", "contains a space, '+' or control character"),
    ],
)
def test_malformed_vkeys_are_refused(vkey: str, message: str) -> None:
    with rejects(message):
        NoteVerifier.from_vkey(vkey)


def test_every_mangling_of_a_go_vkey_is_refused() -> None:
    # sumdb/note TestNewVerifier: every proper substring and every one-byte increment fails.
    for start in range(len(PETER_VKEY) + 1):
        for end in range(start + 1, len(PETER_VKEY) + 1):
            if (start, end) != (0, len(PETER_VKEY)):
                with pytest.raises(CheckpointInvalid):
                    NoteVerifier.from_vkey(PETER_VKEY[start:end])
    for index, char in enumerate(PETER_VKEY):
        with pytest.raises(CheckpointInvalid):
            NoteVerifier.from_vkey(
                PETER_VKEY[:index] + chr(ord(char) + 1) + PETER_VKEY[index + 1 :]
            )


# Round trips ---------------------------------------------------------------------------------

LOG = NoteSigner("accord-audit/vn-mps-247", seeded("log"))
WITNESS = NoteSigner("witness.example/w1", seeded("witness"))
OTHER = seeded("other")

names = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters="+"),
    min_size=1,
    max_size=60,
)
extensions = st.lists(
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=40), max_size=4
).map(tuple)
checkpoints = st.builds(
    Checkpoint,
    origin=names,
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=extensions,
)
times = st.datetimes(
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(9999, 12, 31, 23, 59, 59),  # noqa: DTZ001 - as above
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=5))]),
)


@given(checkpoints)
def test_checkpoint_body_round_trips(checkpoint: Checkpoint) -> None:
    assert parse_checkpoint_body(checkpoint.body()) == checkpoint


@given(checkpoints)
def test_signed_checkpoint_round_trips(checkpoint: Checkpoint) -> None:
    signer = NoteSigner(checkpoint.origin, OTHER)
    assert open_checkpoint(sign_checkpoint(checkpoint, signer), signer.verifier()) == checkpoint


@given(checkpoints, times)
def test_cosignature_round_trips(checkpoint: Checkpoint, now: datetime) -> None:
    signer = NoteSigner(checkpoint.origin, OTHER)
    cosigned = cosign(sign_checkpoint(checkpoint, signer), WITNESS, now)
    assert verify_cosignature(cosigned, WITNESS.verifier()) == now.replace(microsecond=0)
    assert open_checkpoint(cosigned, signer.verifier()) == checkpoint


@given(st.lists(st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=30), min_size=1))
def test_note_text_round_trips(lines: list[str]) -> None:
    text = "".join(f"{part}\n" for part in lines).encode()
    assert open_note(sign_note(text, LOG), LOG.verifier()) == text


@given(names, st.binary(min_size=32, max_size=32))
def test_vkeys_round_trip(name: str, seed: bytes) -> None:
    verifier = NoteSigner(name, Ed25519PrivateKey.from_private_bytes(seed)).verifier()
    assert NoteVerifier.from_vkey(verifier.vkey()) == verifier
    assert NoteVerifier.from_vkey(verifier.cosignature_vkey()) == verifier


def test_sixteen_signers_and_a_hundred_lines_are_accepted() -> None:
    # C2SP signed-note §Format: verifiers MUST accept at least 16 signatures.
    note = sign_checkpoint(Checkpoint(LOG.name, 7, bytes(32)), LOG)
    for i in range(99):
        note = sign_note(note.split(b"\n\n")[0] + b"\n", NoteSigner(f"s{i}", OTHER), existing=note)
    assert len(signature_lines(note)) == 100
    assert open_checkpoint(note, LOG.verifier()).size == 7


# Attacks -------------------------------------------------------------------------------------

CHECKPOINT = Checkpoint(LOG.name, 42, hashlib.sha256(b"root").digest())
SIGNED = sign_checkpoint(CHECKPOINT, LOG)
LOG_KEY = f"{LOG.name}+{LOG.key_id.hex()}"
WITNESS_KEY = f"{WITNESS.name}+{WITNESS.cosignature_key_id.hex()}"


def text_of(note: bytes) -> bytes:
    return note[: note.rindex(b"\n\n") + 1]


def test_flipped_byte_in_body_is_rejected() -> None:
    tampered = SIGNED.replace(b"\n42\n", b"\n43\n", 1)
    with rejects(f"signature by key {LOG_KEY} does not verify"):
        open_checkpoint(tampered, LOG.verifier())


def test_flipped_byte_in_signature_is_rejected() -> None:
    ((name, raw),) = signature_lines(SIGNED)
    flipped = raw[:20] + bytes([raw[20] ^ 1]) + raw[21:]
    tampered = text_of(SIGNED) + b"\n" + line(name, flipped).encode()
    with rejects(f"signature by key {LOG_KEY} does not verify"):
        open_checkpoint(tampered, LOG.verifier())


def test_signature_by_another_key_with_the_same_name_is_ignored() -> None:
    impostor = NoteSigner(LOG.name, OTHER)
    note = sign_checkpoint(CHECKPOINT, impostor)
    with rejects(
        f"note carries no Ed25519 note signature (type 0x01) by key {LOG_KEY}; lines named "
        f"{LOG.name} carry key ID(s) {impostor.key_id.hex()}"
    ):
        open_checkpoint(note, LOG.verifier())


def test_signature_by_another_key_claiming_our_key_id_fails_verification() -> None:
    forged = line(LOG.name, LOG.key_id + OTHER.sign(CHECKPOINT.body()))
    with rejects(f"signature by key {LOG_KEY} does not verify"):
        open_checkpoint(CHECKPOINT.body() + b"\n" + forged.encode(), LOG.verifier())


def test_right_key_id_under_another_name_is_ignored() -> None:
    ((_, raw),) = signature_lines(SIGNED)
    renamed = text_of(SIGNED) + b"\n" + line("accord-audit/ru-gp-ca", raw).encode()
    with rejects(f"note carries no Ed25519 note signature (type 0x01) by key {LOG_KEY}"):
        open_checkpoint(renamed, LOG.verifier())


def test_checkpoint_whose_origin_differs_from_the_key_name_is_rejected() -> None:
    foreign = Checkpoint("accord-audit/ru-gp-ca", 42, CHECKPOINT.root)
    note = sign_note(foreign.body(), LOG)
    with rejects(
        f"checkpoint origin 'accord-audit/ru-gp-ca' differs from the log key name '{LOG.name}'"
    ):
        open_checkpoint(note, LOG.verifier())
    with rejects("checkpoint origin 'accord-audit/ru-gp-ca' differs from the log key name"):
        sign_checkpoint(foreign, LOG)


def test_missing_final_newline_is_rejected() -> None:
    with rejects("last signature line does not end with a newline"):
        open_checkpoint(SIGNED[:-1], LOG.verifier())
    with rejects("checkpoint text does not end with a newline"):
        parse_checkpoint_body(CHECKPOINT.body()[:-1])
    # sumdb/note TestSign: "Sign with short text".
    with rejects("note text does not end with a newline"):
        sign_note(b"abc", LOG)


def test_extra_blank_line_after_a_signed_checkpoint_is_rejected() -> None:
    note = sign_note(CHECKPOINT.body() + b"\n", LOG)
    assert open_note(note, LOG.verifier()) == CHECKPOINT.body() + b"\n"
    with rejects("line 4 (extension) is empty; checkpoint lines MUST be non-empty"):
        open_checkpoint(note, LOG.verifier())


def test_blank_line_between_signatures_moves_them_into_the_text() -> None:
    note = (GO_TEXT + "\n" + PETER_SIG + "\n" + ENOCH_SIG).encode()
    with rejects("note carries no Ed25519 note signature (type 0x01) by key PeterNeumann+c74f20a3"):
        open_note(note, NoteVerifier.from_vkey(PETER_VKEY))


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("007", "line 2 (tree size) '007' has a leading zero"),
        ("00", "line 2 (tree size) '00' has a leading zero"),
        ("-34", "line 2 (tree size) '-34' is not an ASCII decimal number"),
        ("+5", "line 2 (tree size) '+5' is not an ASCII decimal number"),
        ("0x10", "line 2 (tree size) '0x10' is not an ASCII decimal number"),
        ("bananas", "line 2 (tree size) 'bananas' is not an ASCII decimal number"),
        (" 5", "line 2 (tree size) ' 5' is not an ASCII decimal number"),
        ("\u0661\u0662", "line 2 (tree size) '\u0661\u0662' is not an ASCII decimal number"),
        ("", "line 2 (tree size) '' is not an ASCII decimal number"),
        ("18446744073709551616", "line 2 (tree size) '18446744073709551616' is over 2^64-1"),
        ("3438945738945739845734895735", "is over 2^64-1"),
        ("9" * 5000, "is over 2^64-1"),
    ],
)
def test_non_decimal_or_leading_zero_size_is_rejected(size: str, message: str) -> None:
    with rejects(message):
        parse_checkpoint_body(f"log\n{size}\n{base64.b64encode(bytes(32)).decode()}\n".encode())


@pytest.mark.parametrize("size", ["0", "1", "18446744073709551615"])
def test_size_bounds_are_accepted(size: str) -> None:
    body = f"log\n{size}\n{base64.b64encode(bytes(32)).decode()}\n".encode()
    assert parse_checkpoint_body(body).size == int(size)


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("YmFuYW5hcw==", "line 3 (root hash) is 7 bytes; an RFC 6962 SHA-256 root is 32"),
        (base64.b64encode(bytes(33)).decode(), "line 3 (root hash) is 33 bytes"),
        ("ThisIsn'tBase64", "line 3 (root hash) is not standard base64"),
        ("_" * 43 + "=", "line 3 (root hash) is not standard base64"),
        ("A" * 42 + "B=", "line 3 (root hash) is not canonical base64"),
        ("A" * 43, "line 3 (root hash) is not standard base64"),
    ],
)
def test_root_that_is_not_32_bytes_of_base64_is_rejected(root: str, message: str) -> None:
    with rejects(message):
        parse_checkpoint_body(f"log\n1\n{root}\n".encode())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"Head\n9944\n", "checkpoint has 2 line(s); origin, tree size and root hash are required"),
        (b"\n1\n" + base64.b64encode(bytes(32)) + b"\n", "line 1 (origin) is empty"),
        (b"log\n1\n" + base64.b64encode(bytes(32)) + b"\n\nx\n", "line 4 (extension) is empty"),
        (b"log\r\n1\n", "checkpoint line 1 contains control character U+000D"),
    ],
)
def test_malformed_checkpoint_text_is_rejected(body: bytes, message: str) -> None:
    with rejects(message):
        parse_checkpoint_body(body)


def test_cosignature_replayed_over_a_different_checkpoint_is_rejected() -> None:
    cosigned = cosign(SIGNED, WITNESS, datetime(2026, 11, 24, tzinfo=UTC))
    witness_line = cosigned[len(SIGNED) :]
    other = sign_checkpoint(Checkpoint(LOG.name, 43, CHECKPOINT.root), LOG)
    with rejects(f"cosignature by key {WITNESS_KEY} does not verify"):
        verify_cosignature(other + witness_line, WITNESS.verifier())


def test_cosignature_carrying_the_note_key_id_is_ignored() -> None:
    # A genuine cosignature/v1 body, but under the type 0x01 key ID instead of type 0x04.
    message = b"cosignature/v1\ntime 1800000000\n" + CHECKPOINT.body()
    raw = WITNESS.key_id + (1800000000).to_bytes(8, "big") + WITNESS.key.sign(message)
    with rejects(
        f"note carries no cosignature/v1 (type 0x04) by key {WITNESS_KEY}; lines named "
        f"{WITNESS.name} carry key ID(s) {WITNESS.key_id.hex()}"
    ):
        verify_cosignature(SIGNED + line(WITNESS.name, raw).encode(), WITNESS.verifier())


def test_cosignature_does_not_pass_as_a_log_signature() -> None:
    witness_as_log = NoteSigner(LOG.name, WITNESS.key)
    cosigned = cosign(SIGNED, witness_as_log, datetime(2026, 11, 24, tzinfo=UTC))
    with rejects(f"note carries no Ed25519 note signature (type 0x01) by key {LOG.name}+"):
        open_checkpoint(
            CHECKPOINT.body() + b"\n" + cosigned[len(SIGNED) :], witness_as_log.verifier()
        )


def test_cosigning_again_replaces_the_witness_line() -> None:
    first = cosign(SIGNED, WITNESS, datetime(2026, 11, 24, tzinfo=UTC))
    second = cosign(first, WITNESS, datetime(2026, 11, 25, tzinfo=UTC))
    assert len(signature_lines(second)) == 2
    assert verify_cosignature(second, WITNESS.verifier()) == datetime(2026, 11, 25, tzinfo=UTC)


def test_cosignature_with_a_timestamp_over_2_63_is_rejected() -> None:
    raw = WITNESS.cosignature_key_id + (2**63).to_bytes(8, "big") + bytes(64)
    with rejects(
        f"cosignature by key {WITNESS_KEY} has timestamp 9223372036854775808, over 2^63-1"
    ):
        verify_cosignature(SIGNED + line(WITNESS.name, raw).encode(), WITNESS.verifier())


def test_truncated_cosignature_is_rejected() -> None:
    raw = WITNESS.cosignature_key_id + bytes(8 + 63)
    with rejects(f"cosignature by key {WITNESS_KEY} is 71 bytes; timestamp and Ed25519"):
        verify_cosignature(SIGNED + line(WITNESS.name, raw).encode(), WITNESS.verifier())


def test_cosigning_anything_but_a_checkpoint_is_refused() -> None:
    with rejects("checkpoint has 2 line(s)"):
        cosign(GO_SIGNED, WITNESS, datetime(2026, 11, 24, tzinfo=UTC))


def test_cosigning_needs_an_aware_time_after_1970() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cosign(SIGNED, WITNESS, datetime(2026, 11, 24))  # noqa: DTZ001 - the naive time under test
    with pytest.raises(ValueError, match="before 1970"):
        cosign(SIGNED, WITNESS, datetime(1969, 12, 31, tzinfo=UTC))


def test_note_with_101_signatures_is_rejected() -> None:
    # sumdb/note TestOpen: "Check too many signatures."
    note = (GO_TEXT + "\n" + PETER_SIG * 101).encode()
    with rejects("note has 101 signature lines; the limit is 100"):
        open_note(note, NoteVerifier.from_vkey(PETER_VKEY))


def test_adding_a_101st_signature_is_refused() -> None:
    note = SIGNED
    for i in range(99):
        note = sign_note(CHECKPOINT.body(), NoteSigner(f"s{i}", OTHER), existing=note)
    with rejects("note has 101 signature lines; the limit is 100"):
        cosign(note, WITNESS, datetime(2026, 11, 24, tzinfo=UTC))


def test_duplicate_line_by_the_verifier_key_is_rejected() -> None:
    note = (GO_TEXT + "\n" + PETER_SIG + PETER_SIG).encode()
    with rejects("note has 2 signature lines by key PeterNeumann+c74f20a3; one is allowed"):
        open_note(note, NoteVerifier.from_vkey(PETER_VKEY))


def test_oversized_note_is_rejected() -> None:
    with rejects(f"note is {MAX_NOTE_BYTES + 1} bytes; the limit is {MAX_NOTE_BYTES}"):
        open_note(b"a" * (MAX_NOTE_BYTES + 1), LOG.verifier())
    with rejects(f"note text is {MAX_NOTE_BYTES + 1} bytes; the limit is {MAX_NOTE_BYTES}"):
        sign_note(b"a" * MAX_NOTE_BYTES + b"\n", LOG)


def test_note_of_exactly_the_limit_is_accepted() -> None:
    signature_line_bytes = len(line(LOG.name, bytes(68)).encode())
    text = b"a" * (MAX_NOTE_BYTES - signature_line_bytes - 2) + b"\n"
    note = sign_note(text, LOG)
    assert len(note) == MAX_NOTE_BYTES
    assert open_note(note, LOG.verifier()) == text


@pytest.mark.parametrize(
    ("note", "message"),
    [
        # sumdb/note TestOpen "Invalid encoded message syntax", in order:
        (GO_TEXT.encode(), "note has no blank line before its signatures"),
        ((GO_TEXT + "\n").encode(), "note has no signature lines"),
        ((GO_TEXT + "\n" + PETER_SIG[:-1]).encode(), "last signature line does not end with"),
        (b"\x01" + GO_SIGNED, "note line 1 contains control character U+0001"),
        (b"\xff" + GO_SIGNED, "note is not valid UTF-8 at byte 0"),
        (
            (GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")).encode(),
            "signature line 1 signature is not standard base64",
        ),
        (GO_SIGNED + b"Unexpected line.\n", "signature line 2 does not start with an em dash"),
        # and further rules of C2SP signed-note §Format:
        (GO_SIGNED.replace(b"\n", b"\r\n"), "note line 1 contains control character U+000D"),
        (GO_SIGNED + b"\xed\xa0\x80\n", "note is not valid UTF-8 at byte"),
        (GO_SIGNED.replace(b"PeterNeumann", b"Peter+Neumann"), "key name 'Peter+Neumann' contains"),
        (GO_SIGNED.replace(b"PeterNeumann", b"Peter\xc2\xa0Neumann"), "contains a space"),
        (GO_SIGNED.replace(b"PeterNeumann x", b"PeterNeumann\tx"), "control character U+0009"),
        (GO_SIGNED.replace(b"\xe2\x80\x94 ", b"-- "), "does not start with an em dash"),
        (GO_SIGNED.replace(b"\xe2\x80\x94 ", b"\xe2\x80\x94"), "does not start with an em dash"),
        ((GO_TEXT + f"\n{DASH} PeterNeumann\n").encode(), "has no space between key name and"),
        ((GO_TEXT + f"\n{DASH}  AAAAAAAA\n").encode(), "signature line 1: key name is empty"),
        ((GO_TEXT + f"\n{DASH} PeterNeumann AAAA\n").encode(), "carries 3 bytes; a 4-byte key ID"),
        ((GO_TEXT + f"\n{DASH} x {'A' * 9000}\n").encode(), "signature line 1 is over 8192 bytes"),
        (
            GO_SIGNED.replace(b"AcElZInNIuGUgYN1FFYC2pZS", b"AcElZInN-uGUgYN1FFYC2pZS"),
            "signature line 1 signature is not standard base64",
        ),
    ],
)
def test_malformed_note_is_rejected(note: bytes, message: str) -> None:
    with rejects(message):
        open_note(note, NoteVerifier.from_vkey(PETER_VKEY))


def test_wrong_length_signature_under_our_key_is_rejected() -> None:
    # sumdb/note TestOpen "Invalid signature": four base64 characters spliced into the line.
    tampered = (GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]).encode()
    with rejects("signature by key PeterNeumann+c74f20a3 is 67 bytes; an Ed25519 signature is 64"):
        open_note(tampered, NoteVerifier.from_vkey(PETER_VKEY))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: NoteSigner("", OTHER), "signer: key name is empty"),
        (lambda: NoteSigner("a b", OTHER), "signer: key name 'a b' contains a space"),
        (lambda: NoteSigner("x" * 256, OTHER), "signer: key name is over 255 bytes"),
        (lambda: Checkpoint("o" * 256, 1, bytes(32)), "line 1 (origin) is over 255 bytes"),
        (lambda: Checkpoint("o", -1, bytes(32)), "line 2 (tree size) -1 is not in [0, 2^64-1]"),
        (lambda: Checkpoint("o", 2**64, bytes(32)), "is not in [0, 2^64-1]"),
        (lambda: Checkpoint("o", 1, bytes(31)), "line 3 (root hash) is 31 bytes"),
        (lambda: Checkpoint("o", 1, bytes(32), ("",)), "line 4 (extension) is empty"),
        (lambda: Checkpoint("o", 1, bytes(32), ("a\nb",)), "line 4 (extension) contains a newline"),
        (lambda: Checkpoint("o\ud800", 1, bytes(32)), "line 1 (origin) is not encodable as UTF-8"),
    ],
)
def test_invalid_signers_and_checkpoints_cannot_be_built(
    build: Callable[[], object], message: str
) -> None:
    with rejects(message):
        build()
