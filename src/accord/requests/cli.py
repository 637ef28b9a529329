"""``accord request``: create, send, follow and answer cooperation requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from accord.cli.common import DirOption, console, opened_node, print_table, write_output
from accord.errors import FieldError, RequestInvalid
from accord.federation.service import Federation
from accord.requests import views
from accord.requests.catalogs import LANGUAGES
from accord.requests.events import Kind
from accord.requests.models import RequestType, article_of
from accord.requests.service import Requests, Shown, Summary
from accord.requests.validate import load, validate

app = typer.Typer(help="Cooperation requests under the Hanoi Convention.", no_args_is_help=True)

FileOption = Annotated[Path, typer.Option("--file", "-f", help="A TOML or JSON file.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
IdArg = Annotated[str, typer.Argument(help="The request's id.", show_default=False)]


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="A request file, TOML or JSON.", show_default=False)],
) -> None:
    """Check a request file against its type's rules; list every problem at once."""
    try:
        request = validate(load(file))
    except RequestInvalid as error:
        _problems(f"{file}: {len(error.errors)} problem(s)", error)
        raise RequestInvalid(
            f"{file} is not a valid request: {error.message}", advice=error.advice
        ) from error
    article = article_of(request.REQUEST_TYPE)
    console.print(f"valid: {request.type} request ({article}), {request.message_id}", markup=False)


@app.command("new")
def new_command(
    kind: Annotated[RequestType, typer.Argument(help="The request type.", show_default=False)],
    to: Annotated[str, typer.Option(help="The participant the request is for.")],
    file: FileOption,
    directory: DirOption = None,
) -> None:
    """Validate, submit and send a request (its id is made unless the file gives one)."""
    data = load(file)
    data.setdefault("type", kind.value)
    if data["type"] != kind.value:
        message = f"the file holds a {data['type']} request, not {kind.value}"
        raise RequestInvalid(
            message,
            advice="Name the type the file holds.",
            errors=[FieldError("type", "type_mismatch", message)],
        )
    with opened_node(directory) as node:
        try:
            summary = Requests(Federation(node)).create(data, to)
        except RequestInvalid as error:
            _problems(f"{file}: {len(error.errors)} problem(s)", error)
            raise
    console.print(
        f"{summary.type} request {summary.request_id} {_status(summary)}, queued for {to}",
        markup=False,
    )


@app.command("list")
def list_command(as_json: JsonOption = False, directory: DirOption = None) -> None:
    """Requests this node sent or received, most recently changed first."""
    with opened_node(directory) as node:
        rows = Requests(Federation(node)).summaries()
    if as_json:
        typer.echo(json.dumps([views.summary(r) for r in rows], indent=2, ensure_ascii=False))
        return
    print_table(
        "Cooperation requests",
        ("id", "type", "we are", "other State", "status", "updated"),
        (
            (
                r.request_id,
                f"{r.type} ({article_of(r.type)})",
                r.role,
                r.counterpart,
                _status(r),
                views.summary(r)["updated_at"],
            )
            for r in rows
        ),
    )


@app.command("show")
def show_command(
    request_id: IdArg, as_json: JsonOption = False, directory: DirOption = None
) -> None:
    """A request's record, state, timeline of events on both sides, links and deliveries."""
    with opened_node(directory) as node:
        shown = Requests(Federation(node)).show(request_id)
    if as_json:
        typer.echo(json.dumps(views.shown(shown), indent=2, ensure_ascii=False))
        return
    _print_shown(shown)


@app.command("transition")
def transition_command(
    request_id: IdArg,
    event: Annotated[Kind, typer.Argument(help="This State's move (§8.2).", show_default=False)],
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="The move's fields, TOML or JSON.")
    ] = None,
    directory: DirOption = None,
) -> None:
    """Make this State's move on a request and send it to the other State."""
    payload = load(file) if file is not None else {}
    with opened_node(directory) as node:
        summary = Requests(Federation(node)).transition(request_id, event, payload)
    console.print(f"{event}: {summary.request_id} is now {_status(summary)}", markup=False)


