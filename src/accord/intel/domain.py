"""Threat intelligence as a domain (ADR 0012, ADR 0014): the TAXII 2.1 server mounted at
``/taxii2``, the intel message kinds (shares, sightings), the subscription worker, and
``accord intel``."""

from __future__ import annotations

import typer
from fastapi import APIRouter

from accord.federation.domain import Domain, Plugged, Serving
from accord.intel import api, cli, feed, taxii
from accord.intel.service import Intel
from accord.intel.sync import routes, sync_worker


def _commands(root: typer.Typer) -> None:
    root.add_typer(cli.app, name="intel")


def _serve(serving: Serving) -> Plugged:
    intel = Intel(serving.federation)
    workers = (sync_worker(intel),) if serving.deliver else ()
    return Plugged(
        routes=_routes(intel),
        handlers=intel.handlers(),
        mounts={taxii.PREFIX: taxii.app(intel)},
        workers=workers,
        startup=(intel.ensure_inbox,),
    )


def _routes(intel: Intel) -> APIRouter:
    router = APIRouter()
    router.include_router(routes(intel))
    router.include_router(feed.routes(intel))
    router.include_router(api.routes(intel))
    return router


DOMAIN = Domain("intel", commands=_commands, serve=_serve)
