"""API tokens for a node's own tools (a SIEM, a MISP instance, a TAXII client): made and
revoked by ``accord intel token``, audited; only their SHA-256 is stored, so the database
never holds a usable token. A token is 256 random bits: a plain hash suffices (no KDF)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from accord.audit.log import record
from accord.audit.models import Action, Event
from accord.db.schema import intel_tokens
from accord.errors import FieldError, InputError, IntelUnauthorized, NotFoundError
from accord.intel.models import Reader
from accord.names import SLUG
from accord.node.home import Node

PREFIX = "accord_"  # so that a token pasted somewhere by mistake is recognisable


@dataclass(frozen=True)
class TokenInfo:
    name: str
    read: tuple[str, ...]
    write: tuple[str, ...]
    red: bool
    created_at: float
    revoked_at: float | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    node: Node, name: str, *, read: tuple[str, ...], write: tuple[str, ...], red: bool
) -> str:
    """A new token for tool ``name``; printed once, never stored."""
    if not SLUG.match(name):
        message = "a token name is a lowercase slug (a-z, 0-9, inner hyphens)"
        raise InputError(
            message,
            advice="Name the tool, e.g. siem-1.",
            errors=[FieldError("name", "slug", message)],
        )
    if not read and not write:
        message = "a token needs --read or --write (a collection id, alias, or '*')"
        raise InputError(
            message,
            advice="Say which collections the tool may use.",
            errors=[FieldError("read", "required", message)],
        )
    token = PREFIX + secrets.token_urlsafe(32)
    now = node.clock.now()

    def job(connection: Connection) -> None:
        if connection.execute(
            select(intel_tokens.c.name).where(intel_tokens.c.name == name)
        ).first():
            raise InputError(
                f"a token named {name!r} exists", advice="Revoke it first, or choose another name."
            )
        connection.execute(
            intel_tokens.insert().values(
                name=name,
                sha256=digest(token),
                read=json.dumps(list(read)),
                write=json.dumps(list(write)),
                red=int(red),
                created_at=now.timestamp(),
            )
        )
        record(
            connection,
            [Event(node.id, Action.INTEL_TOKEN_CREATED, f"token:{name}", None, (node.id,))],
            now,
        )

    node.writer.run(job)
    return token


def revoke(node: Node, name: str) -> None:
    now = node.clock.now()

    def job(connection: Connection) -> None:
        changed = connection.execute(
            update(intel_tokens)
            .where(intel_tokens.c.name == name, intel_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now.timestamp())
        ).rowcount
        if not changed:
            raise NotFoundError(
                f"no live token named {name!r}", advice="List them with `accord intel token list`."
            )
        record(
            connection,
            [Event(node.id, Action.INTEL_TOKEN_REVOKED, f"token:{name}", None, (node.id,))],
            now,
        )

    node.writer.run(job)


def listing(node: Node) -> list[TokenInfo]:
    with node.read_engine.connect() as connection:
        rows = connection.execute(select(intel_tokens).order_by(intel_tokens.c.created_at)).all()
    return [
        TokenInfo(
            r.name,
            tuple(json.loads(r.read)),
            tuple(json.loads(r.write)),
            bool(r.red),
            r.created_at,
            r.revoked_at,
        )
        for r in rows
    ]


def reader_for_token(node: Node, token: str) -> Reader:
    wanted = digest(token)
    with node.read_engine.connect() as connection:
        row = connection.execute(
            select(intel_tokens).where(intel_tokens.c.sha256 == wanted)
        ).first()
    if row is None or not hmac.compare_digest(row.sha256, wanted) or row.revoked_at is not None:
        raise IntelUnauthorized(
            "the API token is unknown or revoked",
            advice="Ask the node's operator for a token (`accord intel token create`).",
        )
    return Reader(
        f"token:{row.name}",
        participant=False,
        red=bool(row.red),
        read=tuple(json.loads(row.read)),
        write=tuple(json.loads(row.write)),
    )


def token_from_header(header: str) -> str | None:
    """The token of 'Bearer TOKEN', or of HTTP Basic with the token as the password."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None
