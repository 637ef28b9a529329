"""``accord alert`` and ``accord exercise``: compose, check, preview, send, update, cancel,
list, show and acknowledge CAP 1.2 alerts; subscribe to CAP feeds; run joint exercises."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.alerts import cap, report, views
from accord.alerts.drills import Drills
from accord.alerts.exercises import read_inject, read_spec
from accord.alerts.ingest import UNSIGNED, Feeds
from accord.alerts.models import cap_time
from accord.alerts.service import VIEWS, Alerts, Sent, Source, marking
from accord.cli.common import DirOption, console, opened_node, print_table, read_input, write_output
from accord.documents import load
from accord.errors import AlertSignatureInvalid, InputError
from accord.federation.service import Federation
from accord.node.home import Node

app = typer.Typer(
    help="Early-warning alerts (CAP 1.2): compose, check, send, follow.", no_args_is_help=True
)
feed_app = typer.Typer(
    help="External CAP Atom feeds this node pulls and redistributes.", no_args_is_help=True
)
exercise_app = typer.Typer(
    help="Joint exercises: injects, acknowledgements, after-action report.", no_args_is_help=True
)
app.add_typer(feed_app, name="feed")

FileArg = Annotated[
    Path, typer.Argument(help="CAP 1.2 XML, or CAP fields as TOML or JSON.", show_default=False)
]
RefArg = Annotated[
    str, typer.Argument(help="The alert: SENDER,IDENTIFIER or its identifier.", show_default=False)
]
ToOption = Annotated[str, typer.Option("--to", help="Comma-separated participants or groups.")]
ExerciseOption = Annotated[
    str | None, typer.Option(help="The exercise an Exercise alert belongs to.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _alerts(node: Node) -> Alerts:
    return Alerts(Federation(node))


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def read_source(path: Path, max_bytes: int = 1024 * 1024) -> Source:
    """A CAP document (``.xml``) as bytes, or a table of CAP fields (``.toml``, ``.json``)."""
    if path.suffix.lower() == ".xml" or str(path) == "-":
        return read_input(path)
    return load(path, what="CAP alert", max_bytes=max_bytes)


def _mark(status_marking: str, text: str) -> str:
    return f"{status_marking}: {text}" if status_marking else text


# Composing ----------------------------------------------------------------------------------


def _pairs(values: list[str], option: str) -> list[dict[str, str]]:
    out = []
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name or not text:
            raise InputError(
                f"{option} {value!r} is not NAME=VALUE", advice=f"Write {option} SAME=006109."
            )
        out.append({"valueName": name, "value": text})
    return out


def _when(value: str | None, now: datetime) -> str | None:
    """An ISO 8601 time with an offset, or ``+6h`` / ``+30m`` / ``+2d`` from now."""
    if value is None:
        return None
    if value.startswith("+") and value[-1:] in "mhd" and value[1:-1].isdigit():
        unit = {"m": "minutes", "h": "hours", "d": "days"}[value[-1]]
        return cap_time(now + timedelta(**{unit: int(value[1:-1])}))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{value!r} is not a time", advice="Write 2026-12-03T09:00:00+07:00 or +6h."
        ) from None
    if moment.tzinfo is None:
        raise InputError(
            f"{value!r} has no offset", advice="CAP times carry an offset (CAP 1.2 §3.2.1)."
        )
    return cap_time(moment)


@app.command("new")
def new_command(
    status: Annotated[str, typer.Option(help="Actual, Exercise, System, Test or Draft.")],
    event: Annotated[str, typer.Option(help="The subject event, e.g. 'Dengue outbreak'.")],
    category: Annotated[list[str], typer.Option(help="Geo, Met, Safety, Health ... (repeat).")],
    urgency: Annotated[str, typer.Option(help="Immediate, Expected, Future, Past, Unknown.")],
    severity: Annotated[str, typer.Option(help="Extreme, Severe, Moderate, Minor, Unknown.")],
    certainty: Annotated[str, typer.Option(help="Observed, Likely, Possible, Unlikely, Unknown.")],
    expires: Annotated[str, typer.Option(help="When it expires: ISO 8601 with offset, or +6h.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the CAP XML here (default: stdout).")
    ] = None,
    scope: Annotated[str, typer.Option(help="Public, Restricted or Private.")] = "Public",
    language: Annotated[str | None, typer.Option(help="RFC 3066 tag of the text, e.g. vi.")] = None,
    headline: Annotated[str | None, typer.Option()] = None,
    description: Annotated[str | None, typer.Option()] = None,
    instruction: Annotated[str | None, typer.Option()] = None,
    sender_name: Annotated[str | None, typer.Option()] = None,
    web: Annotated[str | None, typer.Option()] = None,
    contact: Annotated[str | None, typer.Option()] = None,
    response_type: Annotated[
        list[str] | None, typer.Option(help="Shelter, Evacuate, ... (repeat).")
    ] = None,
    onset: Annotated[str | None, typer.Option(help="ISO 8601 with offset, or +1h.")] = None,
    area_desc: Annotated[str | None, typer.Option(help="The area, in words.")] = None,
    polygon: Annotated[
        list[str] | None, typer.Option(help="'lat,lon lat,lon ...' closed (repeat).")
    ] = None,
    circle: Annotated[list[str] | None, typer.Option(help="'lat,lon radius_km' (repeat).")] = None,
    geocode: Annotated[list[str] | None, typer.Option(help="NAME=VALUE (repeat).")] = None,
    parameter: Annotated[list[str] | None, typer.Option(help="NAME=VALUE (repeat).")] = None,
    note: Annotated[str | None, typer.Option()] = None,
    restriction: Annotated[str | None, typer.Option()] = None,
    addresses: Annotated[str | None, typer.Option()] = None,
    directory: DirOption = None,
) -> None:
    """Compose a CAP 1.2 alert from options and write it (checked, not signed or sent)."""
    with opened_node(directory) as node:
        now = node.clock.now()
        area: dict[str, Any] = {
            "areaDesc": area_desc,
            "polygon": polygon or [],
            "circle": circle or [],
            "geocode": _pairs(geocode or [], "--geocode"),
        }
        info: dict[str, Any] = {
            "language": language,
            "category": category,
            "event": event,
            "responseType": response_type or [],
            "urgency": urgency,
            "severity": severity,
            "certainty": certainty,
            "onset": _when(onset, now),
            "expires": _when(expires, now),
            "senderName": sender_name,
            "headline": headline,
            "description": description,
            "instruction": instruction,
            "web": web,
            "contact": contact,
            "parameter": _pairs(parameter or [], "--parameter"),
            "area": [area] if area_desc else [],
        }
        fields = {
            "status": status,
            "scope": scope,
            "note": note,
            "restriction": restriction,
            "addresses": addresses,
            "info": [{k: v for k, v in info.items() if v not in (None, [])}],
        }
        root = _alerts(node).document(
            {k: v for k, v in fields.items() if v is not None}, msgType="Alert"
        )
        cap.check(root, profile=status != "Draft")
    data = cap.serialize(root)
    if out is None:
        typer.echo(data.decode(), nl=False)
        return
    write_output(out, data)
    console.print(
        f"CAP alert written to {out}; see who receives it: `accord alert preview {out} --to ...`",
        markup=False,
    )


@app.command("validate")
def validate_command(file: FileArg, directory: DirOption = None) -> None:
    """Check a document against the OASIS XSD, the rules of CAP 1.2 and what this node holds;
    every problem at once, each with its element and section."""
    with opened_node(directory) as node:
        alert = _alerts(node).validate(read_source(file, node.settings.alert_max_bytes))
    console.print(
        _mark(
            marking(alert.status), f"valid: {alert.msg_type} {alert.identifier} from {alert.sender}"
        ),
        markup=False,
    )


@app.command("preview")
def preview_command(
    file: FileArg, to: ToOption = "", exercise: ExerciseOption = None, directory: DirOption = None
) -> None:
    """Who would receive the alert, and for every other participant why not."""
    with opened_node(directory) as node:
        prepared = _alerts(node).prepare(
            read_source(file, node.settings.alert_max_bytes), _split(to), exercise
        )
    mark = marking(prepared.alert.status)
    print_table(
        _mark(mark, f"Audience of {prepared.alert.headline()}"),
        ("participant", "receives", "why", "reads first"),
        (
            (
                d.participant,
                "yes" if d.included else "no",
                d.reason,
                _first_language(prepared.alert, d.languages),
            )
            for d in prepared.decisions
        ),
    )


def _first_language(alert: Any, languages: tuple[str, ...]) -> str:
    infos = alert.for_languages(languages)
    return infos[0].lang if infos else ""


@app.command("send")
def send_command(
    file: FileArg, to: ToOption = "", exercise: ExerciseOption = None, directory: DirOption = None
) -> None:
    """Sign the alert (XML-DSig), store it and send it to its audience."""
    with opened_node(directory) as node:
        sent = _alerts(node).send(
            read_source(file, node.settings.alert_max_bytes), _split(to), exercise
        )
    _print_sent(sent)


def _print_sent(sent: Sent) -> None:
    alert = sent.alert
    names = ", ".join(d.participant for d in sent.recipients) or "nobody (published on the feed)"
    console.print(
        _mark(
            marking(alert.status),
            f"{alert.msg_type} {alert.sender},{alert.identifier} signed and queued to {names}",
        ),
        markup=False,
    )


@app.command("update")
def update_command(
    ref: RefArg, file: FileArg, to: ToOption = "", directory: DirOption = None
) -> None:
    """Supersede an alert of this node with new content (CAP fields, TOML or JSON)."""
    with opened_node(directory) as node:
        source = read_source(file, node.settings.alert_max_bytes)
        if isinstance(source, bytes):
            raise InputError(
                "an update is composed from CAP fields", advice="Pass a .toml or .json file."
            )
        _print_sent(_alerts(node).update(ref, source, _split(to)))


@app.command("cancel")
def cancel_command(
    ref: RefArg,
    note: Annotated[str | None, typer.Option(help="Why.")] = None,
    directory: DirOption = None,
) -> None:
    """Cancel an alert of this node for everyone who received any message of it."""
    with opened_node(directory) as node:
        _print_sent(_alerts(node).cancel(ref, note))


@app.command("ack")
def ack_command(
    ref: RefArg,
    by: Annotated[str | None, typer.Option(help="Who acknowledges (name, desk).")] = None,
    note: Annotated[str | None, typer.Option(help="What is being done.")] = None,
    directory: DirOption = None,
) -> None:
    """Send the alert's sender a signed CAP Ack."""
    with opened_node(directory) as node:
        ack = _alerts(node).ack(ref, by, note)
    console.print(
        _mark(marking(ack.status), f"Ack {ack.identifier} signed and queued to the sender"),
        markup=False,
    )


