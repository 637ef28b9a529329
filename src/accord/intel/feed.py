"""A MISP feed of a collection (``/misp/v1/feeds/COLLECTION/manifest.json`` and
``…/EVENT-UUID.json``), for a MISP instance to pull with an API token in its feed headers
(``Authorization: Bearer TOKEN``) or for a partner node with a signed request. Each grouping
or report the asker may read is one event, built from the objects it refers to that the asker
may read too: the feed is a view through the same markings as TAXII."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from accord.errors import IntelUnauthorized, NotFoundError
from accord.federation.auth import AUTH_HEADER
from accord.federation.http import authenticated
from accord.intel import misp
from accord.intel.models import Reader
from accord.intel.service import Intel
from accord.intel.store import Collection, Filter
from accord.intel.tokens import reader_for_token, token_from_header

FEED_PREFIX = "/misp/v1/feeds"
CONTAINERS = ("grouping", "report")


def events(intel: Intel, target: Collection, reader: Reader) -> list[dict[str, Any]]:
    """Every event of the feed: one per readable grouping or report."""
    limit = intel.node.settings.intel_page_limit
    containers = intel.read(target, reader, Filter(types=CONTAINERS), cursor=None, limit=limit)
    out = []
    for row in containers.rows:
        container = json.loads(row.raw)
        refs = tuple(r for r in container.get("object_refs", []) if isinstance(r, str))
        parts = intel.read(target, reader, Filter(ids=refs), cursor=None, limit=limit).rows
        definitions = intel.read(
            target, reader, Filter(types=("marking-definition",)), cursor=None, limit=limit
        ).rows
        objects = [container, *(json.loads(p.raw) for p in [*parts, *definitions])]
        out.append(misp.event_of(objects))
    return out


def routes(intel: Intel) -> APIRouter:
    router = APIRouter()

    def asker(request: Request) -> Reader:
        if request.headers.get(AUTH_HEADER):
            return Reader(authenticated(request, intel.federation), participant=True)
        token = token_from_header(request.headers.get("authorization", ""))
        if token is None:
            raise IntelUnauthorized(
                "the MISP feed needs an API token",
                advice="Set 'Authorization: Bearer TOKEN' in the feed's headers.",
            )
        return reader_for_token(intel.node, token)

    async def built(collection: str, request: Request) -> list[dict[str, Any]]:
        reader = await asyncio.to_thread(asker, request)
        target = intel.collection(collection)
        return await asyncio.to_thread(events, intel, target, reader)

    @router.get(f"{FEED_PREFIX}/{{collection}}/manifest.json")
    async def manifest(collection: str, request: Request) -> Response:
        summary = {e["uuid"]: misp.manifest_entry(e) for e in await built(collection, request)}
        return Response(json.dumps(summary, ensure_ascii=False), media_type="application/json")

    @router.get(f"{FEED_PREFIX}/{{collection}}/{{event}}.json")
    async def event(collection: str, event: str, request: Request) -> Response:
        for item in await built(collection, request):
            if item["uuid"] == event:
                return Response(
                    json.dumps({"Event": item}, ensure_ascii=False), media_type="application/json"
                )
        raise NotFoundError(
            f"no event {event} in this feed for this asker",
            advice="Read manifest.json for the events you may pull.",
        )

    return router
