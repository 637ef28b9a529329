"""Protocol v1's own HTTP routes and the one JSON error shape of every route of a node.

Every error answers ``{"code", "message", "advice", "errors": [{"field", "rule", "message",
"article"}]}`` with the status of the error class, signed by the node in the
``Accord-Signature`` header (a detached JWS bound to the SHA-256 of the request body);
``tests/integration/test_federation_http.py`` pins the shape.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord import __version__
from accord.envelope.receipt import REFUSAL_HEADER, sign_refusal
from accord.errors import AccordError, FieldError
from accord.federation.http import read_limited
from accord.federation.service import Federation
from accord.federation.transport import MEDIA_TYPE, MESSAGES_PATH
from accord.node.home import Node

log = structlog.get_logger("accord.api")
OFFLOAD_BYTES = 64 * 1024  # envelopes larger than this are opened in a worker thread


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

    @router.post(MESSAGES_PATH, status_code=202)
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


def install_error_handlers(app: FastAPI, node: Node) -> None:
    """Answer every error with the one JSON shape, signed by ``node`` (protocol v1)."""

    def refuse(request: Request, status: int, body: dict[str, Any]) -> Response:
        """Every error answer is signed by this node (protocol v1), bound to the request."""
        content = json.dumps(body, ensure_ascii=False).encode()
        signature = sign_refusal(
            content,
            request_sha256=getattr(request.state, "request_sha256", ""),
            signer=node.id,
            key=node.keys.signing,
        )
        return Response(
            content, status, media_type="application/json", headers={REFUSAL_HEADER: signature}
        )

    @app.exception_handler(AccordError)
    async def accord_error(request: Request, error: AccordError) -> Response:
        log.info("request refused", code=error.code, message=error.message)
        return refuse(request, error.http_status, error_body(error))

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
