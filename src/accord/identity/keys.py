"""Node key pairs and their encryption at rest.

Private keys are PKCS#8 PEM encrypted with the node passphrase (``BestAvailableEncryption`` of
`cryptography`); public keys travel as JWKs in the participant card. The ECDSA P-256 key that
signs CAP alerts (XML-DSig, ADR 0013) is optional: nodes created before it have none until
``accord card alert-key`` makes one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.errors import NodeError, PassphraseError

SIGNING_FILE = "signing.key.pem"
ENCRYPTION_FILE = "encryption.key.pem"
ALERT_FILE = "alert-signing.key.pem"

PrivateKey = Ed25519PrivateKey | X25519PrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class NodeKeys:
    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey
    alerting: ec.EllipticCurvePrivateKey | None = None  # P-256, signs CAP alerts (ADR 0013)

    @classmethod
    def generate(cls) -> NodeKeys:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate(), new_alert_key())

    def save(self, folder: Path, passphrase: str) -> None:
        """Write the private keys, encrypted, readable by the owner only."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_key(folder / SIGNING_FILE, self.signing, passphrase)
        write_private_key(folder / ENCRYPTION_FILE, self.encryption, passphrase)
        if self.alerting is not None:
            write_private_key(folder / ALERT_FILE, self.alerting, passphrase)

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
        alerting = _alert_key(folder / ALERT_FILE, passphrase)
        return cls(signing, encryption, alerting)


def _alert_key(path: Path, passphrase: str) -> ec.EllipticCurvePrivateKey | None:
    if not path.exists():
        return None
    key = read_private_key(path, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise NodeError(
            f"{path} is not an ECDSA P-256 key", advice="Restore the node's key files from backup."
        )
    return key


def new_alert_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def add_alert_key(folder: Path, passphrase: str) -> ec.EllipticCurvePrivateKey:
    """Give a node created before alert keys existed its P-256 alert key (never replaced)."""
    if (folder / ALERT_FILE).exists():
        raise NodeError(
            f"{folder / ALERT_FILE} already exists",
            advice="The node has its alert key; export the card with `accord card export`.",
        )
    key = new_alert_key()
    write_private_key(folder / ALERT_FILE, key, passphrase)
    return key


def write_private_key(path: Path, key: PrivateKey, passphrase: str) -> None:
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


def read_private_key(path: Path, passphrase: str) -> PrivateKey:
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
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise NodeError(f"{path} holds an unexpected key type", advice="Restore it from backup.")
    return key
