"""``accord request``: work with cooperation requests (validation of request files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from accord.cli.common import console, print_table
from accord.errors import RequestInvalid
from accord.requests.models import article_of
from accord.requests.validate import load, validate

app = typer.Typer(help="Cooperation requests under the Hanoi Convention.", no_args_is_help=True)


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="A request file, TOML or JSON.", show_default=False)],
) -> None:
    """Check a request file against its type's rules; list every problem at once."""
    try:
        request = validate(load(file))
    except RequestInvalid as error:
        print_table(
            f"{file}: {len(error.errors)} problem(s)",
            ("field", "rule", "article", "problem"),
            ((e.field, e.rule, e.article or "", e.message) for e in error.errors),
        )
        raise RequestInvalid(
            f"{file} is not a valid request: {error.message}", advice=error.advice
        ) from error
    article = article_of(request.REQUEST_TYPE)
    console.print(f"valid: {request.type} request ({article}), {request.message_id}", markup=False)
