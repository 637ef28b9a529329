"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import settings

from accord.clock import FixedClock
from accord.demo.federation import LocalFederation, NodeSpec
from accord.identity.directory import Directory, draft_bytes, sign_directory, verify_directory
from accord.identity.keys import NodeKeys
from accord.identity.models import (
    DirectoryDocument,
    Group,
    Participant,
    Role,
    StewardSet,
    encryption_kid,
    signing_kid,
)
from accord.jose import public_jwk
from accord.node import home
from pgkit import PostgresServer
from s3kit import S3Server

DATABASES = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=DATABASES,
        default=os.environ.get("ACCORD_TEST_DATABASE", "sqlite"),
        help="Where the nodes the tests create keep their data: the contract suite runs the "
        "federation, requests, evidence and audit tests once on each (ADR 0021).",
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (initdb in a temporary folder, loopback port),
    with a migrated template database; removed at the end."""
    server = PostgresServer().start()
    try:
        server.migrated_template()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session", autouse=True)
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """With ``--database postgresql``, every node a test creates gets a database of its own
    on the session's PostgreSQL server."""
    chosen: str = request.config.getoption("--database")
    if chosen == "sqlite":
        yield chosen
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(home, "new_database", lambda _home: server.new_database())
        yield chosen


# Speed is measured in tests/bench/, not here: an example that takes longer than Hypothesis's
# default 200 ms on a loaded two-core CI machine is not a failure.
settings.register_profile("accord", deadline=None)
settings.load_profile("accord")

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class World:
    """Participants with keys, three stewards (threshold 2) and a verified directory: the pure
    core's whole environment, with no I/O."""

    def __init__(self, ids: tuple[str, ...] = ("vn-mps-247", "ru-gp-ca", "za-doj-ca")) -> None:
        self.now = T0
        self.keys = {pid: NodeKeys.generate() for pid in ids}
        self.participants = {pid: participant(pid, self.keys[pid]) for pid in ids}
        self.steward_keys = {f"steward-{i}": Ed25519PrivateKey.generate() for i in (1, 2, 3)}
        self.stewards = StewardSet(
            keys=tuple(public_jwk(k.public_key(), kid) for kid, k in self.steward_keys.items()),
            threshold=2,
        )
        self.signed = self.sign(self.document())
        self.directory: Directory = verify_directory(
            self.signed, trusted=self.stewards, installed=None, now=self.now
        )

    def document(self, version: int = 1, **changes: object) -> DirectoryDocument:
        fields: dict[str, object] = {
            "federation": "test-federation",
            "version": version,
            "issued_at": self.now,
            "expires_at": self.now + timedelta(days=30),
            "stewards": self.stewards,
            "participants": tuple(self.participants.values()),
            "groups": {"everyone": Group(members=tuple(self.participants))},
        }
        fields.update(changes)
        return DirectoryDocument.model_validate(fields)

    def sign(
        self, document: DirectoryDocument, stewards: tuple[str, ...] = ("steward-1", "steward-2")
    ) -> bytes:
        signed = draft_bytes(document)
        for kid in stewards:
            signed = sign_directory(signed, self.steward_keys[kid], kid)
        return signed


def participant(pid: str, keys: NodeKeys, url: str = "http://127.0.0.1:9") -> Participant:
    return Participant(
        id=pid,
        name=f"Authority {pid}",
        country="VN",
        roles=(Role.CENTRAL_AUTHORITY,),
        languages=("en",),
        url=url,
        signing_key=public_jwk(keys.signing.public_key(), signing_kid(pid)),
        encryption_key=public_jwk(keys.encryption.public_key(), encryption_kid(pid)),
    )


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


TWO_NODES = [
    NodeSpec("vn-mps-247", "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en")),
    NodeSpec("ru-gp-ca", "Russian Federation CA", "RU", (Role.CENTRAL_AUTHORITY,), ("ru", "en")),
]
THREE_NODES = [
    *TWO_NODES,
    NodeSpec("za-doj-ca", "South Africa CA", "ZA", (Role.CENTRAL_AUTHORITY,), ("en",)),
]


@pytest.fixture
def local_federation(tmp_path: Path) -> Iterator[LocalFederation]:
    """Three real nodes (folders, keys, directory installed), not yet started; every node
    process started by the test is stopped at teardown."""
    federation = LocalFederation.create(
        tmp_path, THREE_NODES, {"everyone": tuple(s.id for s in THREE_NODES)}
    )
    try:
        yield federation
    finally:
        for node in federation.nodes.values():
            node.kill()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One S3-compatible server process on loopback for the session (each test takes a new
    bucket from it); tests that kill the store start their own."""
    server = S3Server().start(tmp_path_factory.mktemp("s3") / "moto_server.log")
    try:
        yield server
    finally:
        server.stop()
