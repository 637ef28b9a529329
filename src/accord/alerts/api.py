"""HTTP routes of alerts: the operator's JSON API (``/api/v1/alerts``, ``/api/v1/exercises``,
``/api/v1/alert-feeds``, behind the operator token, the project's one error shape), and what
a node publishes for alert hubs: its Atom feed of active public alerts and each alert's CAP
document at a stable URL."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from accord.alerts import feeds, report, store, views
from accord.alerts.drills import Drills
from accord.alerts.exercises import read_inject, read_spec
from accord.alerts.feeds import ATOM_MEDIA_TYPE, CAP_MEDIA_TYPE
from accord.alerts.ingest import Feeds
from accord.alerts.lifecycle import State, effective_state
from accord.alerts.models import Alert
from accord.alerts.service import VIEWS, Alerts, Source, held_of, marking
from accord.errors import AlertNotFound, FieldError, InputError
from accord.federation.http import json_object_body, read_limited, require_operator

PREFIX = "/api/v1/alerts"
ADVICE = 'Send one JSON object, e.g. {"alert": {CAP fields}, "to": ["asean-russia"]}.'
Ref = Annotated[str, Path(min_length=1, max_length=520)]
Name = Annotated[str, Path(min_length=1, max_length=64)]


def routes(alerts: Alerts, drills: Drills, subscriptions: Feeds) -> APIRouter:
    router = APIRouter()
    node = alerts.node
    limit = node.settings.alert_max_bytes + 64 * 1024

    async def body(request: Request) -> dict[str, Any]:
        require_operator(node, request)
        return await json_object_body(request, limit, ADVICE)

    async def source(request: Request) -> tuple[Source, dict[str, Any]]:
        """A CAP XML body (``application/cap+xml``) or ``{"alert": {fields}, ...}``."""
        require_operator(node, request)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media in (CAP_MEDIA_TYPE, "application/xml", "text/xml"):
            document = await read_limited(request, node.settings.alert_max_bytes, "CAP document")
            return document, dict(request.query_params)
        data = await json_object_body(request, limit, ADVICE)
        fields = data.get("alert")
        if not isinstance(fields, dict):
            raise _bad("alert", "required", "the alert's CAP fields, as a JSON object")
        return fields, data

    @router.post(f"{PREFIX}/validate")
    async def validate(request: Request) -> dict[str, Any]:
        """Every problem at once, each with its element and CAP 1.2 section (422)."""
        doc, _ = await source(request)
        alert = await asyncio.to_thread(alerts.validate, doc)
        return {"valid": True, "marking": marking(alert.status), "alert": views.alert_json(alert)}

    @router.post(f"{PREFIX}/preview")
    async def preview(request: Request) -> dict[str, Any]:
        """Who would receive the alert, and for every other participant why not."""
        doc, data = await source(request)
        prepared = await asyncio.to_thread(alerts.prepare, doc, _to(data), _exercise(data))
        return {
            "marking": marking(prepared.alert.status),
            "alert": views.alert_json(prepared.alert),
            "participants": [views.decision(d) for d in prepared.decisions],
        }

    @router.post(PREFIX, status_code=201)
    async def send(request: Request) -> dict[str, Any]:
        doc, data = await source(request)
        sent = await asyncio.to_thread(alerts.send, doc, _to(data), _exercise(data))
        return _sent(sent)

    @router.get(PREFIX)
    async def listing(request: Request, view: str = "live") -> dict[str, Any]:
        """``view``: live (active actual alerts only), exercise, test or all."""
        require_operator(node, request)
        if view not in VIEWS:
            raise _bad("view", "invalid_choice", f"view is one of {', '.join(VIEWS)}")
        rows = await asyncio.to_thread(alerts.listed, view)
        return {"view": view, "alerts": [views.summary(r, a, s) for r, a, s in rows]}

    @router.get(f"{PREFIX}/{{ref}}")
    async def show(ref: Ref, request: Request) -> dict[str, Any]:
        require_operator(node, request)
        shown = await asyncio.to_thread(alerts.show, ref)
        return views.shown(shown, node.identity.languages)

    @router.get(f"{PREFIX}/{{ref}}/cap")
    async def cap_document(ref: Ref, request: Request) -> Response:
        """The message exactly as signed (its XML signature intact)."""
        require_operator(node, request)
        shown = await asyncio.to_thread(alerts.show, ref)
        return Response(shown.stored.xml, media_type=CAP_MEDIA_TYPE)

    _chain_routes(router, alerts, body)
    _exercise_routes(router, drills, body)
    _feed_routes(router, alerts, subscriptions, body)
    return router


def _chain_routes(router: APIRouter, alerts: Alerts, body: Any) -> None:
    @router.post(f"{PREFIX}/{{ref}}/update")
    async def update(ref: Ref, request: Request) -> dict[str, Any]:
        data = await body(request)
        fields = data.get("alert")
        if not isinstance(fields, dict):
            raise _bad("alert", "required", "the updated alert's CAP fields")
        return _sent(await asyncio.to_thread(alerts.update, ref, fields, _to(data)))

    @router.post(f"{PREFIX}/{{ref}}/cancel")
    async def cancel(ref: Ref, request: Request) -> dict[str, Any]:
        data = await body(request)
        return _sent(await asyncio.to_thread(alerts.cancel, ref, _text(data, "note")))

    @router.post(f"{PREFIX}/{{ref}}/ack")
    async def ack(ref: Ref, request: Request) -> dict[str, Any]:
        data = await body(request)
        sent = await asyncio.to_thread(alerts.ack, ref, _text(data, "by"), _text(data, "note"))
        return {"ack": f"{sent.sender},{sent.identifier}", "marking": marking(sent.status)}


def _exercise_routes(router: APIRouter, drills: Drills, body: Any) -> None:
    node = drills.node
    base = "/api/v1/exercises"

    @router.post(base, status_code=201)
    async def create(request: Request) -> dict[str, Any]:
        spec = read_spec(await body(request))
        return views.exercise(await asyncio.to_thread(drills.create, spec))

    @router.get(base)
    async def listing(request: Request) -> dict[str, Any]:
        require_operator(node, request)
        return {"exercises": [views.exercise(e) for e in drills.listed()]}

    @router.get(f"{base}/{{exercise_id}}")
    async def show(exercise_id: Name, request: Request) -> dict[str, Any]:
        require_operator(node, request)
        return views.exercise(drills.get(exercise_id), drills.injects(exercise_id))

    @router.post(f"{base}/{{exercise_id}}/injects", status_code=201)
    async def inject(exercise_id: Name, request: Request) -> dict[str, Any]:
        spec = read_inject(await body(request))
        await asyncio.to_thread(drills.add_inject, exercise_id, spec)
        return views.exercise(drills.get(exercise_id), drills.injects(exercise_id))

    @router.post(f"{base}/{{exercise_id}}/start")
    async def start(exercise_id: Name, request: Request) -> dict[str, Any]:
        await body(request)
        return views.exercise(await asyncio.to_thread(drills.start, exercise_id))

    @router.get(f"{base}/{{exercise_id}}/feed.atom")
    async def exercise_feed(exercise_id: Name, request: Request) -> Response:
        """The exercise's messages as an Atom feed, EXERCISE in every title (operators only:
        exercise traffic is never public)."""
        require_operator(node, request)
        exercise = drills.get(exercise_id)
        with node.read_engine.connect() as connection:
            rows = store.of_exercise(connection, exercise_id)
        base_url = node.identity.url
        entries = [
            feeds.Entry(
                id=f"{base_url}{PREFIX}/{quote(r.ref)}/cap",
                title=f"EXERCISE: {drills.alerts.alert_of(r).headline()}",
                updated=r.sent_at,
                summary=f"EXERCISE {exercise_id}: {r.msg_type.value} from {r.sender}",
                link=f"{base_url}{PREFIX}/{quote(r.ref)}/cap",
                categories=("EXERCISE",),
            )
            for r in rows
        ]
        data = feeds.build(
            feed_id=f"{base_url}{base}/{exercise_id}/feed.atom",
            title=f"EXERCISE: {exercise.name}",
            self_url=f"{base_url}{base}/{exercise_id}/feed.atom",
            author=node.participant.name,
            updated=max((e.updated for e in entries), default=exercise.starts_at),
            entries=entries,
        )
        return Response(data, media_type=ATOM_MEDIA_TYPE)

    @router.get(f"{base}/{{exercise_id}}/report")
    async def report_json(exercise_id: Name, request: Request, format: str = "json") -> Response:
        """The after-action report, ``format`` json (default) or html."""
        require_operator(node, request)
        made = await asyncio.to_thread(drills.report, exercise_id)
        if format == "html":
            return Response(report.html(made), media_type="text/html; charset=utf-8")
        return Response(report.json_bytes(made), media_type="application/json")


def _feed_routes(router: APIRouter, alerts: Alerts, subscriptions: Feeds, body: Any) -> None:
    node = alerts.node
    base = "/api/v1/alert-feeds"

    @router.post(base, status_code=201)
    async def add(request: Request) -> dict[str, Any]:
        data = await body(request)
        name, url, address = (_text(data, k) for k in ("name", "url", "to"))
        if not (name and url and address):
            raise _bad("name", "required", "name, url and to are required")
        feed = await asyncio.to_thread(
            subscriptions.add,
            name,
            url,
            address=address,
            key_pem=_text(data, "key"),
            trust_unsigned=data.get("trust_unsigned") is True,
        )
        return {
            "name": feed.name,
            "url": feed.url,
            "to": feed.address,
            "signed": feed.key_pem is not None,
        }

    @router.post(f"{base}/{{name}}/pull")
    async def pull(name: Name, request: Request) -> dict[str, Any]:
        await body(request)
        pulled = await subscriptions.pull(name)
        return {
            "taken": pulled.taken,
            "duplicates": pulled.duplicates,
            "refused": [{"url": u, "reason": r} for u, r in pulled.refused],
        }

    @router.get("/alerts/feed.atom")
    async def atom() -> Response:
        """This node's active public alerts (Actual only), for alert hubs (RFC 4287)."""
        entries = await asyncio.to_thread(_entries, alerts)
        base_url = node.identity.url
        data = feeds.build(
            feed_id=f"{base_url}/alerts/feed.atom",
            title=f"Alerts of {node.participant.name}",
            self_url=f"{base_url}/alerts/feed.atom",
            author=node.participant.name,
            updated=max((e.updated for e in entries), default=node.clock.now()),
            entries=entries,
        )
        return Response(data, media_type=ATOM_MEDIA_TYPE)

    @router.get("/alerts/cap/{identifier}.xml")
    async def cap_xml(identifier: Annotated[str, Path(min_length=1, max_length=255)]) -> Response:
        """A public alert of this node at its stable URL, exactly as signed."""
        public = await asyncio.to_thread(_public, alerts)
        found = [s for s, _ in public if s.identifier == identifier]
        if not found:
            raise AlertNotFound(f"no public alert {identifier} of this node")
        return Response(found[0].xml, media_type=CAP_MEDIA_TYPE)


