"""The operator console as a domain (ADR 0012, ADR 0020): its app mounted at ``/console``
(its pages, errors and static files are its own, and none is in the node's OpenAPI
document), ``accord user`` and the four-eyes commands ``accord request approve|reject``."""

from __future__ import annotations

import typer

from accord.federation.domain import Domain, Plugged, Serving
from accord.requests.service import Requests
from accord.web import app, approvals, cli, views


def _commands(root: typer.Typer) -> None:
    root.add_typer(cli.app, name="user")
    cli.add_request_commands()


def _serve(serving: Serving) -> Plugged:
    approvals.approval_types(serving.federation.node.settings)  # a wrong name stops the start
    return Plugged(mounts={app.BASE: views.create(Requests(serving.federation))})


DOMAIN = Domain("web", commands=_commands, serve=_serve)