@app.command("list")
def list_command(
    view: Annotated[str, typer.Option(help=f"One of {', '.join(VIEWS)}.")] = "live",
    as_json: JsonOption = False,
    directory: DirOption = None,
) -> None:
    """Alerts of one view: live (active actual alerts only), exercise, test, all."""
    if view not in VIEWS:
        raise InputError(
            f"--view is one of {', '.join(VIEWS)}",
            advice="Exercise and test alerts have their own views.",
        )
    with opened_node(directory) as node:
        rows = _alerts(node).listed(view)
    if as_json:
        typer.echo(
            json.dumps([views.summary(r, a, s) for r, a, s in rows], indent=2, ensure_ascii=False)
        )
        return
    print_table(
        f"Alerts ({view})",
        ("marking", "alert", "type", "state", "headline", "sent", "from"),
        (
            (
                marking(r.status),
                r.ref,
                r.msg_type.value,
                s,
                a.headline(),
                cap_time(a.sent),
                r.origin + (f" (feed {r.feed})" if r.feed else ""),
            )
            for r, a, s in rows
        ),
    )


@app.command("show")
def show_command(
    ref: RefArg,
    as_json: JsonOption = False,
    xml: Annotated[bool, typer.Option("--xml", help="Print the CAP document as signed.")] = False,
    directory: DirOption = None,
) -> None:
    """An alert in this node's languages first, its state, and per recipient: delivered,
    acknowledged (when, by whom), or silent."""
    with opened_node(directory) as node:
        shown = _alerts(node).show(ref)
        languages = node.identity.languages
    if xml:
        typer.echo(shown.stored.xml.decode(), nl=False)
        return
    data = views.shown(shown, languages)
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    _print_shown(data)


