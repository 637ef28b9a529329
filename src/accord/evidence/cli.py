"""``accord evidence``: seal, verify, open, extract, export, dispose, custody and CASE export of
evidence packages."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from accord.blobs import open_store
from accord.cli.common import (
    DirOption,
    console,
    err_console,
    opened_node,
    print_table,
    read_input,
    settings_for,
    write_output,
)
from accord.clock import to_rfc3339
from accord.errors import EvidenceError, InputError
from accord.evidence.age import identity_string
from accord.evidence.case import case_json
from accord.evidence.models import Acquisition
from accord.evidence.package import PACKAGES, Package, locate, stored
from accord.evidence.seal import collect
from accord.evidence.service import Evidence
from accord.evidence.signing import KeyLookup
from accord.evidence.trust import from_cards, from_stewards, read_identity
from accord.evidence.verify import Verified, extract, read_custody, verify_package
from accord.node.home import Node
from accord.requests.service import Proposal

app = typer.Typer(help="Electronic evidence packages.", no_args_is_help=True)

PackageArg = Annotated[
    str,
    typer.Argument(
        help="The package folder, or its s3:// place in the node's object store (as "
        "`accord evidence seal` prints it).",
        show_default=False,
    ),
]
StewardsOption = Annotated[
    Path | None,
    typer.Option(help="Trust the package's directory if these stewards signed it."),
]
CardOption = Annotated[
    list[Path] | None,
    typer.Option("--card", help="Trust this participant card (repeat for each signer)."),
]
IdentityOption = Annotated[
    Path | None,
    typer.Option(help="Recipient key: an age identity file or a node's encryption.key.pem."),
]


@contextlib.contextmanager
def _progress(total: int, what: str) -> Iterator[Progress]:
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    with bar:
        bar.add_task(what, total=total)
        yield bar


def _advance(bar: Progress) -> Callable[[int], None]:
    task = bar.task_ids[0]
    return lambda count: bar.advance(task, count)


def _anchor(package: Package, stewards: Path | None, cards: list[Path] | None) -> KeyLookup:
    if stewards is not None and cards:
        raise InputError("pass --stewards or --card, not both")
    if stewards is not None:
        return from_stewards(package, read_input(stewards))
    if cards:
        return from_cards([read_input(card) for card in cards])
    raise InputError(
        "no trust anchor: a package cannot vouch for itself",
        advice="Pass --stewards FILE (the federation's steward set) or --card FILE per signer.",
    )


def _acquisition(
    acquired_by: str, acquired_at: datetime, method: str, tool: str, source: str
) -> Acquisition:
    try:
        return Acquisition(
            acquired_by=acquired_by,
            acquired_at=acquired_at if acquired_at.tzinfo else acquired_at.astimezone(),
            method=method,
            tool=tool,
            source=source,
        )
    except ValidationError as exc:
        raise InputError(f"acquisition metadata is invalid: {exc}") from exc


@app.command("seal")
def seal_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to seal.")],
    case: Annotated[str, typer.Option(help="Case reference.")],
    to: Annotated[str, typer.Option(help="Recipients: participants or groups, comma-separated.")],
    acquired_by: Annotated[str, typer.Option(help="Who acquired the data.")],
    acquired_at: Annotated[datetime, typer.Option(help="When (ISO 8601).")],
    method: Annotated[str, typer.Option(help="How it was acquired.")],
    tool: Annotated[str, typer.Option(help="With which tool (name and version).")],
    source: Annotated[str, typer.Option(help="From which source or provider.")],
    use_limitation: Annotated[
        list[str] | None, typer.Option(help="A use limitation (UNCC Art. 36); repeatable.")
    ] = None,
    request: Annotated[
        str | None,
        typer.Option(
            help="The Convention request this evidence answers or supports; the package names "
            "it and carries the use limitations of this node's reply."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Package folder to create (default: in the node's blob store, "
            "evidence/packages/ID: the node folder, or ACCORD_BLOB_URL)."
        ),
    ] = None,
    directory: DirOption = None,
) -> None:
    """Encrypt files to their recipients and this node, sign the manifest, start the custody.

    Files this node received under use limitations are sealed only for participants the
    supplying State allowed (UNCC Art. 36); otherwise nothing is sealed and the attempt is
    audited."""
    acquisition = _acquisition(acquired_by, acquired_at, method, tool, source)
    sources = collect(paths)
    forwards: list[str] = []

    def forwarded(move: Proposal) -> None:
        request, event, counterpart = move
        recipient = event.payload["recipient"]
        forwards.append(
            f"forwarded to {recipient} under request {request.message_id} with the "
            f"authorisation of {counterpart} (UNCC Art. 36(3)): recorded, and {counterpart} "
            "is told"
        )

    with opened_node(directory) as node, _progress(sum(s.size for s in sources), "sealing") as bar:
        manifest = Evidence(node).seal(
            sources,
            case=case,
            to=[address.strip() for address in to.split(",") if address.strip()],
            acquisition=acquisition,
            use_limitations=tuple(use_limitation or ()),
            out=out,
            progress=_advance(bar),
            request_id=request,
            forwarded=forwarded,
        )
        where = out or stored(node.blobs, f"{PACKAGES}/{manifest.package_id}").location
    size = sum(f.size for f in manifest.files)
    console.print(
        f"Sealed {len(manifest.files)} file(s), {size} bytes, as package {manifest.package_id} "
        f"in {where}\nrecipients: {', '.join(manifest.recipients)}",
        *(f"use limitation: {text}" for text in manifest.use_limitations),
        *forwards,
        sep="\n",
        markup=False,
    )


def _print_verified(verified: Verified, package: Package) -> None:
    manifest = verified.manifest
    print_table(
        f"Package {manifest.package_id} (case {manifest.case}), sealed by {manifest.sealed_by}",
        ["file", "bytes", "sha256", "checked"],
        [
            (f.path, str(f.size), f.sha256, "plaintext" if verified.decrypted else "ciphertext")
            for f in manifest.files
        ],
    )
    console.print(
        f"{package}: signature, custody ({len(verified.custody)} records) OK",
        *([f"under request: {manifest.request_id}"] if manifest.request_id else []),
        *(f"use limitation (UNCC Art. 36): {text}" for text in manifest.use_limitations),
        sep="\n",
        markup=False,
    )


@app.command("verify")
def verify_command(
    package: PackageArg,
    identity: IdentityOption = None,
    stewards: StewardsOption = None,
    card: CardOption = None,
) -> None:
    """Check a package offline: signature, custody, every chunk; every plaintext with a key."""
    bundle = _bundle(package, None)
    keys = _anchor(bundle, stewards, card)
    key = read_identity(identity, _passphrase()) if identity else None
    with _progress(bundle.stored_bytes(), "verifying") as bar:
        verified = verify_package(bundle, keys, identity=key, progress=_advance(bar))
    _print_verified(verified, bundle)


@app.command("extract")
def extract_command(
    package: PackageArg,
    out: Annotated[Path, typer.Option(help="Folder to create with the verified files.")],
    identity: IdentityOption = None,
    stewards: StewardsOption = None,
    card: CardOption = None,
    directory: DirOption = None,
) -> None:
    """Write the verified files. Without --identity, this node opens the package and records
    the extraction in the custody chain and its audit log."""
    bundle = _bundle(package, directory)
    if identity is None:
        with opened_node(directory) as node:
            service = Evidence(node)
            with _progress(bundle.stored_bytes(), "extracting") as bar:
                verified = service.extract(bundle, out, _advance(bar))
    else:
        keys = _anchor(bundle, stewards, card)
        key = read_identity(identity, _passphrase())
        with _progress(bundle.stored_bytes(), "extracting") as bar:
            verified = extract(bundle, keys, key, out, progress=_advance(bar))
        err_console.print("note: extracted offline; no custody record was added")
    _print_verified(verified, bundle)
    console.print(f"Files written to {out}", markup=False)


@app.command("open")
def open_command(package: PackageArg, directory: DirOption = None) -> None:
    """Decrypt with this node's key and check every file against the signed manifest, without
    writing them; records `opened` in the custody chain and the audit log."""
    bundle = _bundle(package, directory)
    with opened_node(directory) as node, _progress(bundle.stored_bytes(), "opening") as bar:
        verified = Evidence(node).open(bundle, _advance(bar))
    _print_verified(verified, bundle)


@app.command("export")
def export_command(
    package: PackageArg,
    out: Annotated[Path, typer.Option(help="Folder to create with the copy.")],
    purpose: Annotated[
        str, typer.Option(help="Why it leaves the node (kept in the custody record).")
    ],
    directory: DirOption = None,
) -> None:
    """Copy the sealed package out of the node (for a court, removable media, an archive),
    verify the copy and record the export, with its purpose, in both chains and the audit log."""
    bundle = _bundle(package, directory)
    with opened_node(directory) as node, _progress(bundle.stored_bytes(), "exporting") as bar:
        verified = Evidence(node).export(bundle, out, purpose, _advance(bar))
    _print_verified(verified, Package(out))
    console.print(f"Verified copy written to {out}", markup=False)


@app.command("dispose")
def dispose_command(
    package: PackageArg,
    reason: Annotated[
        str, typer.Option(help="Why (retention period ended, order no. ...); kept in the record.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the files are deleted.")] = False,
    directory: DirOption = None,
) -> None:
    """Record the disposal in the custody chain and the audit log, then delete the package's
    files; its manifest and chain of custody are kept as the record."""
    if not yes:
        raise InputError(
            f"disposing of {package} deletes its files for good",
            advice="Run again with --yes to confirm.",
        )
    with opened_node(directory) as node:
        record = Evidence(node).dispose(_bundle(package, node), reason)
    console.print(
        f"{package}: disposed of by {record.actor} at {to_rfc3339(record.at)} "
        f"({record.details.get('reason', '')}); files deleted, custody chain kept",
        markup=False,
    )


@app.command("custody")
def custody_command(
    package: PackageArg, stewards: StewardsOption = None, card: CardOption = None
) -> None:
    """Print the chain of custody and verify every link and signature."""
    bundle = _bundle(package, None)
    keys = _anchor(bundle, stewards, card)
    _, records = read_custody(bundle, keys)
    print_table(
        f"Chain of custody of {records[0].package_id}",
        ["#", "event", "by", "at", "details"],
        [
            (
                str(r.seq),
                r.event.value,
                r.actor,
                to_rfc3339(r.at),
                "; ".join(f"{k}={v}" for k, v in r.details.items()),
            )
            for r in records
        ],
    )
    console.print(f"{len(records)} records, each signed and linked to the one before: OK")


@app.command("export-case")
def export_case(
    package: PackageArg,
    out: Annotated[Path | None, typer.Option(help="File to write (default: print).")] = None,
    stewards: StewardsOption = None,
    card: CardOption = None,
) -> None:
    """Write the package's provenance as CASE/UCO JSON-LD (verified first)."""
    bundle = _bundle(package, None)
    keys = _anchor(bundle, stewards, card)
    manifest, records = read_custody(bundle, keys)
    document = case_json(manifest.as_json(), [r.as_json() for r in records])
    if out is None:
        typer.echo(document.decode(), nl=False)
    else:
        write_output(out, document)


