"""``accord init`` and ``accord card``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from accord.cli.common import (
    DirOption,
    console,
    opened_node,
    passphrase,
    settings_for,
    write_output,
)
from accord.clock import SystemClock
from accord.documents import load
from accord.errors import ConfigError, DocumentInvalid, FieldError
from accord.identity.keys import add_alert_key
from accord.identity.models import Role
from accord.node.home import AREAS, KEYS_DIR, Identity, init_node, read_identity, write_areas

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


@card_app.command("areas")
def areas(
    file: Annotated[
        Path,
        typer.Argument(
            help="Areas of interest, TOML or JSON: [[areas]] with name, polygons, "
            "circles, geocodes (CAP 1.2 §3.2.4 syntax).",
            show_default=False,
        ),
    ],
    directory: DirOption = None,
) -> None:
    """Declare the areas this early-warning node wants alerts about; they travel in its card,
    so export the card again and give it to the stewards."""
    data = load(file, what="areas of interest")
    settings = settings_for(directory)
    read_identity(settings.home)  # a node folder, before anything is written into it
    try:
        declared = AREAS.validate_python(data.get("areas", ()))
    except ValidationError as exc:
        raise DocumentInvalid(
            f"{file}: {exc.error_count()} problem(s) in the areas of interest",
            advice="Correct the areas named; shapes are written as in CAP 1.2 §3.2.4.",
            errors=[
                FieldError(
                    "areas." + ".".join(str(p) for p in e["loc"]),
                    e["type"],
                    e["msg"],
                    "CAP 1.2 §3.2.4",
                )
                for e in exc.errors()
            ],
        ) from exc
    write_areas(settings.home, declared)
    console.print(
        f"{len(declared)} area(s) of interest set; run `accord card export` and send the card "
        "to the stewards."
    )


@card_app.command("alert-key")
def alert_key(directory: DirOption = None) -> None:
    """Create this node's ECDSA P-256 key that signs CAP alerts (nodes made before it)."""
    settings = settings_for(directory)
    read_identity(settings.home)
    add_alert_key(settings.home / KEYS_DIR, passphrase(settings))
    console.print("Alert signing key created; run `accord card export` for the stewards.")