@app.command("reply")
def reply_command(request_id: IdArg, file: FileOption, directory: DirOption = None) -> None:
    """Answer a request: ``outcome`` (executed, partially_executed, refused, preserved,
    postponed, conditions) and its fields, e.g. use_limitations or grounds and reasons."""
    data = load(file)
    with opened_node(directory) as node:
        summary = Requests(Federation(node)).reply(request_id, data)
    console.print(f"replied: {summary.request_id} is now {_status(summary)}", markup=False)


@app.command("forward")
def forward_command(
    request_id: IdArg,
    to: Annotated[str, typer.Option(help="The participant to send the data on to.")],
    note: Annotated[str, typer.Option(help="A note for the recipient.")] = "",
    directory: DirOption = None,
) -> None:
    """Send data received under a request on; only with the supplying State's authorisation
    (UNCC Art. 36(3)); a refused attempt is recorded in the audit log."""
    with opened_node(directory) as node:
        summary = Requests(Federation(node)).forward(request_id, to, note)
    console.print(f"forwarded {summary.request_id} to {to}", markup=False)


@app.command("render")
def render_command(
    request_id: IdArg,
    lang: Annotated[
        str | None,
        typer.Option(
            help=f"{', '.join(LANGUAGES)} (default: the first one the requested State "
            "accepts, else en)."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the HTML here (default: print).")] = None,
    directory: DirOption = None,
) -> None:
    """A printable HTML document of the request and its replies: labels, choices and legal
    references translated, free text as written."""
    with opened_node(directory) as node:
        html = Requests(Federation(node)).render(request_id, lang)
    if out is None:
        typer.echo(html)
        return
    write_output(out, html.encode())
    console.print(f"written to {out}", markup=False)


@app.command("due")
def due_command(as_json: JsonOption = False, directory: DirOption = None) -> None:
    """What is due or overdue on this node's requests, soonest first."""
    with opened_node(directory) as node:
        items = [views.due_item(item, owner) for item, owner in Requests(Federation(node)).due()]
    if as_json:
        typer.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    print_table(
        "Due and overdue",
        ("due", "request", "what", "owed by", "reason", "article"),
        (
            (
                ("OVERDUE " if i["overdue"] else "") + i["due_at"],
                i["request_id"],
                i["what"],
                i["owed_by"],
                i["reason"],
                i["article"],
            )
            for i in items
        ),
    )


def _status(summary: Summary) -> str:
    return summary.status.value if summary.status else "sent (a one-way communication)"


def _problems(title: str, error: RequestInvalid) -> None:
    print_table(
        title,
        ("field", "rule", "article", "problem"),
        ((e.field, e.rule, e.article or "", e.message) for e in error.errors),
    )


def _print_shown(shown: Shown) -> None:
    data: dict[str, Any] = views.shown(shown)
    summary = shown.summary
    console.print(
        f"{summary.type} request {summary.request_id} ({article_of(summary.type)}): "
        f"{_status(summary)}; we are the {summary.role} State, with {summary.counterpart}",
        markup=False,
    )
    state = data["state"] or {}
    for name in ("hold", "refusal", "use_limitations", "conditions", "onward_authorised"):
        if state.get(name):
            console.print(f"  {name}: {json.dumps(state[name], ensure_ascii=False)}", markup=False)
    print_table(
        "Timeline (both States)",
        ("at", "State", "#", "event", "details"),
        (
            (
                e["at"],
                e["actor"],
                str(e["seq"]),
                e["kind"],
                json.dumps(e["payload"], ensure_ascii=False) if e["payload"] else "",
            )
            for e in data["events"]
        ),
    )
    for rejection in data["rejected"]:
        console.print(
            f"  rejected: {rejection['actor']} #{rejection['seq']}: {rejection['message']}",
            markup=False,
        )
    for link in data["links"]:
        console.print(
            f"  link: {link['request_id']} -> {link['linked_id']} ({link['relation']})",
            markup=False,
        )
    for message in data["messages"]:
        if message["delivery"] is not None:
            error = f" ({message['last_error']})" if message["last_error"] else ""
            console.print(
                f"  message {message['message_id']}: {message['delivery']}{error}", markup=False
            )
