"""The composition root: a node built from the list of its domains (ADR 0012).

Nothing below this module knows which domains exist. Federation supplies the protocol's own
routes, the error shape and the outbox; each domain in :data:`DOMAINS` adds its routes, the
message kinds it stores, its workers and its commands through one :class:`Domain` value.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from fastapi import FastAPI

from accord import __version__
from accord.alerts.domain import DOMAIN as ALERTS
from accord.audit.domain import DOMAIN as AUDIT
from accord.demo.domain import DOMAIN as DEMO
from accord.evidence.domain import DOMAIN as EVIDENCE
from accord.federation import api
from accord.federation.domain import Domain, Plugged, Serving, Worker
from accord.federation.limits import Budget, RateLimit
from accord.federation.outbox import Outbox
from accord.federation.service import Federation
from accord.federation.transport import HttpTransport
from accord.intel.domain import DOMAIN as INTEL
from accord.requests.domain import DOMAIN as REQUESTS
from accord.web.domain import DOMAIN as WEB

# In this order their commands are listed and their routes are matched.
DOMAINS: tuple[Domain, ...] = (AUDIT, EVIDENCE, REQUESTS, ALERTS, INTEL, WEB, DEMO)
PEER_CONNECTIONS = 8  # the domains' own calls to peers (witnessing, evidence chunks)


def create_app(
    federation: Federation, *, deliver: bool = False, domains: Sequence[Domain] = DOMAINS
) -> FastAPI:
    """The node's ASGI app. With ``deliver`` (``accord serve``), the outbox and the domains'
    sending workers run for the app's lifetime; without it, the node only answers."""
    settings = federation.node.settings
    peers = HttpTransport(settings.request_timeout, PEER_CONNECTIONS)
    serving = Serving(federation, peers, deliver)
    plugged = [domain.serve(serving) for domain in domains if domain.serve is not None]
    for part in plugged:
        for kind, handler in part.handlers.items():
            federation.handle(kind, handler)
    workers = [worker for part in plugged for worker in part.workers]
    if deliver:
        workers.append(_outbox(federation))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for job in (job for part in plugged for job in part.startup):
            await asyncio.to_thread(job)
        stop = asyncio.Event()
        running = [asyncio.create_task(worker(stop)) for worker in workers]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*running)
            await peers.close()

    app = FastAPI(title="Accord node", version=__version__, lifespan=lifespan)
    api.install_error_handlers(app, federation.node)
    budget = Budget(settings.rate_per_address, settings.burst_per_address)
    app.add_middleware(RateLimit, budget=budget, refuse=api.asgi_refusal(federation.node))
    for part in plugged:
        _include(app, part)
    app.include_router(api.routes(federation))
    return app


async def run_workers(app: FastAPI, stop: asyncio.Event) -> None:
    """Run the outbox and the domains' workers of a node built with ``deliver`` until
    ``stop`` is set, answering no HTTP: ``accord worker``, beside ``accord serve`` processes
    on the same PostgreSQL database (ADR 0021)."""
    async with app.router.lifespan_context(app):
        await stop.wait()


def _include(app: FastAPI, part: Plugged) -> None:
    if part.routes is not None:
        app.include_router(part.routes)
    for prefix, mounted in part.mounts.items():
        app.mount(prefix, mounted)


def _outbox(federation: Federation) -> Worker:
    """Federation's own worker: deliver queued messages, with a connection pool of its own."""
    settings = federation.node.settings

    async def run(stop: asyncio.Event) -> None:
        transport = HttpTransport(settings.request_timeout, settings.outbox_concurrency * 4)
        try:
            await Outbox(federation, transport).run(stop)
        finally:
            await transport.close()

    return run