def _print_shown(data: dict[str, Any]) -> None:
    mark = data["marking"]
    banner = f"{mark} — " if mark else ""
    console.print(
        f"{banner}{data['msg_type']} {data['ref']}: {data['headline']} [{data['state']}]",
        markup=False,
    )
    if data["feed"]:
        console.print(f"  relayed from feed {data['feed']}", markup=False)
    for info in data["alert"].get("info", []):
        console.print(f"  [{info['language']}] {info.get('headline', info['event'])}", markup=False)
        for key in ("description", "instruction"):
            if key in info:
                console.print(f"      {info[key]}", markup=False)
        for area in info.get("area", []):
            console.print(f"      area: {area['areaDesc']}", markup=False)
    if data["recipients"]:
        print_table(
            "Recipients",
            ("participant", "delivery", "delivered", "acknowledgement", "when", "by"),
            (
                (
                    r["participant"],
                    r["delivery"] or "",
                    r["delivered_at"] or "",
                    r["acknowledgement"],
                    r["acknowledged_at"] or "",
                    r["note"] or "",
                )
                for r in data["recipients"]
            ),
        )
    if data["acknowledged_here_at"]:
        console.print(
            f"  acknowledged by this node at {data['acknowledged_here_at']}", markup=False
        )


@app.command("key")
def key_command(
    out: Annotated[Path | None, typer.Option("--out", "-o")] = None, directory: DirOption = None
) -> None:
    """This node's alert signing key (PEM), for a hub that verifies its feed."""
    with opened_node(directory) as node:
        key = node.keys.alerting
    if key is None:
        raise AlertSignatureInvalid(
            "this node has no alert signing key", advice="Create it with `accord card alert-key`."
        )
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    if out is None:
        typer.echo(pem.decode(), nl=False)
    else:
        write_output(out, pem)


