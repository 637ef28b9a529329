"""The node folder. ``accord init`` creates it; every other command opens it.

Layout::

    NODE_DIR/
      node.toml            identity: id, name, country, roles, languages, url
      areas.json           optional: the areas of interest the card declares (`accord card areas`)
      settings.toml        optional overrides of ACCORD_* settings
      keys/                signing and encryption private keys, encrypted (PKCS#8)
      accord.db            SQLite database (WAL), unless ACCORD_DATABASE_URL names PostgreSQL
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from accord.blobs import BlobStore, open_store
from accord.clock import Clock
from accord.config import SETTINGS_FILE, Settings
from accord.db.engine import connect_engine, sqlite_engine
from accord.db.migrate import upgrade
from accord.db.writer import Writer
from accord.errors import ConfigError, NodeError, StorageError
from accord.identity.areas import AreaOfInterest
from accord.identity.card import make_card
from accord.identity.keys import ROTATIONS_FILE, KeyRing, NodeKeys, check_passphrase
from accord.identity.models import (
    Participant,
    RetiredKeys,
    Role,
    alert_kid,
    encryption_kid,
    signing_kid,
)
from accord.jose import p256_public_jwk, public_jwk

IDENTITY_FILE = "node.toml"
AREAS_FILE = "areas.json"
AREAS = TypeAdapter(tuple[AreaOfInterest, ...])
DATABASE_FILE = "accord.db"
KEYS_DIR = "keys"
OPERATOR_TOKEN_FILE = "operator-token"  # noqa: S105 - a file name, not a secret


@dataclass(frozen=True)
class Identity:
    id: str
    name: str
    country: str
    roles: tuple[Role, ...]
    languages: tuple[str, ...]
    url: str
    areas: tuple[AreaOfInterest, ...] = ()

    def participant(self, keys: NodeKeys, retired: tuple[RetiredKeys, ...] = ()) -> Participant:
        alerting = keys.alerting
        return Participant(
            id=self.id,
            name=self.name,
            country=self.country,
            roles=self.roles,
            languages=self.languages,
            url=self.url,
            signing_key=public_jwk(keys.signing.public_key(), signing_kid(self.id)),
            encryption_key=public_jwk(keys.encryption.public_key(), encryption_kid(self.id)),
            alert_key=p256_public_jwk(alerting.public_key(), alert_kid(self.id))
            if alerting is not None
            else None,
            areas=self.areas,
            retired_keys=retired,
        )

    def participant_at(self, ring: KeyRing, moment: datetime) -> Participant:
        """This node as the directory should list it at ``moment``: the keys in force then,
        and every earlier generation retired at the time its successor took over."""
        shown = [g for g in ring.generations if g.since is None or g.since <= moment]
        retired = tuple(
            RetiredKeys(
                keys=self._public_keys(old.keys, new.keys),
                until=new.since,
                compromised=new.compromised,
            )
            for old, new in itertools.pairwise(shown)
            if new.since is not None
        )
        return self.participant(shown[-1].keys, retired)

    def _public_keys(self, old: NodeKeys, new: NodeKeys) -> dict[str, dict[str, str]]:
        """The public keys of generation ``old`` that ``new`` replaced (an alert key only when
        both have one: a node given its first alert key retires none)."""
        keys = {
            "signing_key": public_jwk(old.signing.public_key(), signing_kid(self.id)),
            "encryption_key": public_jwk(old.encryption.public_key(), encryption_kid(self.id)),
        }
        if old.alerting is not None and new.alerting is not None:
            keys["alert_key"] = p256_public_jwk(old.alerting.public_key(), alert_kid(self.id))
        return keys

    def to_toml(self) -> str:
        def quote(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        def array(values: tuple[str, ...]) -> str:
            return "[" + ", ".join(quote(v) for v in values) + "]"

        return (
            f"id = {quote(self.id)}\nname = {quote(self.name)}\n"
            f"country = {quote(self.country)}\nroles = {array(self.roles)}\n"
            f"languages = {array(self.languages)}\nurl = {quote(self.url)}\n"
        )

    @property
    def listen(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        default = 443 if parts.scheme == "https" else 80
        return parts.hostname or "127.0.0.1", parts.port or default


def new_database(home: Path) -> str | None:
    """The database a node created at ``home`` without a database URL goes on: None, its own
    SQLite file. (The contract suite replaces this to put every node on PostgreSQL.)"""
    del home
    return None


def init_node(
    home: Path, identity: Identity, passphrase: str, database_url: str | None = None
) -> Participant:
    """Create a node folder: keys (encrypted), database (migrated), identity file. With
    ``database_url`` (PostgreSQL) the schema is created there and the URL written to the
    folder's settings.toml, so every process opening the folder uses that database."""
    if (home / IDENTITY_FILE).exists():
        raise NodeError(
            f"{home} already holds a node",
            advice="Choose another --dir, or remove the folder if the node is no longer needed.",
        )
    check_passphrase(passphrase)
    keys = NodeKeys.generate()
    participant = _validated(identity, keys)
    database_url = database_url or new_database(home)
    if database_url is not None:  # first: a server that cannot be reached leaves no folder
        _migrate(connect_engine(database_url, writer=True))
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys.save(home / KEYS_DIR, passphrase)
    if database_url is None:
        _migrate(sqlite_engine(home / DATABASE_FILE, writer=True))
    else:
        _remember_database(home, database_url)
    (home / IDENTITY_FILE).write_text(identity.to_toml(), encoding="utf-8")
    if identity.areas:
        write_areas(home, identity.areas)
    return participant


