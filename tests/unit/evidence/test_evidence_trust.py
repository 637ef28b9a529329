"""Reading a recipient's key and the offline trust anchors: malformed and forged inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.errors import EvidenceError, UnknownParticipant
from accord.evidence.age import identity_string
from accord.evidence.trust import from_cards, read_identity
from accord.identity.keys import write_private_key

PASSPHRASE = "correct horse battery"


def test_an_age_identity_file_with_comments_is_read(tmp_path: Path) -> None:
    key = X25519PrivateKey.generate()
    path = tmp_path / "id.key"
    path.write_text(f"# exported by accord\n\n{identity_string(key)}\n")
    read = read_identity(path, None)
    assert read.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()


def test_a_node_pem_key_is_read_with_the_passphrase(tmp_path: Path) -> None:
    key = X25519PrivateKey.generate()
    write_private_key(tmp_path / "encryption.key.pem", key, PASSPHRASE)
    read = read_identity(tmp_path / "encryption.key.pem", PASSPHRASE)
    assert read.private_bytes_raw() == key.private_bytes_raw()


def test_a_pem_key_without_a_passphrase_says_what_to_set(tmp_path: Path) -> None:
    write_private_key(tmp_path / "k.pem", X25519PrivateKey.generate(), PASSPHRASE)
    with pytest.raises(EvidenceError, match="encrypted with a node passphrase") as caught:
        read_identity(tmp_path / "k.pem", None)
    assert "ACCORD_PASSPHRASE" in caught.value.advice


def test_a_signing_key_is_not_taken_for_a_decryption_key(tmp_path: Path) -> None:
    write_private_key(tmp_path / "s.pem", Ed25519PrivateKey.generate(), PASSPHRASE)
    with pytest.raises(EvidenceError, match="not an X25519 encryption key"):
        read_identity(tmp_path / "s.pem", PASSPHRASE)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "holds 0 keys"),
        ("AGE-SECRET-KEY-1AAAA\nAGE-SECRET-KEY-1BBBB\n", "holds 2 keys"),
        ("AGE-SECRET-KEY-1NOTAVALIDKEY\n", "identity"),
        ("\x00\xff garbage", "identity"),
    ],
    ids=["empty", "two_keys", "bad_checksum", "binary_garbage"],
)
def test_a_malformed_identity_file_is_refused(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "id.key"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(EvidenceError, match=says):
        read_identity(path, None)


def test_a_missing_identity_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match=r"cannot read .*missing\.key"):
        read_identity(tmp_path / "missing.key", None)


def test_cards_only_vouch_for_their_own_participant() -> None:
    lookup = from_cards([])
    with pytest.raises(UnknownParticipant, match="no trusted card for 'ru-gp-ca'"):
        lookup("ru-gp-ca")
