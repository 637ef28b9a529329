"""``accord send``, ``inbox``, ``outbox``, ``show`` and ``ack``."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from accord.cli.common import DirOption, console, opened_node, print_table
from accord.envelope.models import Kind, Priority
from accord.errors import InputError
from accord.federation.reading import Attachment, InboxRow, Mailbox
from accord.federation.service import Federation


def _time(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def send(
    to: Annotated[str, typer.Option(help="Participant id or group name.")],
    subject: Annotated[str, typer.Option(help="Subject line.")],
    text: Annotated[str | None, typer.Option(help="Message text.")] = None,
    file: Annotated[list[Path] | None, typer.Option(help="Attach a file (repeatable).")] = None,
    priority: Annotated[Priority, typer.Option(help="Routing priority.")] = Priority.ROUTINE,
    directory: DirOption = None,
) -> None:
    """Sign, encrypt and queue a message; the running node delivers it."""
    if not text and not file:
        raise InputError("give --text or at least one --file", advice="Say what to send.")
    body = {"subject": subject, "text": text or "", "attachments": _attachments(file or [])}
    with opened_node(directory) as node:
        message_id = Federation(node).send(to, Kind.NOTE, body, priority)
    console.print(f"queued {message_id} to {to}")


def inbox(directory: DirOption = None) -> None:
    """Messages received, newest first."""
    with opened_node(directory) as node:
        rows = Mailbox(Federation(node)).inbox()
    print_table(
        "inbox",
        ("message id", "from", "received", "priority", "subject", "status"),
        (
            (r.message_id, r.sender, _time(r.received_at), r.priority, r.subject, _status(r))
            for r in rows
        ),
    )


def _status(row: InboxRow) -> str:
    return "acknowledged" if row.acked else ("opened" if row.opened else "new")


def outbox(directory: DirOption = None) -> None:
    """Messages sent, with the delivery state per recipient."""
    with opened_node(directory) as node:
        rows = Mailbox(Federation(node)).outbox()
    print_table(
        "outbox",
        ("message id", "to", "state", "attempts", "delivered", "last error"),
        (
            (
                r.message_id,
                r.recipient,
                r.state.value,
                str(r.attempts),
                _time(r.delivered_at),
                r.last_error or "",
            )
            for r in rows
        ),
    )


def show(
    message_id: Annotated[str, typer.Argument(help="Message id.")],
    save: Annotated[Path | None, typer.Option(help="Save attachments in this folder.")] = None,
    directory: DirOption = None,
) -> None:
    """Decrypt, verify and display one message (received or sent)."""
    with opened_node(directory) as node:
        shown = Mailbox(Federation(node)).open(message_id)
    routing = shown.opened.routing
    console.print(f"[bold]{escape(str(shown.opened.body.get('subject', '')))}[/]")
    console.print(
        f"id {routing.message_id}  from {routing.sender}  to "
        f"{', '.join(routing.recipients)}  created {routing.created.isoformat()}"
    )
    console.print(f"signature verified; sha256 {shown.opened.sha256}")
    console.print("")
    console.print(str(shown.opened.body.get("text", "")), markup=False)
    for number, attachment in enumerate(shown.attachments, 1):
        console.print(
            f"attachment {attachment.name} ({attachment.size} bytes, sha256 {attachment.sha256})",
            markup=False,
        )
        if save is not None:
            path = _save(save, attachment, number)
            console.print(f"  saved as {path}", markup=False)
    for delivery in shown.deliveries:
        console.print(f"  {delivery.recipient}: {delivery.state.value} {delivery.last_error or ''}")


def ack(
    message_id: Annotated[str, typer.Argument(help="Id of a received message.")],
    directory: DirOption = None,
) -> None:
    """Tell the sender, signed, that this message was opened here."""
    with opened_node(directory) as node:
        ack_id = Mailbox(Federation(node)).acknowledge(message_id)
    console.print(f"acknowledgement {ack_id} queued")


def register(app: typer.Typer) -> None:
    app.command("send")(send)
    app.command("inbox")(inbox)
    app.command("outbox")(outbox)
    app.command("show")(show)
    app.command("ack")(ack)


def _save(folder: Path, attachment: Attachment, number: int) -> Path:
    """Write an attachment into ``folder`` under its base name only: the name comes from the
    sender, so ``..``, ``.``, an empty name or a NUL byte must not pick the path."""
    name = Path(attachment.name).name
    if name in {"", ".", ".."} or "\0" in name:
        name = f"attachment-{number}"
    path = folder / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(attachment.data)
    except OSError as exc:
        raise InputError(
            f"--save: cannot write {path}: {exc.strerror}",
            advice="Choose a writable folder for --save.",
        ) from exc
    return path


def _attachments(files: list[Path]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"--file {path}: {exc.strerror}", advice="Check the path.") from exc
        out.append(
            {
                "name": path.name,
                "media_type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "data": base64.b64encode(data).decode("ascii"),
            }
        )
    return out