def _public(alerts: Alerts) -> list[tuple[store.Stored, Alert]]:
    with alerts.node.read_engine.connect() as connection:
        rows = store.public_of(connection, alerts.node.id)
    return [(row, alerts.alert_of(row)) for row in rows]


def _entries(alerts: Alerts) -> list[feeds.Entry]:
    """Active alerts and updates, and the cancels of alerts that have not yet expired."""
    now = alerts.node.clock.now()
    base = alerts.node.identity.url
    rows = _public(alerts)
    cancelled = {
        r.superseded_by
        for r, _ in rows
        if r.state == State.CANCELLED and r.expires_at and r.expires_at > now
    }
    entries = []
    for row, alert in rows:
        state = effective_state(held_of(row), now)
        if state == State.ACTIVE or (row.identifier in cancelled):
            info = alert.infos[0] if alert.infos else None
            entries.append(
                feeds.Entry(
                    id=f"{base}/alerts/cap/{quote(row.identifier)}.xml",
                    title=alert.headline(),
                    updated=alert.sent,
                    summary=(info.description if info and info.description else alert.note)
                    or alert.headline(),
                    link=f"{base}/alerts/cap/{quote(row.identifier)}.xml",
                    categories=tuple(c.value for c in info.categories) if info else (),
                )
            )
    return entries


def _sent(sent: Any) -> dict[str, Any]:
    return {
        "ref": f"{sent.alert.sender},{sent.alert.identifier}",
        "marking": marking(sent.alert.status),
        "msg_type": sent.alert.msg_type.value,
        "recipients": [views.decision(d) for d in sent.recipients],
    }


def _to(data: dict[str, Any]) -> tuple[str, ...]:
    value = data.get("to", [])
    if isinstance(value, str):
        value = [v for v in value.split(",") if v]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad("to", "list", "to is a list of participants or groups")
    return tuple(value)


def _exercise(data: dict[str, Any]) -> str | None:
    value = data.get("exercise")
    if value is not None and not isinstance(value, str):
        raise _bad("exercise", "text", "exercise is an exercise id")
    return value


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad(name, "text", f"{name} must be text")
    return value


def _bad(field: str, rule: str, message: str) -> InputError:
    return InputError(message, advice=ADVICE, errors=[FieldError(field, rule, message)])
