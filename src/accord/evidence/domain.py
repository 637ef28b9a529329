"""Evidence packages as a domain (ADR 0012): the chunk routes a receiving node answers, the
recovery and expiry of incoming transfers, the courier that sends outgoing ones, and
``accord evidence``."""

from __future__ import annotations

import functools

import typer

from accord.evidence import api, cli
from accord.evidence.courier import Courier
from accord.evidence.inbound import Inbound, expire_abandoned
from accord.federation.domain import Domain, Plugged, Serving, Worker


def _commands(root: typer.Typer) -> None:
    root.add_typer(cli.app, name="evidence")


def _serve(serving: Serving) -> Plugged:
    inbound = Inbound(serving.federation)
    workers: list[Worker] = [functools.partial(expire_abandoned, inbound)]
    if serving.deliver:
        workers.append(Courier(serving.federation, serving.peers).run)
    return Plugged(
        routes=api.routes(serving.federation, inbound),
        workers=workers,
        startup=(inbound.recover,),
    )


DOMAIN = Domain("evidence", commands=_commands, serve=_serve)
