"""Who may use which console route: one table, checked on the server for every request
(ADR 0020). A route missing from the table is refused to everyone."""

from __future__ import annotations

from accord.web.accounts import Role

CASES = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.AUDITOR})  # read cases
WORK = frozenset({Role.OPERATOR, Role.SUPERVISOR})  # change cases
EVERYONE = frozenset(Role)

ROUTES: dict[str, frozenset[Role]] = {
    "home": EVERYONE,
    "logout": EVERYONE,
    "language": EVERYONE,
    "dashboard": CASES,
    "inbox": CASES,
    "outbox": CASES,
    "requests": CASES,
    "request": CASES,
    "print": CASES,
    "plots": CASES,
    "evidence": CASES,
    "alerts": CASES,
    "move": WORK,
    "evidence_open": WORK,  # decrypts: recorded in the custody chain and the audit log
    "compose": WORK,
    "approvals": WORK,
    "decide": frozenset({Role.SUPERVISOR}),  # four eyes: only a supervisor approves or rejects
    "audit": frozenset({Role.AUDITOR, Role.ADMINISTRATOR}),
    "audit_proof": frozenset({Role.AUDITOR, Role.ADMINISTRATOR}),
    "users": frozenset({Role.ADMINISTRATOR}),
    "user_change": frozenset({Role.ADMINISTRATOR}),
}

# The pages in the menu, in its order
MENU = (
    "dashboard",
    "inbox",
    "outbox",
    "requests",
    "compose",
    "approvals",
    "evidence",
    "alerts",
    "plots",
    "audit",
    "users",
)


def allowed(role: Role, route: str) -> bool:
    return role in ROUTES.get(route, frozenset())


def menu(role: Role) -> list[str]:
    return [route for route in MENU if allowed(role, route)]
