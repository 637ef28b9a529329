"""``accord audit``: checkpoints, proofs, and their offline verification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from accord.audit.log import log_origin
from accord.audit.note import NoteVerifier
from accord.audit.proofs import (
    checkpoint_document,
    consistency_document,
    inclusion_document,
    verify_document,
)
from accord.audit.service import AuditLog
from accord.cli.common import DirOption, console, opened_node, print_table, read_input
from accord.errors import InputError
from accord.identity.card import verify_card
from accord.jose import ed25519_from_jwk

app = typer.Typer(help="The tamper-evident audit log and its proofs.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print the JSON proof document.")]


def _emit(document: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:  # as is: rich would wrap a signed note's lines (and read [..] as markup)
        typer.echo(text, nl=False)


@app.command()
def checkpoint(as_json: JsonOption = False, directory: DirOption = None) -> None:
    """Sign a checkpoint of the log now (C2SP tlog-checkpoint) and print it."""
    with opened_node(directory) as node:
        published = AuditLog(node).checkpoint()
    _emit(checkpoint_document(published.note), as_json, published.note.decode())


@app.command()
def prove(
    index: Annotated[int, typer.Option("--index", min=0, help="Entry index.")],
    as_json: JsonOption = False,
    directory: DirOption = None,
) -> None:
    """Inclusion proof of entry N against the latest checkpoint (RFC 9162 §2.1.3)."""
    with opened_node(directory) as node:
        proof = AuditLog(node).prove(index)
    document = inclusion_document(proof)
    text = (
        f"entry {index}: {proof.record.decode()}\n{len(proof.hashes)} hashes to size {proof.size}\n"
    )
    _emit(document, as_json, text)


@app.command()
def consistency(
    old: Annotated[int, typer.Option("--from", min=0, help="Size of the older checkpoint.")],
    new: Annotated[int, typer.Option("--to", min=0, help="Size of the newer checkpoint.")],
    as_json: JsonOption = False,
    directory: DirOption = None,
) -> None:
    """Consistency proof between two checkpoints of this node (RFC 9162 §2.1.4)."""
    with opened_node(directory) as node:
        proof = AuditLog(node).consistency(old, new)
    text = f"{len(proof.hashes)} hashes prove size {new} extends size {old}\n"
    _emit(consistency_document(proof), as_json, text)


@app.command()
def key(directory: DirOption = None) -> None:
    """Print this log's verifier key (C2SP signed-note vkey) for partners and courts."""
    with opened_node(directory) as node:
        typer.echo(AuditLog(node).verifier.vkey())


@app.command()
def verify(
    document: Annotated[Path, typer.Argument(help="A JSON document from --json, or - for stdin.")],
    vkey: Annotated[str | None, typer.Option(help="The log's verifier key.")] = None,
    card: Annotated[Path | None, typer.Option(help="The node's participant card.")] = None,
) -> None:
    """Check a checkpoint, inclusion or consistency proof offline, with only the node's
    public key (no node, no database). Exits 0 only if it holds."""
    verifier = _verifier(vkey, card)
    console.print(f"OK: {verify_document(read_input(document), verifier)}")


@app.command("verify-local")
def verify_local(directory: DirOption = None) -> None:
    """Recompute the log from the stored records and check every signed checkpoint."""
    with opened_node(directory) as node:
        records, checkpoints, uncovered = AuditLog(node).verify_local()
    console.print(
        f"OK: {records} records match {checkpoints} signed checkpoints"
        + (f"; the last {uncovered} are not covered by a checkpoint yet" if uncovered else "")
    )


@app.command()
def alarms(directory: DirOption = None) -> None:
    """Alarms this node raised as a witness: partners that showed two histories. Exits 1
    when there is any."""
    with opened_node(directory) as node:
        raised = AuditLog(node).alarms()
    print_table(
        "witness alarms",
        ("raised", "participant", "kind", "message"),
        (
            (a.raised_at.isoformat(timespec="seconds"), a.participant, a.kind, a.message)
            for a in raised
        ),
    )
    if raised:
        raise typer.Exit(1)


def _verifier(vkey: str | None, card: Path | None) -> NoteVerifier:
    if (vkey is None) == (card is None):
        raise InputError(
            "give exactly one of --vkey and --card",
            advice="Use the key from `accord audit key` or the node's card.",
        )
    if vkey is not None:
        return NoteVerifier.from_vkey(vkey)
    participant = verify_card(read_input(card))  # type: ignore[arg-type]
    return NoteVerifier(log_origin(participant.id), ed25519_from_jwk(participant.signing_key))
