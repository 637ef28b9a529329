"""Federation sync: a node subscribes to a partner's collection with a filter the partner
applies before sending (types, labels, TLP levels, added_after), and pulls it page by page.

Each page is a request signed by the subscriber (``accord-auth``) and an answer sealed by the
partner to the subscriber (protocol v1 envelope, kind ``intel-page``: signed, then encrypted),
echoing the request's nonce so an old page cannot be replayed. Every object is checked as a
share is (its originator's grant, its bytes, the hop to this node) before the page, and the
cursor after it, are stored in one transaction: a sync resumes where it stopped, and pulling
only when the last page is stored is the back-pressure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection, select, update

from accord.audit.log import record
from accord.audit.models import Action, Event
from accord.clock import to_rfc3339
from accord.db.schema import intel_subscriptions
from accord.envelope.core import open_envelope, seal, sha256_hex
from accord.envelope.models import Kind, Priority, Routing, new_message_id
from accord.errors import AccordError, FieldError, InputError, NotFoundError, SyncFailed
from accord.federation.auth import AUTH_HEADER, sign_request
from accord.federation.http import authenticated
from accord.federation.transport import MEDIA_TYPE
from accord.intel import store
from accord.intel.markings import Tlp, marking_of
from accord.intel.models import Reader
from accord.intel.policy import check_hop, check_origin, make_grant, verify_grant
from accord.intel.service import Intel
from accord.intel.stix import StixObject
from accord.intel.store import Filter, Incoming

SYNC_PATH = "/intel/v1/sync"
log = structlog.get_logger("accord.intel.sync")


@dataclass(frozen=True)
class Subscription:
    id: str
    partner: str
    collection: str
    into: str
    filter: dict[str, Any]
    cursor: str | None
    synced: int


def subscribe(
    intel: Intel,
    partner: str,
    collection: str,
    *,
    into: str | None,
    types: tuple[str, ...],
    labels: tuple[str, ...],
    markings: tuple[str, ...],
    added_after: str | None,
) -> Subscription:
    """Record a subscription (nothing is pulled yet: ``accord intel sync`` does)."""
    directory = intel.federation.directory()
    directory.participant(partner)
    tlps = [Tlp.parse(m).word for m in markings]
    target = intel.collection(into) if into else intel.inbox()
    wanted = {
        "types": list(types),
        "labels": list(labels),
        "markings": tlps,
        "added_after": added_after,
    }
    sid = f"sub-{uuid.uuid4().hex[:12]}"
    now = intel.node.clock.now()

    def job(connection: Connection) -> None:
        connection.execute(
            intel_subscriptions.insert().values(
                id=sid,
                partner=partner,
                collection=collection,
                into=target.id,
                filter=json.dumps(wanted),
                cursor=None,
                synced=0,
                updated_at=now.timestamp(),
            )
        )

    intel.node.writer.run(job)
    return Subscription(sid, partner, collection, target.id, wanted, None, 0)


def subscriptions(intel: Intel) -> list[Subscription]:
    with intel.node.read_engine.connect() as connection:
        rows = connection.execute(select(intel_subscriptions)).all()
    return [
        Subscription(
            r.id, r.partner, r.collection, r.into, json.loads(r.filter), r.cursor, r.synced
        )
        for r in rows
    ]


# The provider ----------------------------------------------------------------------------------


def routes(intel: Intel) -> APIRouter:
    router = APIRouter()

    @router.get(f"{SYNC_PATH}/{{collection}}")
    async def page(collection: str, request: Request) -> Response:
        """One page of a collection for a subscribed participant, sealed to it."""
        asker = authenticated(request, intel.federation)
        wire = await asyncio.to_thread(_serve_page, intel, asker, collection, request)
        return Response(wire, media_type=MEDIA_TYPE)

    return router


def _serve_page(intel: Intel, asker: str, collection: str, request: Request) -> bytes:
    params = request.query_params
    nonce = params.get("nonce", "")
    if not 16 <= len(nonce) <= 64:
        raise InputError(
            "nonce: 16 to 64 characters",
            advice="Pull with `accord intel sync`.",
            errors=[FieldError("nonce", "length", "16 to 64 characters")],
        )
    query = _query(params)
    limit = min(int(params.get("limit", "1000") or 1000), intel.node.settings.intel_page_limit)
    target = intel.collection(collection)
    reader = Reader(asker, participant=True)
    page = intel.read(target, reader, query, cursor=params.get("next") or None, limit=limit)
    node, directory = intel.node, intel.federation.directory()
    own = [StixObject(r.raw, json.loads(r.raw)) for r in page.rows if r.grant_sha256 is None]
    tokens = set()
    if own:
        grant = make_grant(
            origin=node.id,
            key=node.keys.signing,
            to=list(target.readers) or [asker],
            objects=own,
            directory=directory,
            now=node.clock.now(),
        )
        tokens.add(grant.token)
    with node.read_engine.connect() as connection:
        tokens |= set(
            store.grant_tokens(
                connection, (r.grant_sha256 for r in page.rows if r.grant_sha256)
            ).values()
        )
        total = store.count(connection, target.id, query, None) if params.get("count") else None
    body = {
        "nonce": nonce,
        "collection": target.id,
        "grants": sorted(tokens),
        "objects": [r.raw.decode() for r in page.rows],
        "more": page.more,
        "next": page.next,
        "resume": page.resume,
        "total": total,
    }
    now = node.clock.now()
    routing = Routing(new_message_id(now), node.id, (asker,), now, Priority.ROUTINE)
    return seal(
        routing=routing,
        kind=Kind.INTEL_PAGE,
        body=body,
        signing_key=node.keys.signing,
        recipient_keys={asker: directory.encryption_key(asker)},
        max_bytes=node.settings.max_message_bytes,
    )


def _query(params: Any) -> Filter:
    def listed(name: str) -> tuple[str, ...]:
        return tuple(v for v in (params.get(name) or "").split(",") if v)

    after = params.get("added_after")
    return Filter(
        added_after=int(after) if after and after.isdigit() else None,
        types=listed("types"),
        labels=listed("labels"),
        tlps=tuple(int(Tlp.parse(m)) for m in listed("markings")),
    )


# The subscriber --------------------------------------------------------------------------------

Progress = Callable[[int, int | None], None]  # objects stored so far, total (if known)


async def pull(
    intel: Intel, subscription: Subscription, progress: Progress, *, limit: int = 1000
) -> int:
    """Pull ``subscription`` to its end; returns the objects stored. The next page is fetched
    while the last one is checked and stored, never further ahead (back-pressure)."""
    node = intel.node
    timeout = aiohttp.ClientTimeout(total=node.settings.request_timeout * 4)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        cursor, stored, total, first = subscription.cursor, 0, None, True
        fetching = asyncio.create_task(
            _fetch(intel, session, subscription, cursor, limit, count=True)
        )
        while True:
            body = await fetching
            if first:
                total, first = body.get("total"), False
            more, cursor = bool(body.get("more")), body.get("next")
            if more and cursor:
                fetching = asyncio.create_task(_fetch(intel, session, subscription, cursor, limit))
            stored += await asyncio.to_thread(_store_page, intel, subscription, body)
            progress(stored, total)
            if not (more and cursor):
                return stored


async def _fetch(
    intel: Intel,
    session: aiohttp.ClientSession,
    sub: Subscription,
    cursor: str | None,
    limit: int,
    *,
    count: bool = False,
) -> dict[str, Any]:
    node = intel.node
    directory = intel.federation.directory()
    partner = directory.participant(sub.partner)
    nonce = secrets.token_urlsafe(16)
    wanted = sub.filter
    params: dict[str, str] = {"nonce": nonce, "limit": str(limit)}
    for name in ("types", "labels", "markings"):
        if wanted.get(name):
            params[name] = ",".join(wanted[name])
    if wanted.get("added_after"):
        params["added_after"] = str(_added_after(wanted["added_after"]))
    if cursor:
        params["next"] = cursor
    if count:
        params["count"] = "1"
    target = f"{SYNC_PATH}/{sub.collection}?{urlencode(params)}"
    header = sign_request(
        participant=node.id,
        key=node.keys.signing,
        audience=partner.id,
        method="GET",
        target=target,
        now=node.clock.now(),
    )
    limit_bytes = node.settings.max_message_bytes
    try:
        async with session.get(partner.url + target, headers={AUTH_HEADER: header}) as response:
            status, wire = response.status, bytearray()
            while chunk := await response.content.read(1024 * 1024):
                wire += chunk
                if len(wire) > limit_bytes:
                    break
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SyncFailed(
            f"{sub.partner} could not be reached: {exc}",
            advice="Run the sync again; it resumes from the last page stored.",
        ) from exc
    if status != 200 or len(wire) > limit_bytes:
        raise SyncFailed(
            f"{sub.partner} answered {status}: {bytes(wire[:300]).decode(errors='replace')}",
            advice="Check the subscription's collection and your access to it.",
        )
    return await asyncio.to_thread(_open_page, intel, sub, bytes(wire), nonce)


def _open_page(intel: Intel, sub: Subscription, wire: bytes, nonce: str) -> dict[str, Any]:
    node = intel.node
    opened = open_envelope(
        wire,
        me=node.id,
        my_key=node.keys.encryption,
        directory=intel.federation.directory(),
        now=node.clock.now(),
        max_age=node.settings.message_max_age,
        skew=node.settings.clock_skew,
        max_bytes=node.settings.max_message_bytes,
    )
    if opened.kind is not Kind.INTEL_PAGE or opened.routing.sender != sub.partner:
        raise SyncFailed(
            f"the answer is a {opened.kind} from {opened.routing.sender}, not a "
            f"page from {sub.partner}",
            advice="Report this to the operators.",
        )
    if opened.body.get("nonce") != nonce:
        raise SyncFailed(
            "the page answers another request (replayed)",
            advice="Run the sync again; nothing of that page was stored.",
        )
    return dict(opened.body, _sha256=opened.sha256)


def _store_page(intel: Intel, sub: Subscription, body: dict[str, Any]) -> int:
    """Check every object of a page as a share (grant, bytes, hop), then store them, the
    cursor and the audit record together."""
    node, directory = intel.node, intel.federation.directory()
    texts = body.get("objects") or []
    if not texts:
        items: list[Incoming] = []
    else:
        objects = intel.parse_texts(texts)
        grants = [verify_grant(t, directory) for t in body.get("grants") or []]
        definitions = intel._definitions(objects)
        items = []
        checked: set[tuple[object, ...]] = set()
        for obj in objects:
            grant = next((g for g in grants if f"{obj.id}|{obj.version}" in g.objects), None)
            if grant is None:
                raise SyncFailed(
                    f"{obj.id} came in a page without its originator's grant",
                    advice="Report this to the partner's operators.",
                )
            grant.check_object(obj)
            check_origin(obj, grant.audience.origin, directory)
            marking = marking_of(obj.value, definitions)
            key = (marking, grant.sha256)
            if key not in checked:  # the same marking under the same grant: the same answer
                check_hop(
                    marking,
                    grant.audience,
                    sender=sub.partner,
                    recipient=node.id,
                    directory=directory,
                    what=obj.id,
                )
                checked.add(key)
            items.append(Incoming(obj, marking, grant.audience.origin, grant.sha256))
        tokens = {g.sha256: g.token for g in grants}
    now = node.clock.now()
    digest = str(body.get("_sha256"))

    def job(connection: Connection) -> int:
        for item in items:
            if item.grant_sha256:
                store.store_grant(connection, item.origin, tokens[item.grant_sha256], now)
        outcomes = store.store_objects(connection, sub.into, items, now)
        new = sum(o.stored for o in outcomes)
        connection.execute(
            update(intel_subscriptions)
            .where(intel_subscriptions.c.id == sub.id)
            .values(
                cursor=body.get("resume") or _resume(connection, sub),
                synced=intel_subscriptions.c.synced + new,
                updated_at=now.timestamp(),
            )
        )
        record(
            connection,
            [Event(sub.partner, Action.INTEL_SYNCED, sub.id, digest, (node.id, sub.partner))],
            now,
        )
        return len(items)

    return node.writer.run(job)


def _resume(connection: Connection, sub: Subscription) -> str | None:
    """An empty page moves nothing: keep the cursor the subscription had."""
    row = connection.execute(
        select(intel_subscriptions.c.cursor).where(intel_subscriptions.c.id == sub.id)
    ).first()
    return row.cursor if row else None


def _added_after(text: str) -> int:
    from datetime import datetime  # noqa: PLC0415

    return store.micros(datetime.fromisoformat(text.replace("Z", "+00:00")))


def find(intel: Intel, sid: str) -> Subscription:
    for sub in subscriptions(intel):
        if sub.id == sid:
            return sub
    raise NotFoundError(
        f"no subscription {sid!r}", advice="List them with `accord intel subscriptions`."
    )


def sync_worker(intel: Intel) -> Callable[[asyncio.Event], Any]:
    """A serving node pulls every subscription each ACCORD_INTEL_SYNC_INTERVAL seconds."""

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            for sub in subscriptions(intel):
                try:
                    await pull(intel, sub, lambda _n, _t: None)
                except AccordError as error:
                    log.warning("sync failed", subscription=sub.id, error=error.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), intel.node.settings.intel_sync_interval)

    return run


_ = (time, to_rfc3339, sha256_hex)
