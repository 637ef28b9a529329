"""``accord init`` and ``accord card``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from accord.cli.common import (
    DirOption,
    console,
    opened_node,
    passphrase,
    settings_for,
    write_output,
)
from accord.clock import SystemClock
from accord.errors import ConfigError
from accord.identity.models import Role
from accord.node.home import Identity, init_node

card_app = typer.Typer(help="This node's public participant card.", no_args_is_help=True)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        node_id: Annotated[str, typer.Option("--id", help="Participant id, e.g. vn-mps-247.")],
        name: Annotated[str, typer.Option(help="Authority name as shown to partners.")],
        country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code, e.g. VN.")],
        roles: Annotated[str, typer.Option(help=f"Comma-separated: {', '.join(Role)}.")],
        languages: Annotated[str, typer.Option(help="Comma-separated BCP 47 tags: vi,en.")],
        url: Annotated[str, typer.Option(help="Base URL partners reach this node at.")],
        directory: DirOption = None,
    ) -> None:
        """Create a node: keys (encrypted with the passphrase), database, identity."""
        settings = settings_for(directory)
        try:
            role_list = tuple(Role(r) for r in _split(roles))
        except ValueError as exc:
            raise ConfigError(f"--roles: {exc}", advice=f"Use any of: {', '.join(Role)}.") from None
        identity = Identity(node_id, name, country, role_list, _split(languages), url.rstrip("/"))
        participant = init_node(settings.home, identity, passphrase(settings, confirm=True))
        console.print(f"Created node [bold]{participant.id}[/] in {settings.home}")
        console.print("Next: `accord card export` and send the card to the federation stewards.")


@card_app.command("export")
def export(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout).")
    ] = None,
    directory: DirOption = None,
) -> None:
    """Write this node's self-signed participant card (JSON with JWKs)."""
    with opened_node(directory) as node:
        card = node.card(SystemClock().now())
    if out is None:
        typer.echo(card.decode(), nl=False)
    else:
        write_output(out, card)
        console.print(f"Card of {node.id} written to {out}")
