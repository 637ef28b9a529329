"""Console accounts inside one node (ADR 0020): a name, one role, an argon2id password hash,
a language, and the count of wrong passwords that locks the account.

Every change and every login, failure and lockout is appended to the node's audit log in the
same transaction as the change itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Row, select, update

from accord.audit.log import record
from accord.audit.models import Action
from accord.audit.models import Event as AuditEvent
from accord.db.schema import console_sessions, console_users
from accord.errors import AccountInvalid, FieldError, LoginRefused
from accord.node.home import Node

LANGUAGES = ("en", "fr", "es", "ru", "zh", "ar", "vi", "ro", "bg")  # UN six + vi, ro, bg
NAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 hashes any length; a bound keeps a login request cheap
_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)
# verified for unknown names too, so a wrong name takes as long as a wrong password
_NOBODY = _HASHER.hash("no account has this password")


class Role(StrEnum):
    OPERATOR = "operator"  # works cases: composes, answers, acknowledges
    SUPERVISOR = "supervisor"  # an operator who also approves formal requests (four eyes)
    AUDITOR = "auditor"  # reads cases and the audit log, changes nothing
    ADMINISTRATOR = "administrator"  # manages accounts and reads the audit log, sees no case


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    language: str
    disabled: bool
    locked_until: float | None
    failures: int


def add(node: Node, name: str, role: Role, password: str, language: str = "en") -> User:
    """A new account; refused if the name is taken or a field breaks its rule."""
    _check_name(name)
    _check_language(language)
    hashed = _hash(password)
    now = node.clock.now()

    def job(connection: Connection) -> None:
        if _row(connection, name) is not None:
            raise AccountInvalid(
                f"an account named {name!r} already exists",
                advice="Choose another name, or `accord user reset` the existing account.",
                errors=[FieldError("name", "unique", "already used on this node")],
            )
        connection.execute(
            console_users.insert().values(
                name=name,
                role=role.value,
                password=hashed,
                language=language,
                disabled=0,
                failures=0,
                created_at=now.timestamp(),
                updated_at=now.timestamp(),
            )
        )
        _audit(connection, node, Action.CONSOLE_ACCOUNT, name, now)

    node.writer.run(job)
    return get(node, name)


def get(node: Node, name: str) -> User:
    with node.read_engine.connect() as connection:
        row = _row(connection, name)
    if row is None:
        raise _unknown(name)
    return _user(row)


def users(node: Node) -> list[User]:
    with node.read_engine.connect() as connection:
        rows = connection.execute(select(console_users).order_by(console_users.c.name)).all()
    return [_user(row) for row in rows]


def disable(node: Node, name: str) -> User:
    """Refuse every further login and end the account's sessions."""
    return _change(node, name, disabled=1)


def reset(node: Node, name: str, password: str) -> User:
    """A new password; unlocks and re-enables the account and ends its sessions."""
    return _change(node, name, password=_hash(password), disabled=0, failures=0, locked_until=None)


def set_role(node: Node, name: str, role: Role) -> User:
    return _change(node, name, role=role.value)


def link_subject(node: Node, name: str, subject: str) -> User:
    """Let the OpenID provider's ``subject`` log in as account ``name`` (ADR 0020)."""
    if not 0 < len(subject) <= 255:
        raise AccountInvalid(
            "an OIDC subject has 1 to 255 characters",
            advice="Copy the subject (the ID token's sub claim) from the provider.",
            errors=[FieldError("oidc_subject", "length", "1 to 255 characters")],
        )
    return _change(node, name, oidc_subject=subject)


def set_language(node: Node, name: str, language: str) -> User:
    _check_language(language)
    return _change(node, name, audited=False, language=language)


