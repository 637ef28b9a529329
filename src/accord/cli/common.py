"""What every subcommand shares: the node folder option, the passphrase, error printing."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from accord.clock import SystemClock
from accord.config import Settings, load_settings
from accord.errors import AccordError, InputError, NodeError
from accord.node.home import Node

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        "-d",
        help="Node folder (default: $ACCORD_HOME, else ./accord-node).",
        show_default=False,
    ),
]


def settings_for(directory: Path | None) -> Settings:
    return load_settings(home=directory)


def passphrase(settings: Settings, *, confirm: bool = False) -> str:
    """ACCORD_PASSPHRASE, else a prompt on a terminal; never echoed."""
    if settings.passphrase is not None:
        return settings.passphrase.get_secret_value()
    if not sys.stdin.isatty():
        raise NodeError(
            "no passphrase: ACCORD_PASSPHRASE is unset and there is no terminal to ask on",
            advice="Set ACCORD_PASSPHRASE in the environment of this command.",
        )
    value: str = typer.prompt("Node passphrase", hide_input=True, confirmation_prompt=confirm)
    return value


@contextlib.contextmanager
def opened_node(directory: Path | None) -> Iterator[Node]:
    settings = settings_for(directory)
    node = Node.open(settings, SystemClock(), passphrase(settings))
    try:
        yield node
    finally:
        node.close()


def report(error: AccordError) -> None:
    """Print an AccordError for a person (-v / ACCORD_DEBUG adds the traceback)."""
    # messages quote user input (file names, ids): never read them as rich markup
    err_console.print(f"[bold red]error:[/] {escape(error.message)}")
    for field in error.errors:
        cited = field.article and f"({field.article})" not in field.message
        article = f" ({field.article})" if cited else ""
        err_console.print(escape(f"  - {field.field}: {field.message}{article}"))
    if error.advice:
        err_console.print(f"[yellow]what to do:[/] {escape(error.advice)}")
    if os.environ.get("ACCORD_DEBUG"):
        err_console.print_exception()


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # cells are data, not rich markup
    console.print(table)


def write_output(path: Path, data: bytes) -> None:
    """Write a file the user asked for, or say plainly why it could not be written."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(
            f"cannot write {path}: {exc.strerror}",
            advice="Check the folder exists and is writable.",
        ) from exc


MAX_INPUT_BYTES = 64 * 1024 * 1024


def read_input(path: Path) -> bytes:
    """Read a file the user named (``-`` is standard input), with a size limit."""
    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with path.open("rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", advice="Check the path.") from exc
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(
            f"{path} is over {MAX_INPUT_BYTES} bytes", advice="Pass the file Accord wrote."
        )
    return data