def migrated(engine: Engine) -> None:
    """Bring the node's database to the newest schema, or say why it cannot be reached."""
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot open the node's database: {exc.__class__.__name__}: {exc.orig or exc}"
            if isinstance(exc, DBAPIError)
            else f"cannot open the node's database: {exc}",
            advice="Check that the PostgreSQL server of ACCORD_DATABASE_URL runs and accepts "
            "this role (password in ~/.pgpass), or that the node folder is writable.",
        ) from exc


def _migrate(engine: Engine) -> None:
    try:
        migrated(engine)
    finally:
        engine.dispose()


def _remember_database(home: Path, url: str) -> None:
    """Add ``database_url`` to the node's settings.toml, readable by its owner only (the URL
    may carry a password)."""
    path = home / SETTINGS_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        handle.write(f"database_url = {json.dumps(url)}\n")


def _validated(identity: Identity, keys: NodeKeys) -> Participant:
    try:
        return identity.participant(keys)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"invalid node identity: {problems}",
            advice="Correct the option named above and run `accord init` again.",
        ) from exc


def read_identity(home: Path) -> Identity:
    path = home / IDENTITY_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Identity(
            id=data["id"],
            name=data["name"],
            country=data["country"],
            roles=tuple(Role(r) for r in data["roles"]),
            languages=tuple(data["languages"]),
            url=data["url"],
            areas=read_areas(home),
        )
    except FileNotFoundError:
        raise NodeError(
            f"{home} is not an Accord node folder (no {IDENTITY_FILE})",
            advice="Pass --dir (or set ACCORD_HOME) to a folder created by `accord init`.",
        ) from None
    except (OSError, tomllib.TOMLDecodeError, KeyError, ValueError) as exc:
        raise NodeError(
            f"{path} is unreadable: {exc}", advice="Restore node.toml from backup."
        ) from exc


def read_areas(home: Path) -> tuple[AreaOfInterest, ...]:
    """The areas of interest in ``NODE/areas.json`` (none when there is no such file)."""
    path = home / AREAS_FILE
    if not path.exists():
        return ()
    try:
        return AREAS.validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise NodeError(
            f"{path} is unreadable: {exc}",
            advice="Set the areas again with `accord card areas FILE`.",
        ) from exc


