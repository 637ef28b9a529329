"""The operator's JSON API for cooperation requests (``/api/v1/requests``): the same service
as ``accord request``, behind the node's operator token, with the project's one error shape."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from accord.errors import FieldError, InputError
from accord.federation.http import JSON_OBJECT, json_object_body, require_operator
from accord.requests import views
from accord.requests.events import Kind
from accord.requests.models import article_of
from accord.requests.service import Requests
from accord.requests.validate import MAX_REQUEST_BYTES, validate

PREFIX = "/api/v1/requests"
RequestId = Annotated[str, Path(min_length=1, max_length=128)]
BODY_ADVICE = "Send one JSON object."


def routes(service: Requests) -> APIRouter:
    router = APIRouter()
    node = service.node
    _ = node.operator_token  # made at start, so the operator can read it from the folder

    def operator(request: Request) -> None:
        require_operator(node, request)

    async def body(request: Request) -> dict[str, Any]:
        require_operator(node, request)
        return await _body(request)

    @router.post(f"{PREFIX}/validate", openapi_extra=JSON_OBJECT)
    async def validate_route(request: Request) -> dict[str, Any]:
        """Check a record against its type's rules; every problem at once (422)."""
        record = validate(await body(request))
        article = article_of(record.REQUEST_TYPE)
        return {"valid": True, "type": record.type, "article": article, "id": record.message_id}

    @router.post(PREFIX, status_code=201, openapi_extra=JSON_OBJECT)
    async def create(request: Request) -> dict[str, Any]:
        """Validate, submit and send a request: ``{"to": PARTICIPANT, "request": {...}}``."""
        data = await body(request)
        to, record = data.get("to"), data.get("request")
        if not isinstance(to, str):
            raise _bad("to", "required", "name the participant to send the request to")
        if not isinstance(record, dict):
            raise _bad("request", "required", "the request record, as a JSON object")
        return views.summary(await asyncio.to_thread(service.create, record, to))

    @router.get(PREFIX)
    async def listing(request: Request) -> dict[str, Any]:
        operator(request)
        return {"requests": [views.summary(s) for s in service.summaries()]}

    @router.get(f"{PREFIX}/due")
    async def due(request: Request) -> dict[str, Any]:
        """What is due or overdue on this node, soonest first."""
        operator(request)
        return {"due": [views.due_item(item, owner) for item, owner in service.due()]}

    @router.get(f"{PREFIX}/{{request_id}}")
    async def show(request_id: RequestId, request: Request) -> dict[str, Any]:
        operator(request)
        return views.shown(service.show(request_id))

    @router.get(f"{PREFIX}/{{request_id}}/render")
    async def render(request_id: RequestId, request: Request, lang: str | None = None) -> Response:
        """The printable HTML document, in ``lang`` or the requested State's language."""
        operator(request)
        html = await asyncio.to_thread(service.render, request_id, lang)
        return Response(html, media_type="text/html; charset=utf-8")

    @router.post(f"{PREFIX}/{{request_id}}/events", openapi_extra=JSON_OBJECT)
    async def transition(request_id: RequestId, request: Request) -> dict[str, Any]:
        """Make this State's move: ``{"event": KIND, "payload": {...}}``."""
        data = await body(request)
        kind, payload = data.get("event"), data.get("payload", {})
        if kind not in set(Kind):
            raise _bad("event", "invalid_choice", f"{kind!r} is not an event of §8.2")
        if not isinstance(payload, dict):
            raise _bad("payload", "object", "the payload must be a JSON object")
        summary = await asyncio.to_thread(service.transition, request_id, Kind(kind), payload)
        return views.summary(summary)

    @router.post(f"{PREFIX}/{{request_id}}/reply", openapi_extra=JSON_OBJECT)
    async def reply(request_id: RequestId, request: Request) -> dict[str, Any]:
        data = await body(request)
        return views.summary(await asyncio.to_thread(service.reply, request_id, data))

    @router.post(f"{PREFIX}/{{request_id}}/forward", openapi_extra=JSON_OBJECT)
    async def forward(request_id: RequestId, request: Request) -> dict[str, Any]:
        """Send received data on (UNCC Art. 36(3)): refused and audited without consent."""
        data = await body(request)
        to, note = data.get("to"), data.get("note", "")
        if not isinstance(to, str) or not isinstance(note, str):
            raise _bad("to", "required", "name the participant to forward to")
        summary = await asyncio.to_thread(service.forward, request_id, to, note)
        return views.summary(summary)

    return router


async def _body(request: Request) -> dict[str, Any]:
    return await json_object_body(request, MAX_REQUEST_BYTES, BODY_ADVICE)


def _bad(field: str, rule: str, message: str) -> InputError:
    return InputError(message, advice=BODY_ADVICE, errors=[FieldError(field, rule, message)])
