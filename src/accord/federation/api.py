"""Protocol v1's own HTTP routes and the one JSON error shape of every route of a node.

Every error answers ``{"code", "message", "advice", "errors": [{"field", "rule", "message",
"article"}]}`` with the status of the error class, signed by the node in the
``Accord-Signature`` header (a detached JWS bound to the SHA-256 of the request body);
``tests/integration/test_federation_http.py`` pins the shape.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from accord import __version__
from accord.envelope.receipt import REFUSAL_HEADER, sign_refusal
from accord.errors import AccordError, FieldError
from accord.federation.http import body_schema, read_limited
from accord.federation.limits import Refuse
from accord.federation.service import Federation
from accord.federation.transport import MEDIA_TYPE, MESSAGES_PATH
from accord.node.home import Node

log = structlog.get_logger("accord.api")
OFFLOAD_BYTES = 64 * 1024  # envelopes larger than this are opened in a worker thread
JWE = {  # RFC 7516 §7.2.1, as ADR 0016 narrows it
    "type": "object",
    "required": ["ciphertext", "iv", "protected", "recipients", "tag"],
    "properties": {name: {"type": "string"} for name in ("ciphertext", "iv", "protected", "tag")}
    | {"recipients": {"type": "array", "items": {"type": "object"}}},
}


class UnsupportedMediaType(AccordError):
    code = "unsupported_media_type"
    http_status = 415


def error_body(error: AccordError) -> dict[str, Any]:
    return {
        "code": error.code,
        "message": error.message,
        "advice": error.advice,
        "errors": [_field(e) for e in error.errors],
    }


def _field(error: FieldError) -> dict[str, Any]:
    return {
        "field": error.field,
        "rule": error.rule,
        "message": error.message,
        "article": error.article,
    }


def routes(federation: Federation) -> APIRouter:
    """Protocol v1's own routes: messages in, this node's card, its health."""
    router = APIRouter()
    node = federation.node

    @router.post(MESSAGES_PATH, status_code=202, openapi_extra=body_schema(MEDIA_TYPE, JWE))
    async def post_message(request: Request) -> Response:
        """Verify, store durably, then answer with a signed receipt (protocol v1)."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != MEDIA_TYPE:
            raise UnsupportedMediaType(
                f"content-type must be {MEDIA_TYPE}, not {media or 'missing'}",
                advice="Send the envelope as a JWE in general JSON serialization.",
            )
        wire = await read_limited(request, node.settings.max_message_bytes)
        stored = federation.stored_receipt(wire)
        if stored is not None:
            return JSONResponse({"receipt": stored, "duplicate": True}, status_code=200)
        if len(wire) > OFFLOAD_BYTES:
            opened = await asyncio.to_thread(federation.verify_incoming, wire)
        else:
            opened = federation.verify_incoming(wire)
        federation.peer_budget.charge(opened.routing.sender, "participant")  # ADR 0017
        token, duplicate = await node.writer.write(federation.store_job(wire, opened))
        return JSONResponse({"receipt": token, "duplicate": duplicate}, 202)

    @router.get("/federation/v1/card")
    async def card() -> Response:
        """This node's self-signed participant card."""
        return Response(node.card(node.clock.now()), media_type="application/json")

    @router.get("/federation/v1/health")
    async def health() -> dict[str, Any]:
        directory = federation.directories.current(node.clock.now())
        return {
            "status": "ok",
            "participant": node.id,
            "directory_version": directory.version if directory else None,
            "version": __version__,
        }

    return router


def signed_refusal(
    node: Node, body: dict[str, Any], request_sha256: str = ""
) -> tuple[bytes, dict[str, str]]:
    """The content of an error answer and its headers: every one is signed by this node
    (protocol v1), bound to the SHA-256 of the request body it refuses ("" when unread)."""
    content = json.dumps(body, ensure_ascii=False).encode()
    signature = sign_refusal(
        content, request_sha256=request_sha256, signer=node.id, key=node.keys.signing
    )
    return content, {"content-type": "application/json", REFUSAL_HEADER: signature}


def raw_refusal(node: Node) -> Callable[[int, AccordError], bytes]:
    """A whole HTTP/1.1 response for a request refused before the app saw it (the server's
    guard): the same signed shape, then the connection closes."""

    def answer(status: int, error: AccordError) -> bytes:
        content, headers = signed_refusal(node, error_body(error))
        reason = HTTPStatus(status).phrase
        lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
        lines += [f"content-length: {len(content)}", "connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + content

    return answer


def asgi_refusal(node: Node) -> Refuse:
    """The same for ASGI middleware (the rate limit): status, headers, body."""

    def refuse(_scope: Any, error: AccordError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        content, headers = signed_refusal(node, error_body(error))
        headers |= getattr(error, "headers", {})
        return error.http_status, [(k.encode(), v.encode()) for k, v in headers.items()], content

    return refuse


def install_error_handlers(app: FastAPI, node: Node) -> None:
    """Answer every error with the one JSON shape, signed by ``node`` (protocol v1)."""

    def refuse(
        request: Request, status: int, body: dict[str, Any], extra: dict[str, str] | None = None
    ) -> Response:
        """Every error answer is signed by this node (protocol v1), bound to the request."""
        content, headers = signed_refusal(node, body, getattr(request.state, "request_sha256", ""))
        return Response(content, status, headers=headers | (extra or {}))

    @app.exception_handler(AccordError)
    async def accord_error(request: Request, error: AccordError) -> Response:
        log.info("request refused", code=error.code, message=error.message)
        return refuse(
            request, error.http_status, error_body(error), getattr(error, "headers", None)
        )

    @app.exception_handler(ClientDisconnect)
    async def gone(request: Request, _error: ClientDisconnect) -> Response:
        # the client left (or the server's guard cut a slow body off): nobody to answer
        log.info("client disconnected", path=request.url.path)
        return Response(status_code=400)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        fields = [
            FieldError(".".join(str(p) for p in e["loc"]), e["type"], e["msg"])
            for e in error.errors()
        ]
        body = AccordError("the request is invalid", "Correct the fields listed.", fields)
        return refuse(request, 422, {**error_body(body), "code": "input_invalid"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        body = AccordError(str(error.detail), "Check the method and path (protocol v1).")
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return refuse(request, error.status_code, {**error_body(body), "code": code})

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> Response:
        log.error("internal error", exc_info=error)
        body = AccordError("internal error; nothing was stored", "Retry later.")
        return refuse(request, 500, {**error_body(body), "code": "internal_error"})
