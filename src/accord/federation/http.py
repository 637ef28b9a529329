"""What every route shares: reading bodies with a limit, knowing who signed a request, and
the operator's token."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from fastapi import Request

from accord.errors import FieldError, InputError, OperatorUnauthorized, PayloadTooLarge
from accord.federation.auth import AUTH_HEADER, verify_request
from accord.federation.service import Federation
from accord.node.home import Node

ENVELOPE_ADVICE = "Send large files as an evidence package."


async def read_limited(
    request: Request, limit: int, what: str = "envelope", advice: str = ENVELOPE_ADVICE
) -> bytes:
    """The body, refused with 413 once over ``limit``; its SHA-256 binds signed refusals."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"{what} is {declared} bytes; this node accepts at most {limit}", advice=advice
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(
                f"{what} is over this node's limit of {limit} bytes", advice=advice
            )
    request.state.request_sha256 = hashlib.sha256(body).hexdigest()
    return bytes(body)


def authenticated(request: Request, federation: Federation) -> str:
    """The participant who signed this request for this node (``accord-auth``)."""
    node = federation.node
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return verify_request(
        request.headers.get(AUTH_HEADER),
        audience=node.id,
        method=request.method,
        target=target,
        directory=federation.directory(),
        now=node.clock.now(),
        window=node.settings.clock_skew,
    )


def require_operator(node: Node, request: Request) -> None:
    """The operator API's bearer token (``NODE/operator-token``, ADR 0009)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), node.operator_token.encode()
    ):
        raise OperatorUnauthorized(
            "the operator API needs this node's operator token",
            advice="Send 'Authorization: Bearer TOKEN' with the token in NODE/operator-token.",
        )


async def json_object_body(request: Request, limit: int, advice: str) -> dict[str, Any]:
    """The body as one JSON object, read with ``limit``; InputError naming the problem."""
    raw = await read_limited(request, limit, "request body", advice)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        message = f"the body is not JSON: {exc}"
        raise InputError(
            message, advice=advice, errors=[FieldError("body", "json", message)]
        ) from exc
    if not isinstance(value, dict):
        message = "the body must be a JSON object"
        raise InputError(message, advice=advice, errors=[FieldError("body", "object", message)])
    return value
