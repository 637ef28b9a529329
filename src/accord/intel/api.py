"""The operator's JSON API for intel (``/api/v1/intel``): preview, share, sightings and
subscriptions, the same service as ``accord intel``, behind the node's operator token, with
the project's one error shape. Objects themselves are read and written over TAXII."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request

from accord.errors import FieldError, InputError
from accord.federation.http import read_limited, require_operator
from accord.intel import sync
from accord.intel.service import Intel

PREFIX = "/api/v1/intel"
MAX_BODY = 1024 * 1024


def routes(intel: Intel) -> APIRouter:
    router = APIRouter()
    node = intel.node
    _ = node.operator_token  # made at start, so the operator can read it from the folder

    async def body(request: Request) -> dict[str, Any]:
        require_operator(node, request)
        raw = await read_limited(request, MAX_BODY, "request body", "Send one JSON object.")
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise _bad("body", "json", f"the body is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise _bad("body", "object", "the body must be a JSON object")
        return value

    def ids_and_to(data: dict[str, Any]) -> tuple[list[str], str]:
        ids, to = data.get("ids"), data.get("to")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise _bad("ids", "required", "a non-empty list of STIX ids")
        if not isinstance(to, str):
            raise _bad("to", "required", "the participant or group to share with")
        return ids, to

    @router.post(f"{PREFIX}/preview")
    async def preview(request: Request) -> dict[str, Any]:
        """Who a share would reach, and why not the others: ``{"ids": [...], "to": NAME}``."""
        ids, to = ids_and_to(await body(request))
        lines = await asyncio.to_thread(intel.preview, ids, [to])
        return {
            "preview": [
                {"id": o, "participant": p, "receives": ok, "why": why} for o, p, ok, why in lines
            ]
        }

    @router.post(f"{PREFIX}/share")
    async def share(request: Request) -> dict[str, Any]:
        """Share objects under their originator's grant; a refusal is audited (403)."""
        ids, to = ids_and_to(await body(request))
        return {"message_id": await asyncio.to_thread(intel.share, ids, to)}

    @router.post(f"{PREFIX}/sightings")
    async def sighting(request: Request) -> dict[str, Any]:
        """A STIX sighting, stored and sent back to the producer of what it sighted."""
        data = await body(request)
        encoded = json.dumps(data).encode()
        return {"message_id": await asyncio.to_thread(intel.report_sighting, encoded)}

    @router.get(f"{PREFIX}/subscriptions")
    async def subscriptions(request: Request) -> dict[str, Any]:
        require_operator(node, request)
        subs = await asyncio.to_thread(sync.subscriptions, intel)
        return {"subscriptions": [sub.__dict__ for sub in subs]}

    return router


def _bad(field: str, rule: str, message: str) -> InputError:
    return InputError(
        message, advice="Send one JSON object.", errors=[FieldError(field, rule, message)]
    )
