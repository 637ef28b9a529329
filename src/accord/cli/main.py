"""Entry point of the ``accord`` command."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from accord import __version__
from accord.audit.cli import app as audit_app
from accord.cli.common import report
from accord.demo.cli import register as register_demo
from accord.errors import AccordError
from accord.evidence.cli import app as evidence_app
from accord.federation.cli import register as register_federation
from accord.identity.cli import app as directory_app
from accord.node.cli import card_app
from accord.node.cli import register as register_node
from accord.requests.cli import app as request_app

app = typer.Typer(
    name="accord",
    help="Accord: signed, encrypted exchange between national authorities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(directory_app, name="directory")
app.add_typer(card_app, name="card")
app.add_typer(audit_app, name="audit")
app.add_typer(evidence_app, name="evidence")
app.add_typer(request_app, name="request")
register_node(app)
register_federation(app)
register_demo(app)


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
