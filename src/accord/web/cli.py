"""``accord user``: console accounts; and ``accord request approve|reject``, the four-eyes
decision on a formal request, made by a supervisor who proves it with their password."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from accord.cli.common import DirOption, console, opened_node, print_table
from accord.errors import AccountInvalid
from accord.federation.service import Federation
from accord.requests import cli as request_cli
from accord.requests.service import Requests
from accord.web import accounts, approvals
from accord.web.accounts import Role

app = typer.Typer(help="Accounts of the operator console.", no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(help="The user name.", show_default=False)]
# for scripts; a terminal is asked instead
PASSWORD_ENV = "ACCORD_USER_PASSWORD"  # noqa: S105 - the variable's name, not a password


@app.command("add")
def add_command(
    name: NameArg,
    role: Annotated[Role, typer.Option(help="operator, supervisor, auditor or administrator.")],
    language: Annotated[str, typer.Option(help="Interface language.")] = "en",
    oidc_subject: Annotated[
        str | None, typer.Option(help="The OpenID provider's subject that may log in as it.")
    ] = None,
    directory: DirOption = None,
) -> None:
    """Add an account; its password is asked for (or read from ACCORD_USER_PASSWORD)."""
    password = _password(confirm=True)
    with opened_node(directory) as node:
        user = accounts.add(node, name, role, password, language)
        if oidc_subject is not None:
            accounts.link_subject(node, name, oidc_subject)
    console.print(f"added {user.name} ({user.role}, {user.language})", markup=False)


@app.command("list")
def list_command(directory: DirOption = None) -> None:
    """The accounts of this node."""
    with opened_node(directory) as node:
        users = accounts.users(node)
        now = node.clock.now().timestamp()
    rows = [
        (
            u.name,
            u.role.value,
            u.language,
            "disabled" if u.disabled else "locked" if (u.locked_until or 0) > now else "active",
        )
        for u in users
    ]
    print_table("Console accounts", ("name", "role", "language", "state"), rows)


@app.command("disable")
def disable_command(name: NameArg, directory: DirOption = None) -> None:
    """Refuse every further login of an account and end its sessions."""
    with opened_node(directory) as node:
        accounts.disable(node, name)
    console.print(f"disabled {name}", markup=False)


@app.command("reset")
def reset_command(name: NameArg, directory: DirOption = None) -> None:
    """Give an account a new password; unlocks and re-enables it, ends its sessions."""
    password = _password(confirm=True)
    with opened_node(directory) as node:
        accounts.reset(node, name, password)
    console.print(f"reset {name}", markup=False)


DraftArg = Annotated[str, typer.Argument(help="The draft's id.", show_default=False)]
UserOption = Annotated[str, typer.Option("--user", "-u", help="The deciding supervisor.")]


def approve_command(draft: DraftArg, user: UserOption, directory: DirOption = None) -> None:
    """Approve a formal request drafted by someone else, then send it (four eyes)."""
    password = _password(confirm=False)
    with opened_node(directory) as node:
        supervisor = accounts.authenticate(node, user, password)
        summary = approvals.approve(Requests(Federation(node)), draft, supervisor)
    console.print(f"approved and sent {summary.request_id} to {summary.counterpart}", markup=False)


def reject_command(
    draft: DraftArg,
    user: UserOption,
    reason: Annotated[str, typer.Option(help="Why, for the drafter.")],
    directory: DirOption = None,
) -> None:
    """Reject a formal request drafted by someone else; nothing is sent."""
    password = _password(confirm=False)
    with opened_node(directory) as node:
        supervisor = accounts.authenticate(node, user, password)
        approvals.reject(Requests(Federation(node)), draft, supervisor, reason)
    console.print(f"rejected {draft}", markup=False)


def add_request_commands() -> None:
    """The four-eyes decisions join ``accord request`` (they need console accounts)."""
    request_cli.app.command("approve")(approve_command)
    request_cli.app.command("reject")(reject_command)


def _password(*, confirm: bool) -> str:
    given = os.environ.get(PASSWORD_ENV)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise AccountInvalid(
            f"no password: {PASSWORD_ENV} is unset and there is no terminal to ask on",
            advice=f"Set {PASSWORD_ENV} in the environment of this command.",
        )
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return value
