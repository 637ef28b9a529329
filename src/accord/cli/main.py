"""Entry point of the ``accord`` command: the platform's commands, ``serve`` (the node the
composition root builds), then each domain's commands (ADR 0012)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from accord import __version__
from accord.app import DOMAINS, create_app, run_workers
from accord.cli.common import DirOption, console, opened_node, report
from accord.errors import AccordError
from accord.federation import server
from accord.federation.api import raw_refusal
from accord.federation.cli import register as register_federation
from accord.federation.service import Federation
from accord.identity.cli import app as directory_app
from accord.node.cli import card_app, key_app, register_backup
from accord.node.cli import register as register_node

app = typer.Typer(
    name="accord",
    help="Accord: signed, encrypted exchange between national authorities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default: from url).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default: from url).")] = None,
    directory: DirOption = None,
) -> None:
    """Run the node: the federation HTTP API and the outbox worker, in one process."""
    with opened_node(directory) as node:
        default_host, default_port = node.identity.listen
        guard = server.Guard(node.settings, raw_refusal(node))
        app = create_app(Federation(node), deliver=True)
        config = server.config(app, guard, host or default_host, port or default_port)
        console.print(f"{node.id} serving on http://{config.host}:{config.port}")
        uvicorn.Server(config).run()


app.add_typer(directory_app, name="directory")
app.add_typer(card_app, name="card")
app.add_typer(key_app, name="key")
register_node(app)


def worker(directory: DirOption = None) -> None:
    """Run the outbox and the domains' workers without the HTTP API: several of them share
    the work of `accord serve` processes on one PostgreSQL database (docs/deployment.md)."""
    with opened_node(directory) as node:
        app = create_app(Federation(node), deliver=True)
        console.print(f"{node.id} worker {os.getpid()} running")
        asyncio.run(_until_signalled(app))


async def _until_signalled(app: FastAPI) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run_workers(app, stop)


app.command("serve")(serve)
app.command("worker")(worker)
register_federation(app)
register_backup(app)
for domain in DOMAINS:
    domain.commands(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"accord {__version__}")
        raise typer.Exit


@app.callback()
def root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks with errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Accord: signed, encrypted exchange between national authorities."""
    if verbose:
        os.environ["ACCORD_DEBUG"] = "1"


def main() -> None:
    try:
        app()
    except AccordError as error:
        report(error)
        sys.exit(2)