# Feeds ---------------------------------------------------------------------------------------


@feed_app.command("add")
def feed_add(
    name: Annotated[str, typer.Argument(help="A name for the feed, e.g. met-vn.")],
    url: Annotated[str, typer.Argument(help="The feed's Atom address.")],
    to: ToOption,
    key: Annotated[Path | None, typer.Option(help="The feed's public signing key (PEM).")] = None,
    trust_unsigned: Annotated[
        bool, typer.Option("--trust-unsigned", help="DANGEROUS: take alerts no one signed.")
    ] = False,
    every: Annotated[float | None, typer.Option(help="Seconds between pulls.")] = None,
    directory: DirOption = None,
) -> None:
    """Subscribe to a CAP Atom feed; its alerts are verified with the pinned key and sent on."""
    pem = read_input(key).decode() if key is not None else None
    with opened_node(directory) as node:
        feed = Feeds(_alerts(node)).add(
            name, url, address=to, key_pem=pem, trust_unsigned=trust_unsigned, interval=every
        )
    console.print(
        f"Feed {feed.name}: {feed.url} -> {feed.address} "
        f"({'key pinned' if feed.key_pem else UNSIGNED})",
        markup=False,
    )


@feed_app.command("list")
def feed_list(directory: DirOption = None) -> None:
    with opened_node(directory) as node:
        rows = Feeds(_alerts(node)).listed()
    print_table(
        "CAP feeds",
        ("name", "url", "to", "signed", "last pull", "last error"),
        (
            (
                f.name,
                f.url,
                f.address,
                "pinned key" if f.key_pem else UNSIGNED,
                cap_time(f.pulled_at) if f.pulled_at else "never",
                f.last_error or "",
            )
            for f in rows
        ),
    )


@feed_app.command("pull")
def feed_pull(name: Annotated[str, typer.Argument()], directory: DirOption = None) -> None:
    """Pull a feed once now: verify, de-duplicate, store and send on what is new."""
    with opened_node(directory) as node:
        pulled = asyncio.run(Feeds(_alerts(node)).pull(name))
    console.print(
        f"{len(pulled.taken)} new, {pulled.duplicates} already held, {len(pulled.refused)} refused",
        markup=False,
    )
    for url, reason in pulled.refused:
        console.print(f"  refused {url}: {reason}", markup=False)


