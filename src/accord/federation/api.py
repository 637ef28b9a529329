"""The node's HTTP API (protocol v1) and its one JSON error shape.

Every error answers ``{"code", "message", "advice", "errors": [{"field", "rule", "message",
"article"}]}`` with the status of the error class, signed by the node in the
``Accord-Signature`` header (a detached JWS bound to the SHA-256 of the request body);
``tests/integration/test_federation_http.py`` pins the shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord import __version__
from accord.audit.api import install_audit_routes, publish_checkpoints
from accord.audit.witnessing import Witnessing
from accord.envelope.receipt import REFUSAL_HEADER, sign_refusal
from accord.errors import AccordError, FieldError
from accord.evidence.api import install_evidence_routes
from accord.evidence.courier import Courier
from accord.evidence.inbound import expire_abandoned
from accord.federation.http import read_limited
from accord.federation.outbox import Outbox
from accord.federation.service import Federation
from accord.federation.transport import MEDIA_TYPE, MESSAGES_PATH, HttpTransport
from accord.requests.api import install_request_routes

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


def create_app(federation: Federation, outbox: Outbox | None = None) -> FastAPI:
    """The node's ASGI app; with ``outbox``, it and the evidence courier run for the app's
    lifetime."""
    settings = federation.node.settings
    transport = HttpTransport(settings.request_timeout, 8)
    witnessing = Witnessing(federation, transport)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        await asyncio.to_thread(inbound.recover)
        workers = [
            asyncio.create_task(publish_checkpoints(witnessing, stop)),
            asyncio.create_task(expire_abandoned(inbound, stop)),
        ]
        if outbox is not None:
            workers.append(asyncio.create_task(outbox.run(stop)))
            workers.append(asyncio.create_task(Courier(federation, transport).run(stop)))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*workers)
            await transport.close()

    app = FastAPI(title="Accord node", version=__version__, lifespan=lifespan)
    _install_error_handlers(app, federation)
    install_audit_routes(app, federation, witnessing)
    inbound = install_evidence_routes(app, federation)
    install_request_routes(app, federation)
    node = federation.node

    @app.post(MESSAGES_PATH, status_code=202)
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

    @app.get("/federation/v1/card")
    async def card() -> Response:
        """This node's self-signed participant card."""
        return Response(node.card(node.clock.now()), media_type="application/json")

    @app.get("/federation/v1/health")
    async def health() -> dict[str, Any]:
        directory = federation.directories.current(node.clock.now())
        return {
            "status": "ok",
            "participant": node.id,
            "directory_version": directory.version if directory else None,
            "version": __version__,
        }

    return app


def _install_error_handlers(app: FastAPI, federation: Federation) -> None:
    node = federation.node

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
