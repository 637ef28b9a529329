"""Cooperation requests as a domain (ADR 0012): the operator API under ``/api/v1/requests``,
the ``request`` and ``request-events`` messages, and ``accord request``."""

from __future__ import annotations

import typer

from accord.federation.domain import Domain, Plugged, Serving
from accord.requests import api, cli
from accord.requests.service import Requests


def _commands(root: typer.Typer) -> None:
    root.add_typer(cli.app, name="request")


def _serve(serving: Serving) -> Plugged:
    service = Requests(serving.federation)
    _ = service.node.operator_token  # made at start, so the operator can read it from the folder
    return Plugged(routes=api.routes(service), handlers=service.handlers())


DOMAIN = Domain("requests", commands=_commands, serve=_serve)
