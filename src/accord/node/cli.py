"""``accord init`` and ``accord card``."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from accord.audit.log import record
from accord.audit.models import Action, Event
from accord.audit.service import AuditLog
from accord.cli.common import (
    DirOption,
    console,
    opened_node,
    passphrase,
    settings_for,
    write_output,
)
from accord.clock import SystemClock, to_rfc3339
from accord.documents import load
from accord.envelope.core import sha256_hex
from accord.errors import ConfigError, DocumentInvalid, FieldError, InputError, NodeError
from accord.identity.card import make_card
from accord.identity.keys import KeyRing, add_alert_key, generation_folder
from accord.identity.models import Role
from accord.node.backup import backup, restore
from accord.node.home import AREAS, KEYS_DIR, Identity, init_node, read_identity, write_areas

card_app = typer.Typer(help="This node's public participant card.", no_args_is_help=True)
key_app = typer.Typer(help="This node's keys: rotation (ADR 0018).", no_args_is_help=True)


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
        database_url: Annotated[
            str | None,
            typer.Option(
                help="PostgreSQL database of the node (postgresql://USER@HOST:PORT/NAME), "
                "kept in settings.toml; default: ACCORD_DATABASE_URL, else SQLite in the folder."
            ),
        ] = None,
        directory: DirOption = None,
    ) -> None:
        """Create a node: keys (encrypted with the passphrase), database, identity."""
        settings = settings_for(directory)
        try:
            role_list = tuple(Role(r) for r in _split(roles))
        except ValueError as exc:
            raise ConfigError(f"--roles: {exc}", advice=f"Use any of: {', '.join(Role)}.") from None
        identity = Identity(node_id, name, country, role_list, _split(languages), url.rstrip("/"))
        chosen = database_url or (
            settings.database_url.get_secret_value() if settings.database_url else None
        )
        secret = passphrase(settings, confirm=True)
        participant = init_node(settings.home, identity, secret, database_url=chosen)
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
    secret, keys = passphrase(settings), settings.home / KEYS_DIR
    latest = KeyRing.load(keys, secret).latest  # a rotated node's key goes with its newest keys
    add_alert_key(generation_folder(keys, latest.number), secret)
    console.print("Alert signing key created; run `accord card export` for the stewards.")


def register_backup(app: typer.Typer) -> None:
    @app.command("backup")
    def backup_command(
        out: Annotated[Path, typer.Option("--out", "-o", help="The backup file to write.")],
        directory: DirOption = None,
    ) -> None:
        """Back the node up while it runs: a consistent database snapshot (SQLite's backup
        API), the keys still encrypted, the evidence folders (ADR 0019)."""
        with opened_node(directory) as node:
            if node.shared_database:
                raise NodeError(
                    "this node's database is PostgreSQL: `accord backup` copies the SQLite file",
                    advice="Back up the database with pg_dump or PITR and the node folder with "
                    "tar, as docs/deployment.md describes.",
                )
            done = backup(node.home, out, node_id=node.id, now=node.clock.now())
        console.print(f"Backed up {node.id}: {done.files} files, {done.bytes} bytes, to {out}")

    @app.command("restore")
    def restore_command(
        archive: Annotated[Path, typer.Argument(help="A file written by `accord backup`.")],
        directory: DirOption = None,
    ) -> None:
        """Restore a backup into a new node folder, checking every file; the node's
        passphrase must unlock the restored keys, and its audit log must verify."""
        settings = settings_for(directory)
        manifest = restore(archive, settings.home)
        with opened_node(directory) as node:
            records, checkpoints, _pending = AuditLog(node).verify_local()
        console.print(
            f"Restored {manifest.get('node')} from {manifest.get('created_at')} into "
            f"{settings.home}: audit log of {records} records verifies against its "
            f"{checkpoints} checkpoints. Start it with `accord serve`."
        )


@key_app.command("rotate")
def rotate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the new card here.")],
    at: Annotated[
        datetime | None,
        typer.Option(help="When the new keys take over (ISO 8601; default: now)."),
    ] = None,
    compromised: Annotated[
        bool,
        typer.Option(
            help="The old keys may be known to someone else: nothing they sign "
            "counts, even dated before, unless anchored before the rotation."
        ),
    ] = False,
    directory: DirOption = None,
) -> None:
    """Make new signing and encryption keys, in force from --at, and the card listing them
    (the old ones retired at --at) for the stewards' next directory version."""
    settings = settings_for(directory)
    secret = passphrase(settings)
    with opened_node(directory) as node:
        now = node.clock.now()
        since = (at if at is None or at.tzinfo else at.astimezone()) or now
        if since < now - timedelta(minutes=1):
            raise InputError(
                f"--at {since.isoformat()} is in the past: a rotation cannot be back-dated",
                advice="Pass a time from now on.",
            )
        ring = node.ring.rotate(node.home / KEYS_DIR, secret, since=since, compromised=compromised)
        participant = node.identity.participant_at(ring, since)
        write_output(out, make_card(participant, ring.latest.keys.signing, now))
        event = Event(node.id, Action.KEY_ROTATED, f"keys/{ring.latest.number}",
                      sha256_hex(out.read_bytes()), ())  # fmt: skip
        node.writer.run(lambda connection: record(connection, [event], now))
    flag = " (old keys compromised)" if compromised else ""
    console.print(
        f"Keys of {node.id}, generation {ring.latest.number}, in force from "
        f"{to_rfc3339(since)}{flag}."
    )
    console.print(
        f"Give {out} to the stewards: their next directory version must be installed on "
        "every node before then."
    )