# Exercises ------------------------------------------------------------------------------------


def _drills(node: Node) -> Drills:
    return Drills(_alerts(node))


@exercise_app.command("new")
def exercise_new(
    file: Annotated[Path, typer.Argument(help="The exercise, TOML or JSON.")],
    directory: DirOption = None,
) -> None:
    """Define an exercise this node directs: participants, period, scenario, injects."""
    spec = read_spec(load(file, what="exercise"))
    with opened_node(directory) as node:
        exercise = _drills(node).create(spec)
    console.print(
        f"EXERCISE {exercise.exercise_id} ({exercise.name}): {len(spec.injects)} inject(s); "
        f"start it with `accord exercise start {exercise.exercise_id}`",
        markup=False,
    )


@exercise_app.command("inject")
def exercise_inject(
    exercise_id: Annotated[str, typer.Argument(help="The exercise.")],
    file: Annotated[Path, typer.Argument(help="The inject's alert: CAP fields, TOML or JSON.")],
    inject_id: Annotated[str, typer.Option("--id", help="A name for the inject.")],
    at: Annotated[str, typer.Option(help="When it is sent: ISO 8601 with offset, or +10m.")],
    to: ToOption = "",
    directory: DirOption = None,
) -> None:
    """Schedule an inject: an Exercise alert sent at its time to the exercise's participants."""
    alert = load(file, what="inject")
    with opened_node(directory) as node:
        when = _when(at, node.clock.now()) or ""
        inject = read_inject(
            {"id": inject_id, "at": datetime.fromisoformat(when), "alert": alert, "to": _split(to)}
        )
        _drills(node).add_inject(exercise_id, inject)
    console.print(f"EXERCISE {exercise_id}: inject {inject_id} scheduled for {when}", markup=False)


@exercise_app.command("start")
def exercise_start(
    exercise_id: Annotated[str, typer.Argument()], directory: DirOption = None
) -> None:
    """Announce the exercise to its participants; the serving node sends injects when due."""
    with opened_node(directory) as node:
        exercise = _drills(node).start(exercise_id)
    console.print(
        f"EXERCISE {exercise.exercise_id} started; announced to {', '.join(exercise.participants)}",
        markup=False,
    )


@exercise_app.command("list")
def exercise_list(directory: DirOption = None) -> None:
    with opened_node(directory) as node:
        rows = _drills(node).listed()
    print_table(
        "EXERCISES",
        ("marking", "id", "name", "director", "starts", "ends", "started"),
        (
            (
                "EXERCISE",
                e.exercise_id,
                e.name,
                e.director,
                cap_time(e.starts_at),
                cap_time(e.ends_at),
                cap_time(e.started_at) if e.started_at else "no",
            )
            for e in rows
        ),
    )


@exercise_app.command("show")
def exercise_show(
    exercise_id: Annotated[str, typer.Argument()], directory: DirOption = None
) -> None:
    with opened_node(directory) as node:
        drills = _drills(node)
        data = views.exercise(drills.get(exercise_id), drills.injects(exercise_id))
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@exercise_app.command("report")
def exercise_report(
    exercise_id: Annotated[str, typer.Argument()],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for ID.html and ID.json.")
    ] = Path(),
    directory: DirOption = None,
) -> None:
    """Write the after-action report: per inject and participant, delivery and acknowledgement
    times, who never answered, median and worst latency (HTML and JSON)."""
    with opened_node(directory) as node:
        made = _drills(node).report(exercise_id)
    html_path, json_path = out / f"{exercise_id}.html", out / f"{exercise_id}.json"
    write_output(html_path, report.html(made).encode())
    write_output(json_path, report.json_bytes(made))
    silent = ", ".join(made.never_answered) or "nobody"
    console.print(
        f"EXERCISE {exercise_id}: report written to {html_path} and {json_path}; "
        f"never answered: {silent}",
        markup=False,
    )