@app.command("send")
def send_command(
    package: PackageArg,
    to: Annotated[
        str | None,
        typer.Option(help="Recipients, comma-separated (default: every recipient sealed for)."),
    ] = None,
    directory: DirOption = None,
) -> None:
    """Record the sending in the custody chain and queue the transfer; the running node
    (`accord serve`) sends the chunks, resumes after interruptions and stores each receipt."""
    addresses = [a.strip() for a in (to or "").split(",") if a.strip()]
    with opened_node(directory) as node:
        recipients = Evidence(node).send(_bundle(package, node), addresses)
    console.print(
        f"queued {package} to {', '.join(recipients)}; follow it with `accord evidence transfers`",
        markup=False,
    )


@app.command("transfers")
def transfers_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, with receipts.")] = False,
    directory: DirOption = None,
) -> None:
    """Packages sent and received by this node: state, chunks held by the receiver, receipt."""
    with opened_node(directory) as node:
        rows = Evidence(node).transfers()
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in rows], indent=2, ensure_ascii=False))
        return
    print_table(
        "Evidence transfers",
        ["", "package", "with", "state", "chunks", "updated", "detail"],
        [
            (
                "to" if r.direction == "out" else "from",
                r.package_id,
                r.peer,
                r.state,
                f"{r.chunks_held}/{r.chunks_total}",
                to_rfc3339(datetime.fromtimestamp(r.updated_at, UTC)),
                r.detail,
            )
            for r in rows
        ],
    )


