"""Node key pairs and their encryption at rest.

Private keys are PKCS#8 PEM encrypted with the node passphrase (``BestAvailableEncryption`` of
`cryptography`); public keys travel as JWKs in the participant card.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.errors import NodeError, PassphraseError

SIGNING_FILE = "signing.key.pem"
ENCRYPTION_FILE = "encryption.key.pem"


@dataclass(frozen=True)
class NodeKeys:
    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey

    @classmethod
    def generate(cls) -> NodeKeys:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    def save(self, folder: Path, passphrase: str) -> None:
        """Write both private keys, encrypted, readable by the owner only."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_key(folder / SIGNING_FILE, self.signing, passphrase)
        write_private_key(folder / ENCRYPTION_FILE, self.encryption, passphrase)

    @classmethod
    def load(cls, folder: Path, passphrase: str) -> NodeKeys:
        signing = read_private_key(folder / SIGNING_FILE, passphrase)
        encryption = read_private_key(folder / ENCRYPTION_FILE, passphrase)
        if not isinstance(signing, Ed25519PrivateKey) or not isinstance(
            encryption, X25519PrivateKey
        ):
            raise NodeError(
                f"the keys in {folder} are not an Ed25519 signing key and an X25519 key",
                advice="Restore the node's key files from backup.",
            )
        return cls(signing, encryption)


def write_private_key(
    path: Path, key: Ed25519PrivateKey | X25519PrivateKey, passphrase: str
) -> None:
    check_passphrase(passphrase)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < 8:
        raise NodeError(
            "the passphrase is shorter than 8 characters",
            advice="Choose a longer passphrase (ACCORD_PASSPHRASE or the prompt).",
        )


def read_private_key(path: Path, passphrase: str) -> Ed25519PrivateKey | X25519PrivateKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise NodeError(
            f"cannot read the key file {path}: {exc.strerror}",
            advice="Check --dir / ACCORD_HOME points at a node created by `accord init`.",
        ) from exc
    try:
        key = serialization.load_pem_private_key(pem, passphrase.encode())
    except (ValueError, TypeError) as exc:
        raise PassphraseError(
            f"cannot unlock {path.name}: wrong passphrase or damaged key file",
            advice="Set ACCORD_PASSPHRASE to the passphrase given to `accord init`.",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        raise NodeError(f"{path} holds an unexpected key type", advice="Restore it from backup.")
    return key
