"""``accord directory``: build, sign and install the federation directory."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from accord.boundedjson import parse_json
from accord.cli.common import (
    DirOption,
    console,
    opened_node,
    passphrase,
    print_table,
    read_input,
    settings_for,
    write_output,
)
from accord.clock import SystemClock
from accord.documents import load
from accord.errors import DirectoryError
from accord.identity.card import verify_card
from accord.identity.directory import (
    draft_bytes,
    read_document,
    sign_directory,
)
from accord.identity.keys import read_private_key, write_private_key
from accord.identity.models import DirectoryDocument, Group, StewardSet
from accord.identity.registry import read_registry
from accord.identity.service import DirectoryStore, load_steward_set
from accord.jose import public_jwk

app = typer.Typer(help="Build, sign and install the federation directory.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="Directory file (draft or signed JSON).")]


def _read_json(path: Path) -> Any:
    try:
        return parse_json(read_input(path), what=str(path))
    except ValueError as exc:
        raise DirectoryError(
            f"{path} is not JSON: {exc}",
            advice="Pass the .pub.json file written by `accord directory steward-key`.",
        ) from exc


def _rewrite(path: Path, document: DirectoryDocument, had_signatures: bool) -> None:
    write_output(path, draft_bytes(document))
    if had_signatures:
        console.print("[yellow]The directory changed: earlier signatures were removed.[/]")


def _update(path: Path, **changes: object) -> DirectoryDocument:
    data = read_input(path)
    document = read_document(data)
    try:
        updated = DirectoryDocument.model_validate({**document.model_dump(), **changes})
    except ValidationError as exc:
        raise DirectoryError(f"the change would make the directory invalid: {exc}") from exc
    _rewrite(path, updated, b'"signatures"' in data)
    return updated


@app.command("steward-key")
def steward_key(
    out: Annotated[Path, typer.Option(help="Private key file to create (PEM, encrypted).")],
    kid: Annotated[str, typer.Option(help="Key id naming this steward, e.g. steward-unodc.")],
) -> None:
    """Create a steward signing key; writes OUT and OUT.pub.json (the public JWK)."""
    public = out.with_name(out.name + ".pub.json")
    for path in (out, public):
        if path.exists():
            raise DirectoryError(
                f"{path} already exists", advice="Choose another --out: keys are never overwritten."
            )
    key = Ed25519PrivateKey.generate()
    try:
        write_private_key(out, key, passphrase(settings_for(None), confirm=True))
    except OSError as exc:
        raise DirectoryError(
            f"cannot write {out}: {exc.strerror}", advice="Check the folder exists and is writable."
        ) from exc
    write_output(public, json.dumps(public_jwk(key.public_key(), kid), indent=2).encode() + b"\n")
    console.print(f"Steward key {kid}: private {out}, public {public}")


@app.command("new")
def new(
    out: Annotated[Path, typer.Option(help="Draft directory file to write.")],
    federation: Annotated[str, typer.Option(help="Federation name (slug).")],
    stewards: Annotated[list[Path], typer.Option(help="Steward public JWK file (repeat).")],
    threshold: Annotated[int, typer.Option(help="Steward signatures required.")],
    version: Annotated[int, typer.Option(help="Directory version; must grow.")] = 1,
    valid_days: Annotated[int, typer.Option(help="Days until the directory expires.")] = 90,
    base: Annotated[
        Path | None, typer.Option("--from", help="Copy participants and groups from this one.")
    ] = None,
) -> None:
    """Start a draft directory (unsigned)."""
    now = SystemClock().now()
    keys = tuple(_read_json(path) for path in stewards)
    previous = read_document(read_input(base)) if base is not None else None
    try:
        document = DirectoryDocument(
            federation=federation,
            version=version,
            issued_at=now,
            expires_at=now + timedelta(days=valid_days),
            stewards=StewardSet(keys=keys, threshold=threshold),
            participants=previous.participants if previous else (),
            groups=dict(previous.groups) if previous else {},
            states_parties=previous.states_parties if previous else None,
        )
    except ValidationError as exc:
        raise DirectoryError(f"invalid directory: {exc}", advice="Correct the options.") from exc
    write_output(out, draft_bytes(document))
    console.print(f"Draft directory {federation} v{version} written to {out}")


@app.command("add")
def add(
    file: FileArg,
    cards: Annotated[list[Path], typer.Argument(help="Participant card files.")],
) -> None:
    """Add or replace participants from their self-signed cards."""
    added = [verify_card(read_input(card)) for card in cards]
    current = read_document(read_input(file)).participants
    ids = {p.id for p in added}
    _update(file, participants=[p for p in current if p.id not in ids] + added)
    console.print(f"Added {', '.join(sorted(ids))}")


@app.command("group")
def group(
    file: FileArg,
    name: Annotated[str, typer.Argument(help="Group name (slug).")],
    members: Annotated[str, typer.Option(help="Comma-separated participants or groups.")],
    description: Annotated[str, typer.Option(help="What the group is for.")] = "",
) -> None:
    """Define or replace a group; members may be participants or other groups."""
    names = tuple(m.strip() for m in members.split(",") if m.strip())
    groups = dict(read_document(read_input(file)).groups)
    try:
        groups[name] = Group(description=description, members=names)
    except ValidationError as exc:
        raise DirectoryError(
            f"invalid group {name!r}: {exc}", advice="List members as participant or group ids."
        ) from exc
    _update(file, groups=groups)
    console.print(f"Group {name}: {', '.join(names)}")


@app.command("registry")
def registry(
    file: FileArg,
    source: Annotated[Path, typer.Argument(help="States Parties registry, TOML or JSON.")],
) -> None:
    """Set the States Parties registry (UNCC Art. 65) the stewards sign with the directory."""
    states = read_registry(load(source, what="States Parties registry"))
    _update(file, states_parties=states)
    console.print(f"States Parties registry v{states.version}: {len(states.parties)} States")


@app.command("sign")
def sign(
    file: FileArg,
    key: Annotated[Path, typer.Option(help="Steward private key file.")],
    out: Annotated[Path | None, typer.Option(help="Write here (default: in place).")] = None,
) -> None:
    """Add this steward's signature (JWS JSON serialization, one signature per steward)."""
    data = read_input(file)
    private = read_private_key(key, passphrase(settings_for(None)))
    if not isinstance(private, Ed25519PrivateKey):
        raise DirectoryError(f"{key} is not an Ed25519 steward key")
    mine = public_jwk(private.public_key(), "")["x"]
    stewards = read_document(data).stewards
    kid = next((k["kid"] for k in stewards.keys if k.get("x") == mine), None)
    if kid is None:
        raise DirectoryError(
            f"{key} is not one of the directory's stewards",
            advice="Sign with a key listed in the directory's stewards.",
        )
    write_output(out or file, sign_directory(data, private, kid))
    console.print(f"Signed by {kid}")