@app.command("identity")
def identity_command(
    out: Annotated[Path, typer.Option(help="File to create (readable by you only).")],
    directory: DirOption = None,
) -> None:
    """Export this node's decryption key as an age identity file, for offline extraction.

    Anyone holding the file can read every package sealed to this node: keep it offline.
    """
    with opened_node(directory) as node:
        text = identity_string(node.keys.encryption)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise EvidenceError(f"{out} already exists", advice="Choose a new file name.") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(f"# accord node decryption key (age X25519 identity)\n{text}\n")
    console.print(
        f"Identity written to {out}; it decrypts every package sealed to this node.", markup=False
    )


def _passphrase() -> str | None:
    return os.environ.get("ACCORD_PASSPHRASE")


@app.command("anchor")
def anchor(package: PackageArg, directory: DirOption = None) -> None:
    """Keep with the package the proof, from this node's audit log, that what this node
    signed in it was logged and co-signed by a witness: after a key rotation it is what lets
    a package sealed before it still verify (ADR 0018)."""
    with opened_node(directory) as node:
        added = Evidence(node).anchor(_bundle(package, node))
    console.print(f"{added} anchor(s) added to {package}")


def _bundle(text: str, where: Node | Path | None) -> Package:
    """The package named on the command line: a folder, or a place in the node's blob store
    (the store of the node ``where`` is, or of the settings)."""
    if not text.startswith("s3://"):
        return Package(Path(text))
    if isinstance(where, Node):
        store = where.blobs
    else:
        settings = settings_for(where)
        store = open_store(settings, settings.home)
    if not text.startswith(store.url.rstrip("/") + "/"):
        raise InputError(
            f"{text} is not in this node's object store ({store.url})",
            advice="Set ACCORD_BLOB_URL (and ACCORD_BLOB_ENDPOINT) to the store that holds it.",
        )
    return locate(text, store)
