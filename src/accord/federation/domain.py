"""What a domain plugs into a node (ADR 0012).

A domain (the audit log's network half, requests, evidence, and those to come) is one
:class:`Domain` value: its commands for the ``accord`` CLI and, for a serving node, a function
from :class:`Serving` to :class:`Plugged` (its HTTP routes, the message kinds it stores, its
background workers). The composition root, ``accord.app``, takes the list of domains and
builds the node from it; federation defines this socket and knows no domain that fills it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import typer
from fastapi import APIRouter
from starlette.types import ASGIApp

from accord.envelope.models import Kind
from accord.federation.service import Federation, Handler
from accord.federation.transport import HttpTransport

# A background task of a serving node: runs until the event is set, then returns.
Worker = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Serving:
    """What a domain is given on a node that is being served."""

    federation: Federation
    peers: HttpTransport  # the node's client for its own calls to other nodes; closed for it
    deliver: bool  # run the workers that send to other nodes (off when a test drives the app)


@dataclass(frozen=True)
class Plugged:
    """What a domain adds to a serving node."""

    routes: APIRouter | None = None
    # the message kinds the domain stores, each checked and written in the message's own
    # transaction (a kind is taken by one domain only)
    handlers: Mapping[Kind, Handler] = field(default_factory=dict)
    workers: Sequence[Worker] = ()
    # blocking work (recovery after a crash) done in a thread before the node answers
    startup: Sequence[Callable[[], None]] = ()
    # ASGI apps mounted at a path prefix: everything under it is theirs, errors included
    # (a protocol with its own error format, such as TAXII 2.1 at /taxii2)
    mounts: Mapping[str, ASGIApp] = field(default_factory=dict)


@dataclass(frozen=True)
class Domain:
    name: str
    commands: Callable[[typer.Typer], None]  # adds the domain's commands to ``accord``
    serve: Callable[[Serving], Plugged] | None = None
