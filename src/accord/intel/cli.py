"""``accord intel``: STIX 2.1 objects, TAXII collections, sharing under TLP 2.0, sync with
partners, MISP import and export, API tokens for local tools."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from accord.cli.common import DirOption, console, opened_node, print_table, read_input, write_output
from accord.errors import InputError
from accord.federation.service import Federation
from accord.intel import misp, store, sync, tokens
from accord.intel.feed import events
from accord.intel.models import Reader
from accord.intel.service import Intel, row_marking
from accord.intel.store import Filter

app = typer.Typer(
    help="Threat intelligence: STIX 2.1 over TAXII 2.1, TLP 2.0.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens for this node's own tools.", no_args_is_help=True)
app.add_typer(token_app, name="token")

FileArg = Annotated[
    Path,
    typer.Argument(help="A STIX 2.1 bundle or object (JSON); - for stdin.", show_default=False),
]
CollectionOption = Annotated[
    str | None,
    typer.Option("--collection", "-c", help="Collection id or alias (default: shared-with-me)."),
]
Ids = Annotated[list[str], typer.Argument(help="STIX object ids.", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _target(intel: Intel, name: str | None) -> str:
    return intel.collection(name).id if name else intel.inbox().id


@app.command("collection")
def collection_command(
    title: Annotated[str, typer.Argument(help="The collection's title.", show_default=False)],
    alias: Annotated[str | None, typer.Option(help="A short name for URLs.")] = None,
    read: Annotated[
        list[str] | None,
        typer.Option("--read", help="A participant or group that may read (repeat)."),
    ] = None,
    write: Annotated[
        list[str] | None,
        typer.Option("--write", help="A participant or group that may write (repeat)."),
    ] = None,
    description: Annotated[str, typer.Option(help="What it holds.")] = "",
    directory: DirOption = None,
) -> None:
    """Create a TAXII collection; nobody but this node's tools may use it unless named."""
    with opened_node(directory) as node:
        item = Intel(Federation(node)).create_collection(
            title, alias=alias, description=description, readers=read or (), writers=write or ()
        )
    console.print(f"collection {item.id} ({item.alias or 'no alias'}) created", markup=False)


@app.command("collections")
def collections_command(directory: DirOption = None) -> None:
    """This node's collections and who may read and write them."""
    with opened_node(directory) as node:
        items = Intel(Federation(node)).collections()
    print_table(
        "Collections",
        ("id", "alias", "title", "readers", "writers"),
        [(c.id, c.alias or "", c.title, ", ".join(c.readers), ", ".join(c.writers)) for c in items],
    )


@app.command("add")
def add_command(
    file: FileArg, collection: CollectionOption = None, directory: DirOption = None
) -> None:
    """Validate a bundle and store its objects (all or none, every problem listed)."""
    data = read_input(file)
    with opened_node(directory) as node:
        intel = Intel(Federation(node))
        status = intel.add(_target(intel, collection), data, asker=node.id)
    new = sum("message" not in s for s in status["successes"])
    console.print(f"{status['total_count']} objects valid, {new} new stored", markup=False)