@app.command("stewards")
def export_stewards(
    file: FileArg,
    out: Annotated[Path, typer.Option(help="Steward set file to write.")],
) -> None:
    """Write the directory's steward set: what nodes pin at their first install."""
    write_output(
        out, read_document(read_input(file)).stewards.model_dump_json(indent=2).encode() + b"\n"
    )
    console.print(f"Steward set written to {out}; give it to nodes out of band.")


@app.command("install")
def install(
    file: FileArg,
    stewards: Annotated[
        Path | None, typer.Option(help="Steward set to pin (first install only).")
    ] = None,
    directory: DirOption = None,
) -> None:
    """Verify a signed directory and install it on this node."""
    pinned = load_steward_set(read_input(stewards)) if stewards is not None else None
    with opened_node(directory) as node:
        installed = DirectoryStore(node).install(
            read_input(file), pinned=pinned, now=node.clock.now()
        )
    document = installed.document
    console.print(
        f"Installed directory {document.federation} v{document.version} "
        f"({len(document.participants)} participants, {len(document.groups)} groups)"
    )


@app.command("show")
def show(
    file: Annotated[
        Path | None, typer.Argument(help="A directory file; default: installed.")
    ] = None,
    directory: DirOption = None,
) -> None:
    """List participants and groups."""
    if file is not None:
        document = read_document(read_input(file))
    else:
        with opened_node(directory) as node:
            current = DirectoryStore(node).current(node.clock.now())
        if current is None:
            raise DirectoryError("no directory is installed", advice="Use `directory install`.")
        document = current.document
    print_table(
        f"{document.federation} v{document.version}, expires {document.expires_at:%Y-%m-%d}",
        ("id", "country", "name", "roles", "languages", "url"),
        (
            (p.id, p.country, p.name, ",".join(p.roles), ",".join(p.languages), p.url)
            for p in document.participants
        ),
    )
    for name, grp in document.groups.items():
        console.print(f"group [bold]{name}[/]: {', '.join(grp.members)}")
