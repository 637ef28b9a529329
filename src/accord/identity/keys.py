"""Node key pairs and their encryption at rest.

Private keys are PKCS#8 PEM encrypted with the node passphrase (``BestAvailableEncryption`` of
`cryptography`); public keys travel as JWKs in the participant card. The ECDSA P-256 key that
signs CAP alerts (XML-DSig, ADR 0013) is optional: nodes created before it have none until
``accord card alert-key`` makes one.

A node's keys have generations (ADR 0018): ``keys/`` holds the first, ``keys/<n>/`` each
later one, and ``keys/rotations.json`` when each is in force from. Every generation is kept:
messages and packages encrypted to an earlier key must still open.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.boundedjson import parse_json
from accord.clock import from_rfc3339, to_rfc3339
from accord.errors import NodeError, PassphraseError

SIGNING_FILE = "signing.key.pem"
ENCRYPTION_FILE = "encryption.key.pem"
ALERT_FILE = "alert-signing.key.pem"

PrivateKey = Ed25519PrivateKey | X25519PrivateKey | ec.EllipticCurvePrivateKey
ROTATIONS_FILE = "rotations.json"


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


@dataclass(frozen=True)
class Generation:
    """One generation of a node's keys: in force from ``since`` (None: from the start);
    ``compromised`` says the generation before it was retired as compromised."""

    number: int
    keys: NodeKeys
    since: datetime | None = None
    compromised: bool = False


@dataclass(frozen=True)
class KeyRing:
    """Every generation of a node's keys, oldest first."""

    generations: tuple[Generation, ...]

    def at(self, moment: datetime) -> NodeKeys:
        """The keys in force at ``moment``."""
        current = self.generations[0]
        for generation in self.generations[1:]:
            if generation.since is not None and generation.since <= moment:
                current = generation
        return current.keys

    @property
    def latest(self) -> Generation:
        return self.generations[-1]

    def decryption_keys(self) -> tuple[X25519PrivateKey, ...]:
        """Every encryption key this node ever had, newest first."""
        return tuple(g.keys.encryption for g in reversed(self.generations))

    @classmethod
    def load(cls, folder: Path, passphrase: str) -> KeyRing:
        first = Generation(0, NodeKeys.load(folder, passphrase))
        later = tuple(
            Generation(n, NodeKeys.load(generation_folder(folder, n), passphrase), since, bad)
            for n, since, bad in _rotations(folder)
        )
        return cls((first, *later))

    def rotate(
        self, folder: Path, passphrase: str, *, since: datetime, compromised: bool
    ) -> KeyRing:
        """Make the next generation, in force from ``since``, and record it durably."""
        latest = self.latest
        if latest.since is not None and since <= latest.since:
            raise NodeError(
                f"a rotation is already set for {to_rfc3339(latest.since)}; the next one must "
                "come after it",
                advice="Pass a later --at.",
            )
        generation = Generation(latest.number + 1, NodeKeys.generate(), since, compromised)
        generation.keys.save(generation_folder(folder, generation.number), passphrase)
        entries = [
            {"generation": n, "since": to_rfc3339(at), "compromised": c}
            for n, at, c in (*_rotations(folder), (generation.number, since, compromised))
        ]
        staged = folder / f"{ROTATIONS_FILE}.new"
        with staged.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(entries, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        staged.replace(folder / ROTATIONS_FILE)
        return KeyRing((*self.generations, generation))


def generation_folder(folder: Path, number: int) -> Path:
    """Where generation ``number`` of the keys in ``folder`` is kept (0: the folder itself)."""
    return folder if number == 0 else folder / str(number)


def _rotations(folder: Path) -> list[tuple[int, datetime, bool]]:
    """(generation, in force from, predecessor compromised) of each rotation, in order."""
    path = folder / ROTATIONS_FILE
    if not path.exists():
        return []
    try:
        entries = parse_json(path.read_bytes(), what=str(path))
        return [
            (int(e["generation"]), from_rfc3339(str(e["since"])), e["compromised"] is True)
            for e in entries
        ]
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise NodeError(
            f"{path} is unreadable: {exc}", advice="Restore the node's keys/ folder from backup."
        ) from exc
