"""The audit log's network half as a domain (ADR 0012): the checkpoint and proof routes, the
C2SP witness endpoints, the worker that signs checkpoints and has partners co-sign them, and
``accord audit``. The log itself sits below federation; this part rides on it."""

from __future__ import annotations

import functools

import typer

from accord.audit import api, cli
from accord.audit.witnessing import Witnessing
from accord.federation.domain import Domain, Plugged, Serving


def _commands(root: typer.Typer) -> None:
    root.add_typer(cli.app, name="audit")


def _serve(serving: Serving) -> Plugged:
    witnessing = Witnessing(serving.federation, serving.peers)
    return Plugged(
        routes=api.routes(serving.federation, witnessing),
        workers=(functools.partial(api.publish_checkpoints, witnessing),),
    )


DOMAIN = Domain("audit", commands=_commands, serve=_serve)