def authenticate(node: Node, name: str, password: str) -> User:
    """The account, if ``password`` is its password and it is neither disabled nor locked;
    else :class:`LoginRefused`. A wrong password counts towards the lockout."""
    settings = node.settings
    now = node.clock.now()
    with node.read_engine.connect() as connection:
        row = _row(connection, name) if NAME.fullmatch(name) else None
    right = _verify(row.password if row is not None else None, password[:MAX_PASSWORD])
    if row is not None and row.locked_until is not None and row.locked_until > now.timestamp():
        _audited_only(node, Action.CONSOLE_LOGIN_FAILED, name, now)
        raise LoginRefused(
            "this account is locked after too many wrong passwords",
            advice="Wait for the lock to end, or ask an administrator to reset the password.",
        )
    if row is None or row.disabled or not right:
        if row is not None:
            _count_failure(node, row, now, settings.console_lockout_failures)
        else:
            _audited_only(node, Action.CONSOLE_LOGIN_FAILED, name, now)
        raise LoginRefused(
            "wrong user name or password",
            advice="Check both and try again; repeated failures lock the account.",
        )
    if row.failures:
        node.writer.run(
            lambda c: c.execute(
                update(console_users)
                .where(console_users.c.name == name)
                .values(failures=0, locked_until=None)
            )
        )
    return _user(row)


def audit(node: Node, action: Action, name: str, at: datetime) -> None:
    """Append one console record about account ``name`` (a login, a logout)."""
    _audited_only(node, action, name, at)


# Helpers ------------------------------------------------------------------------------------


def _count_failure(node: Node, row: Row[object], now: datetime, limit: int) -> None:
    failures = int(row.failures) + 1
    locked = failures >= limit
    until = now.timestamp() + node.settings.console_lockout_seconds if locked else None

    def job(connection: Connection) -> None:
        connection.execute(
            update(console_users)
            .where(console_users.c.name == row.name)
            .values(failures=0 if locked else failures, locked_until=until)
        )
        _audit(connection, node, Action.CONSOLE_LOGIN_FAILED, row.name, now)
        if locked:
            _audit(connection, node, Action.CONSOLE_LOCKED, row.name, now)

    node.writer.run(job)


def _change(node: Node, name: str, *, audited: bool = True, **values: object) -> User:
    now = node.clock.now()

    def job(connection: Connection) -> None:
        if _row(connection, name) is None:
            raise _unknown(name)
        connection.execute(
            update(console_users)
            .where(console_users.c.name == name)
            .values(**values, updated_at=now.timestamp())
        )
        if {"password", "disabled", "role"} & values.keys():
            # a changed password, role or a disabled account ends every open session
            connection.execute(console_sessions.delete().where(console_sessions.c.user == name))
        if audited:
            _audit(connection, node, Action.CONSOLE_ACCOUNT, name, now)

    node.writer.run(job)
    return get(node, name)


def _audited_only(node: Node, action: Action, name: str, at: datetime) -> None:
    node.writer.run(lambda connection: _audit(connection, node, action, name, at))


def _audit(connection: Connection, node: Node, action: Action, name: str, at: datetime) -> None:
    # the name as typed on a failed login may be anything: the log keeps a bounded form
    subject = f"console-user:{name[:64]}"
    record(connection, [AuditEvent(node.id, action, subject, None, (node.id,))], at)


def _row(connection: Connection, name: str) -> Row[object] | None:
    return connection.execute(select(console_users).where(console_users.c.name == name)).first()


def _user(row: Row[object]) -> User:
    return User(
        name=str(row.name),
        role=Role(row.role),
        language=str(row.language),
        disabled=bool(row.disabled),
        locked_until=row.locked_until,
        failures=int(row.failures),
    )


def _hash(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountInvalid(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            advice="Choose a longer password (a phrase of several words is easy to type).",
            errors=[FieldError("password", "length", f"at least {MIN_PASSWORD} characters")],
        )
    return _HASHER.hash(password)


def _verify(hashed: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(hashed or _NOBODY, password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise AccountInvalid(
            f"{name!r} is not a user name",
            advice="Use 2 to 64 lowercase letters, digits, '.', '_' or '-', letter first.",
            errors=[FieldError("name", "pattern", "lowercase letters, digits, . _ -")],
        )


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise AccountInvalid(
            f"the console has no {language!r} interface",
            advice=f"Choose one of: {', '.join(LANGUAGES)}.",
            errors=[FieldError("language", "invalid_choice", ", ".join(LANGUAGES))],
        )


def _unknown(name: str) -> AccountInvalid:
    return AccountInvalid(
        f"no account named {name!r}",
        advice="`accord user list` shows the accounts of this node.",
        errors=[FieldError("name", "unknown", "no such account")],
    )
