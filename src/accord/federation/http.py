"""What every route shares: reading bodies with a limit, knowing who signed a request, and
the operator's token."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import Request

from accord.boundedjson import DEFAULT, parse_object
from accord.errors import FieldError, InputError, JsonInvalid, OperatorUnauthorized, PayloadTooLarge
from accord.federation.auth import AUTH_HEADER, verify_request
from accord.federation.service import Federation
from accord.node.home import Node

ENVELOPE_ADVICE = "Send large files as an evidence package."


async def read_limited(
    request: Request, limit: int, what: str = "envelope", advice: str = ENVELOPE_ADVICE
) -> bytes:
    """The body, refused with 413 once over ``limit``; its SHA-256 binds signed refusals."""
    declared = request.headers.get("content-length")
    # a 5,000-digit Content-Length must not reach int() (Python's 4,300-digit limit)
    if (
        declared is not None
        and declared.isdigit()
        and (len(declared) > 19 or int(declared) > limit)
    ):
        raise PayloadTooLarge(
            f"{what} is {declared[:20]} bytes; this node accepts at most {limit}", advice=advice
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
    participant = verify_request(
        request.headers.get(AUTH_HEADER),
        audience=node.id,
        method=request.method,
        target=target,
        directory=federation.directory(),
        now=node.clock.now(),
        window=node.settings.clock_skew,
    )
    federation.peer_budget.charge(participant, "participant")  # ADR 0017
    return participant


def body_schema(media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its body itself (``read_limited``): the body
    it takes, so that the OpenAPI document, and clients and fuzzers built from it, know."""
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


JSON_OBJECT = body_schema("application/json", {"type": "object"})


def require_operator(node: Node, request: Request) -> None:
    """The operator API's bearer token (``NODE/operator-token``, ADR 0009); the refusal names
    the rule the header breaks (RFC 6750 §2.1, §3)."""
    headers = request.headers.getlist("authorization")
    header = headers[0] if len(headers) == 1 else ""
    scheme, _, token = header.partition(" ")
    if len(headers) > 1:
        rule, why = "single", "is sent more than once"
    elif not header:
        rule, why = "required", "is missing"
    elif scheme.lower() != "bearer" or not token.strip():
        rule, why = "bearer", "is not 'Bearer TOKEN' (RFC 6750 §2.1)"
    elif not hmac.compare_digest(token.strip().encode(), node.operator_token.encode()):
        rule, why = "token", "does not carry this node's operator token"
    else:
        return
    message = f"the operator API needs this node's operator token: authorization {why}"
    raise OperatorUnauthorized(
        message,
        advice="Send 'Authorization: Bearer TOKEN' with the token in NODE/operator-token.",
        errors=[FieldError("authorization", rule, message)],
    )


async def json_object_body(request: Request, limit: int, advice: str) -> dict[str, Any]:
    """The body as one JSON object, read with ``limit`` and parsed within the bounded parser's
    limits (ADR 0017); InputError naming the field and the rule."""
    raw = await read_limited(request, limit, "request body", advice)
    try:
        return parse_object(raw, what="body", limits=DEFAULT.but(max_bytes=limit))
    except JsonInvalid as exc:
        (problem,) = exc.errors
        field = "body" + problem.field if problem.field.startswith("/") else "body"
        raise InputError(
            exc.message, advice=advice, errors=[FieldError(field, problem.rule, exc.message)]
        ) from exc