def write_areas(home: Path, areas: tuple[AreaOfInterest, ...]) -> None:
    data = json.dumps([a.model_dump() for a in areas], indent=2, ensure_ascii=False) + "\n"
    temporary = home / (AREAS_FILE + ".tmp")
    temporary.write_text(data, encoding="utf-8")
    temporary.replace(home / AREAS_FILE)


@dataclass
class Node:
    """An opened node: what every service needs. Close it when done."""

    home: Path
    settings: Settings
    clock: Clock
    identity: Identity
    loaded_ring: KeyRing
    _engines: list[Engine] = field(default_factory=list)
    # kept to load a generation `accord key rotate` adds while the node runs (ADR 0018)
    _passphrase: str = field(default="", repr=False)
    _ring_stamp: tuple[float, float] = (0.0, float("-inf"))  # (rotations.json mtime, checked)

    @classmethod
    def open(cls, settings: Settings, clock: Clock, passphrase: str) -> Node:
        home = settings.home
        identity = read_identity(home)
        ring = KeyRing.load(home / KEYS_DIR, passphrase)
        node = cls(home, settings, clock, identity, ring, _passphrase=passphrase)
        node._ring_stamp = (_mtime(home / KEYS_DIR / ROTATIONS_FILE), time.monotonic())
        migrated(node.write_engine)
        return node

    @property
    def ring(self) -> KeyRing:
        """Every generation of this node's keys, loaded again (at most once a second) when
        another process rotated them."""
        mtime, checked = self._ring_stamp
        if time.monotonic() - checked >= 1.0:
            now = _mtime(self.home / KEYS_DIR / ROTATIONS_FILE)
            if now != mtime and self._passphrase:
                self.loaded_ring = KeyRing.load(self.home / KEYS_DIR, self._passphrase)
            self._ring_stamp = (now, time.monotonic())
        return self.loaded_ring

    @cached_property
    def blobs(self) -> BlobStore:
        """Where evidence packages are kept (ADR 0022): this folder unless ACCORD_BLOB_URL."""
        return open_store(self.settings, self.home)

    @property
    def keys(self) -> NodeKeys:
        """The keys in force now (ADR 0018: a rotation takes over at its time)."""
        return self.ring.at(self.clock.now())

    @property
    def id(self) -> str:
        return self.identity.id

    @property
    def participant(self) -> Participant:
        return self.identity.participant_at(self.ring, self.clock.now())

    @cached_property
    def operator_token(self) -> str:
        """The bearer token of the operator API (``NODE/operator-token``, mode 0600), made on
        first use; whoever can read the node folder can use the API (ADR 0009)."""
        return operator_token(self.home / OPERATOR_TOKEN_FILE)

    def card(self, now: datetime) -> bytes:
        return make_card(self.participant, self.keys.signing, now)

    @cached_property
    def write_engine(self) -> Engine:
        return self._track(self._engine(writer=True))

    @cached_property
    def read_engine(self) -> Engine:
        return self._track(self._engine(writer=False))

    @property
    def shared_database(self) -> bool:
        """Whether the node runs on PostgreSQL, where several processes may serve it."""
        return self.settings.database_url is not None

    def _engine(self, *, writer: bool) -> Engine:
        url = self.settings.database_url
        if url is None:
            return sqlite_engine(self.home / DATABASE_FILE, writer=writer)
        return connect_engine(url.get_secret_value(), writer=writer)

    @cached_property
    def writer(self) -> Writer:
        return Writer(self.write_engine)

    def close(self) -> None:
        if "writer" in self.__dict__:
            self.writer.close()
        for engine in self._engines:
            engine.dispose()

    def _track(self, engine: Engine) -> Engine:
        self._engines.append(engine)
        return engine


def operator_token(path: Path) -> str:
    """Read the token at ``path``, or create it with mode 0600 if there is none yet."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text().strip()
        if len(token) < 32:
            raise NodeError(
                f"{path} holds no valid operator token", advice=f"Delete {path}; it is remade."
            ) from None
        return token
    token = secrets.token_urlsafe(32)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return token


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
