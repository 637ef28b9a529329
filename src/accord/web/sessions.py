"""Server-side console sessions (ADR 0020). The cookie holds a random session id; the node
keeps only its SHA-256, the account, the session's CSRF token and its expiry. A login always
makes a new id and deletes the session the browser came with (session fixation)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from accord.db.schema import console_sessions, console_users
from accord.node.home import Node

COOKIE = "accord_console"
LOGIN_COOKIE = "accord_login"  # the login form's CSRF token, before there is a session
OIDC_COOKIE = "accord_oidc"  # the state of a login through the OpenID provider


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    expires_at: float


def start(node: Node, user: str, replacing: str | None) -> tuple[str, Session]:
    """A new session for ``user`` (and the end of ``replacing``): its cookie value and row."""
    now = node.clock.now().timestamp()
    session_id = secrets.token_urlsafe(32)
    session = Session(user, new_token(), now + node.settings.console_session_lifetime)

    def job(connection: Connection) -> None:
        if replacing:
            _delete(connection, replacing)
        connection.execute(console_sessions.delete().where(console_sessions.c.expires_at <= now))
        connection.execute(
            console_sessions.insert().values(
                sha256=_digest(session_id),
                user=user,
                csrf=session.csrf,
                created_at=now,
                expires_at=session.expires_at,
            )
        )

    node.writer.run(job)
    return session_id, session


def find(node: Node, session_id: str | None) -> Session | None:
    """The live session of this cookie value, if its account is still enabled."""
    if not session_id or len(session_id) > 128:
        return None
    now = node.clock.now().timestamp()
    with node.read_engine.connect() as connection:
        row = connection.execute(
            select(console_sessions)
            .join(console_users, console_users.c.name == console_sessions.c.user)
            .where(
                console_sessions.c.sha256 == _digest(session_id),
                console_sessions.c.expires_at > now,
                console_users.c.disabled == 0,
            )
        ).first()
    return Session(row.user, row.csrf, row.expires_at) if row is not None else None


def end(node: Node, session_id: str) -> None:
    node.writer.run(lambda connection: _delete(connection, session_id))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(expected: str, given: str | None) -> bool:
    """CSRF tokens compared in constant time; a missing token never matches."""
    return bool(given) and secrets.compare_digest(expected.encode(), (given or "").encode())


def _delete(connection: Connection, session_id: str) -> None:
    connection.execute(
        delete(console_sessions).where(console_sessions.c.sha256 == _digest(session_id))
    )


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()