@app.command("list")
def list_command(
    collection: CollectionOption = None,
    types: Annotated[str | None, typer.Option("--type", help="Comma-separated STIX types.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    as_json: JsonOption = False,
    directory: DirOption = None,
) -> None:
    """The latest version of each object, oldest first, with its marking and originator."""
    with opened_node(directory) as node:
        intel = Intel(Federation(node))
        target = _target(intel, collection)
        with node.read_engine.connect() as connection:
            rows = store.page(
                connection,
                target,
                Filter(types=tuple((types or "").split(",")) if types else ()),
                None,
                limit,
            )
    if as_json:
        typer.echo(json.dumps([json.loads(r.raw) for r in rows], indent=2, ensure_ascii=False))
        return
    print_table(
        "Objects",
        ("id", "type", "version", "marking", "originator"),
        [(r.stix_id, r.type, r.version, row_marking(r).label, r.origin) for r in rows],
    )


@app.command("show")
def show_command(
    stix_id: Annotated[str, typer.Argument(help="A STIX id.", show_default=False)],
    directory: DirOption = None,
) -> None:
    """One object as stored, byte for byte, with its marking and originator."""
    with opened_node(directory) as node:
        [(row, item)] = Intel(Federation(node)).held([stix_id])
    console.print(
        f"# in {item.alias or item.id}; {row_marking(row).label}; from {row.origin}", markup=False
    )
    typer.echo(row.raw.decode())


@app.command("preview")
def preview_command(
    ids: Ids,
    to: Annotated[str, typer.Option(help="The participant or group you would share with.")],
    directory: DirOption = None,
) -> None:
    """Who a share would reach, and why each other participant would not."""
    with opened_node(directory) as node:
        lines = Intel(Federation(node)).preview(ids, [to])
    print_table(
        f"Sharing with {to}",
        ("object", "participant", "receives", "why"),
        [(o, p, "yes" if ok else "no", why) for o, p, ok, why in lines],
    )


@app.command("share")
def share_command(
    ids: Ids,
    to: Annotated[str, typer.Option(help="A participant or group.")],
    directory: DirOption = None,
) -> None:
    """Send objects with their originator's grant; a hop a marking forbids is refused and
    audited."""
    with opened_node(directory) as node:
        message_id = Intel(Federation(node)).share(ids, to)
    console.print(f"shared {len(ids)} object(s) with {to}: message {message_id}", markup=False)


@app.command("sighting")
def sighting_command(file: FileArg, directory: DirOption = None) -> None:
    """Report a STIX sighting: stored here and sent back to the producer of what it sighted."""
    data = read_input(file)
    with opened_node(directory) as node:
        message_id = Intel(Federation(node)).report_sighting(data)
    console.print(f"sighting sent to the producer: message {message_id}", markup=False)


@app.command("subscribe")
def subscribe_command(
    partner: Annotated[str, typer.Argument(help="The partner participant.", show_default=False)],
    collection: Annotated[
        str, typer.Argument(help="The partner's collection id or alias.", show_default=False)
    ],
    into: CollectionOption = None,
    types: Annotated[str, typer.Option(help="Comma-separated STIX types.")] = "",
    labels: Annotated[str, typer.Option(help="Comma-separated labels.")] = "",
    markings: Annotated[
        str, typer.Option(help="Comma-separated TLP levels, e.g. green,amber.")
    ] = "",
    added_after: Annotated[
        str | None, typer.Option(help="Only objects the partner added after this time.")
    ] = None,
    directory: DirOption = None,
) -> None:
    """Subscribe to a partner's collection; the partner applies the filter before sending."""

    def split(text: str) -> tuple[str, ...]:
        return tuple(v for v in text.split(",") if v)

    with opened_node(directory) as node:
        sub = sync.subscribe(
            Intel(Federation(node)),
            partner,
            collection,
            into=into,
            types=split(types),
            labels=split(labels),
            markings=split(markings),
            added_after=added_after,
        )
    console.print(f"subscription {sub.id} to {partner}/{collection}", markup=False)


@app.command("sync")
def sync_command(
    subscription: Annotated[
        str | None, typer.Argument(help="One subscription (default: all).")
    ] = None,
    directory: DirOption = None,
) -> None:
    """Pull subscriptions from their last stored page, with progress and time remaining."""
    with opened_node(directory) as node:
        intel = Intel(Federation(node))
        subs = [sync.find(intel, subscription)] if subscription else sync.subscriptions(intel)
        for sub in subs:
            with Progress(
                TextColumn(f"{sub.partner}/{sub.collection}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("objects"),
                TimeRemainingColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("sync", total=None)

                def show(
                    done: int, total: int | None, task: int = task, bar: Progress = bar
                ) -> None:
                    bar.update(task, completed=done, total=total)  # type: ignore[arg-type]

                stored = asyncio.run(sync.pull(intel, sub, show))
            console.print(f"{sub.id}: {stored} objects checked and stored", markup=False)


@app.command("subscriptions")
def subscriptions_command(directory: DirOption = None) -> None:
    with opened_node(directory) as node:
        subs = sync.subscriptions(Intel(Federation(node)))
    print_table(
        "Subscriptions",
        ("id", "partner", "collection", "filter", "synced"),
        [(s.id, s.partner, s.collection, json.dumps(s.filter), str(s.synced)) for s in subs],
    )


@app.command("import-misp")
def import_misp_command(
    file: Annotated[Path, typer.Argument(help="A MISP event (JSON).", show_default=False)],
    collection: CollectionOption = None,
    directory: DirOption = None,
) -> None:
    """Convert a MISP event to STIX 2.1 (misp-stix), keeping its TLP and distribution, and
    add it."""
    bundle = misp.to_stix(read_input(file))
    with opened_node(directory) as node:
        intel = Intel(Federation(node))
        status = intel.add(_target(intel, collection), bundle, asker=node.id)
    console.print(f"MISP event imported: {status['total_count']} STIX objects", markup=False)


@app.command("export-misp")
def export_misp_command(
    ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="STIX ids: a grouping or report and what it refers to.", show_default=False
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the MISP event.")] = None,
    feed: Annotated[
        Path | None, typer.Option(help="Write a MISP feed of --collection here instead.")
    ] = None,
    collection: CollectionOption = None,
    directory: DirOption = None,
) -> None:
    """Export objects as one MISP event (TLP tag and distribution kept), or a collection as a
    MISP feed folder (manifest.json and one file per event) a MISP instance can pull."""
    with opened_node(directory) as node:
        intel = Intel(Federation(node))
        if feed is not None:
            target = intel.collection(collection) if collection else intel.inbox()
            tool = Reader(f"operator:{node.id}", participant=False, red=True, read=("*",))
            path = misp.write_feed(feed, events(intel, target, tool))
            console.print(f"MISP feed written: {path}", markup=False)
            return
        if not ids or out is None:
            raise InputError("name the objects and --out, or give --feed", advice="See --help.")
        rows = intel.held(ids)
    write_output(out, misp.to_misp([json.loads(r.raw) for r, _ in rows]))
    console.print(f"MISP event written to {out}", markup=False)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="The tool's name.", show_default=False)],
    read: Annotated[
        list[str] | None, typer.Option("--read", help="Collection it may read ('*': all).")
    ] = None,
    write: Annotated[
        list[str] | None, typer.Option("--write", help="Collection it may write.")
    ] = None,
    red: Annotated[bool, typer.Option("--allow-red", help="It may read TLP:RED objects.")] = False,
    directory: DirOption = None,
) -> None:
    """Make an API token (printed once; only its hash is stored)."""
    with opened_node(directory) as node:
        token = tokens.create(node, name, read=tuple(read or ()), write=tuple(write or ()), red=red)
    typer.echo(token)


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="The tool's name.", show_default=False)],
    directory: DirOption = None,
) -> None:
    with opened_node(directory) as node:
        tokens.revoke(node, name)
    console.print(f"token {name} revoked", markup=False)


@token_app.command("list")
def token_list(directory: DirOption = None) -> None:
    with opened_node(directory) as node:
        items = tokens.listing(node)
    print_table(
        "API tokens",
        ("name", "read", "write", "TLP:RED", "state"),
        [
            (
                t.name,
                ",".join(t.read),
                ",".join(t.write),
                "yes" if t.red else "no",
                "revoked" if t.revoked_at else "live",
            )
            for t in items
        ],
    )
