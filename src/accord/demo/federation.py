"""A federation of real node processes on loopback: used by ``accord demo``, the integration
and fault tests, and the benchmarks."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.clock import Clock, SystemClock
from accord.config import Settings, load_settings
from accord.errors import NodeError
from accord.identity.areas import AreaOfInterest
from accord.identity.directory import draft_bytes, sign_directory
from accord.identity.models import DirectoryDocument, Group, Participant, Role, StewardSet
from accord.identity.registry import Registry
from accord.identity.service import DirectoryStore
from accord.jose import public_jwk
from accord.node.home import Identity, Node, init_node

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class NodeSpec:
    id: str
    name: str
    country: str
    roles: tuple[Role, ...]
    languages: tuple[str, ...]
    areas: tuple[AreaOfInterest, ...] = ()  # an early-warning node's areas of interest


@dataclass
class LocalNode:
    spec: NodeSpec
    home: Path
    url: str
    participant: Participant
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self, extra_env: dict[str, str] | None = None, port: int | None = None) -> None:
        """Start ``accord serve`` for this node and wait until it answers. With ``port`` it
        listens there instead of on its directory URL's port (fault tests put a proxy there)."""
        self.log_path = self.home / "serve.log"
        log = self.log_path.open("ab")
        argv = [sys.executable, "-m", "accord", "serve", "--dir", str(self.home)]
        if port is not None:
            argv += ["--port", str(port)]
        self.process = subprocess.Popen(
            argv,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait_ready(port)

    def wait_ready(self, port: int | None = None) -> None:
        base = self.url if port is None else f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise NodeError(f"{self.spec.id} exited at start; see {self.log_path}")
            try:
                health = base + "/federation/v1/health"  # http on loopback, built here
                with urllib.request.urlopen(health, timeout=1) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise NodeError(f"{self.spec.id} did not answer within {STARTUP_TIMEOUT} s")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up (crash tests)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def settings(self) -> Settings:
        return load_settings(home=self.home)

    def open(self, clock: Clock | None = None) -> Node:
        """Open this node's folder in the calling process (to send, read or inspect)."""
        return Node.open(self.settings(), clock or SystemClock(), self.env["ACCORD_PASSPHRASE"])


@dataclass
class LocalFederation:
    root: Path
    nodes: dict[str, LocalNode] = field(default_factory=dict)
    directory: bytes = b""
    steward_keys: dict[str, Ed25519PrivateKey] = field(
        default_factory=lambda: {f"steward-{i}": Ed25519PrivateKey.generate() for i in (1, 2, 3)}
    )

    @classmethod
    def create(
        cls,
        root: Path,
        specs: list[NodeSpec],
        groups: Mapping[str, tuple[str, ...]],
        settings_toml: str = "",
        registry: Registry | None = None,
        *,
        urls: Mapping[str, str] | None = None,
    ) -> LocalFederation:
        """Create every node, a directory signed by 2 of 3 stewards, and install it on each.
        Each node's URL is a free loopback port unless ``urls`` names one (network
        namespaces in the fault tests)."""
        passphrase = secrets.token_urlsafe(18)
        federation = cls(root)
        for spec in specs:
            home = root / spec.id
            url = (urls or {}).get(spec.id) or f"http://127.0.0.1:{free_port()}"
            identity = Identity(
                spec.id, spec.name, spec.country, spec.roles, spec.languages, url, spec.areas
            )
            participant = init_node(home, identity, passphrase)
            if settings_toml:  # after init's own lines (its database URL, if any)
                with (home / "settings.toml").open("a", encoding="utf-8") as handle:
                    handle.write(settings_toml)
            env = {**os.environ, "ACCORD_PASSPHRASE": passphrase, "ACCORD_HOME": str(home)}
            federation.nodes[spec.id] = LocalNode(spec, home, url, participant, env)
        federation.directory = federation._signed_directory(groups, registry)
        for local in federation.nodes.values():
            node = local.open()
            try:
                store = DirectoryStore(node)
                store.install(
                    federation.directory, pinned=_stewards(federation), now=node.clock.now()
                )
            finally:
                node.close()
        return federation

    def _signed_directory(
        self, groups: Mapping[str, tuple[str, ...]], registry: Registry | None
    ) -> bytes:
        now = SystemClock().now()
        document = DirectoryDocument(
            federation="accord-demo",
            version=1,
            issued_at=now,
            expires_at=now + timedelta(days=30),
            stewards=_stewards(self),
            participants=tuple(local.participant for local in self.nodes.values()),
            groups={name: Group(members=members) for name, members in groups.items()},
            states_parties=registry,
        )
        signed = draft_bytes(document)
        for kid, key in list(self.steward_keys.items())[:2]:
            signed = sign_directory(signed, key, kid)
        return signed

    def start(self) -> None:
        for local in self.nodes.values():
            local.start()

    def stop(self) -> None:
        for local in self.nodes.values():
            local.stop()


def _stewards(federation: LocalFederation) -> StewardSet:
    keys = federation.steward_keys
    return StewardSet(
        keys=tuple(public_jwk(key.public_key(), kid) for kid, key in keys.items()), threshold=2
    )
