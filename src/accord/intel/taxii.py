"""The TAXII 2.1 server of a node (OASIS Standard, 10 June 2021), mounted at ``/taxii2/``: its
own ASGI app, so every answer under it, errors included, is TAXII (error resources of §3.6.1,
``application/taxii+json;version=2.1``), never Accord's JSON error shape.

Authentication: a node's signed request (``accord-auth``, as the audit routes take it), or a
local tool's API token (``Authorization: Bearer TOKEN``, or HTTP Basic with the token as the
password, which every TAXII client can send).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord.envelope.receipt import REFUSAL_HEADER, sign_refusal
from accord.errors import AccordError, FieldError, InputError, IntelUnauthorized, PayloadTooLarge
from accord.federation.auth import AUTH_HEADER, verify_request
from accord.federation.http import read_limited
from accord.intel import store
from accord.intel.models import Reader
from accord.intel.service import Intel, Page
from accord.intel.stix import STIX_MEDIA_TYPE
from accord.intel.store import Collection, Filter, Row
from accord.intel.tokens import reader_for_token, token_from_header

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"  # TAXII 2.1 §1.6.8
PREFIX = "/taxii2"
API_ROOT = "api"
log = structlog.get_logger("accord.taxii")
FILTERS = {  # TAXII 2.1 §3.4.1: the match fields each endpoint takes
    "objects": {"id", "type", "version", "spec_version"},
    "manifest": {"id", "type", "version", "spec_version"},
    "object": {"version", "spec_version"},
    "versions": {"spec_version"},
    "delete": {"version", "spec_version"},
}


class NotAcceptable(AccordError):
    code = "not_acceptable"
    http_status = 406


class UnsupportedMediaType(AccordError):
    code = "unsupported_media_type"
    http_status = 415


def app(intel: Intel) -> FastAPI:
    """The TAXII sub-application; the composition root mounts it at ``/taxii2``."""
    taxii = FastAPI(title="Accord TAXII 2.1", openapi_url=None, docs_url=None, redoc_url=None)
    node = intel.node
    _errors(taxii, intel)

    async def reader(request: Request) -> Reader:
        _acceptable(request)
        return await asyncio.to_thread(_authenticate, intel, request)

    @taxii.get("/")
    async def discovery(request: Request) -> Response:
        """§4.1 Server Discovery."""
        await reader(request)
        root = f"{PREFIX}/{API_ROOT}/"
        return _json(
            {
                "title": f"Accord node {node.id}",
                "description": "STIX 2.1 threat intelligence, TLP 2.0 enforced on every hop.",
                "contact": node.identity.name,
                "default": root,
                "api_roots": [root],
            }
        )

    @taxii.get(f"/{API_ROOT}/")
    async def api_root(request: Request) -> Response:
        """§4.2 Get API Root Information."""
        await reader(request)
        return _json(
            {
                "title": f"{node.identity.name} ({node.id})",
                "description": "Collections of this node.",
                "versions": [TAXII_MEDIA_TYPE],
                "max_content_length": node.settings.intel_max_content_bytes,
            }
        )

    @taxii.get(f"/{API_ROOT}/status/{{status_id}}/")
    async def status(status_id: str, request: Request) -> Response:
        """§4.3 Get Status: only the asker of the Add Objects sees it."""
        asker = await reader(request)
        return _json(intel.status(status_id, asker.id))

    @taxii.get(f"/{API_ROOT}/collections/")
    async def collections(request: Request) -> Response:
        """§5.1 Get Collections: those the asker may read or write."""
        asker = await reader(request)
        shown = [_collection(intel, c, asker) for c in intel.collections()]
        return _json({"collections": [c for c in shown if c["can_read"] or c["can_write"]]})

    @taxii.get(f"/{API_ROOT}/collections/{{cid}}/")
    async def one_collection(cid: str, request: Request) -> Response:
        """§5.2 Get a Collection."""
        asker = await reader(request)
        shown = _collection(intel, intel.collection(cid), asker)
        if not shown["can_read"] and not shown["can_write"]:
            intel.check_access(intel.collection(cid), asker)
        return _json(shown)

    _object_routes(taxii, intel, reader)
    return taxii


def _object_routes(
    taxii: FastAPI, intel: Intel, reader: Callable[[Request], Awaitable[Reader]]
) -> None:
    """§5.3-§5.8: objects, manifests and versions of a collection."""
    node = intel.node

    @taxii.get(f"/{API_ROOT}/collections/{{cid}}/objects/")
    async def objects(cid: str, request: Request) -> Response:
        """§5.4 Get Objects."""
        asker = await reader(request)
        page = await _read(intel, cid, asker, request, endpoint="objects")
        return _envelope(page, "objects")

    @taxii.get(f"/{API_ROOT}/collections/{{cid}}/manifest/")
    async def manifest(cid: str, request: Request) -> Response:
        """§5.3 Get Object Manifests."""
        asker = await reader(request)
        page = await _read(intel, cid, asker, request, endpoint="manifest")
        return _envelope(page, "manifest")

    @taxii.post(f"/{API_ROOT}/collections/{{cid}}/objects/")
    async def add(cid: str, request: Request) -> Response:
        """§5.5 Add Objects: validated, stored whole or not at all; answers 202 and a status."""
        asker = await reader(request)
        _content_type(request)
        target = intel.collection(cid)
        intel.check_access(target, asker, write=True)
        limit = node.settings.intel_max_content_bytes
        body = await _body(request, limit)
        document = await asyncio.to_thread(intel.add, target.id, body, asker=asker.id)
        return _json(document, 202)

    @taxii.get(f"/{API_ROOT}/collections/{{cid}}/objects/{{object_id}}/")
    async def get_object(cid: str, object_id: str, request: Request) -> Response:
        """§5.6 Get an Object."""
        asker = await reader(request)
        page = await _read(intel, cid, asker, request, endpoint="object", object_id=object_id)
        if not page.rows and not page.more:
            raise _not_found(object_id)
        return _envelope(page, "objects")

    @taxii.delete(f"/{API_ROOT}/collections/{{cid}}/objects/{{object_id}}/")
    async def delete_object(cid: str, object_id: str, request: Request) -> Response:
        """§5.7 Delete an Object: the versions match[version] names (default: all)."""
        asker = await reader(request)
        query = _filter(request, "delete", default_version="all")
        await asyncio.to_thread(intel.delete, intel.collection(cid), asker, object_id, query)
        return Response(status_code=200, media_type=TAXII_MEDIA_TYPE)

    @taxii.get(f"/{API_ROOT}/collections/{{cid}}/objects/{{object_id}}/versions/")
    async def versions(cid: str, object_id: str, request: Request) -> Response:
        """§5.8 Get Object Versions."""
        asker = await reader(request)
        page = await _read(intel, cid, asker, request, endpoint="versions", object_id=object_id)
        if not page.rows and not page.more:
            raise _not_found(object_id)
        return _envelope(page, "versions")


async def _read(
    intel: Intel, cid: str, asker: Reader, request: Request, *, endpoint: str, object_id: str = ""
) -> Page:
    default = "all" if endpoint == "versions" else "last"
    query = _filter(request, endpoint, default_version=default)
    if object_id:
        query = Filter(**{**query.__dict__, "ids": (object_id,)})
    limit = _limit(request, intel.node.settings.intel_page_limit)
    cursor = request.query_params.get("next")
    target = intel.collection(cid)
    return await asyncio.to_thread(intel.read, target, asker, query, cursor=cursor, limit=limit)


def _envelope(page: Page, shape: str) -> Response:
    """§3.7 envelope (objects), §5.3 manifest, §5.8 versions; with the §3.2 date headers."""
    head: dict[str, Any] = {"more": page.more}
    if page.next:
        head["next"] = page.next
    if shape == "objects":
        items = b",".join(row.raw for row in page.rows)
    elif shape == "manifest":
        items = b",".join(json.dumps(_manifest(row)).encode() for row in page.rows)
    else:
        items = b",".join(json.dumps(_version(row)).encode() for row in page.rows)
    key = {"objects": "objects", "manifest": "objects", "versions": "versions"}[shape]
    opening = json.dumps(head)[:-1].encode()
    body = (
        opening + f', "{key}": ['.encode() + items + b"]}"
        if page.rows
        else json.dumps(head).encode()
    )
    headers = {}
    if page.rows:  # §3.2 X-TAXII-Date-Added-First / -Last
        headers["X-TAXII-Date-Added-First"] = store.taxii_time(page.rows[0].date_added)
        headers["X-TAXII-Date-Added-Last"] = store.taxii_time(page.rows[-1].date_added)
    return Response(body, 200, media_type=TAXII_MEDIA_TYPE, headers=headers)


def _version(row: Row) -> str:
    return row.version or store.taxii_time(row.date_added)


def _manifest(row: Row) -> dict[str, str]:
    """§5.3.1 manifest record."""
    return {
        "id": row.stix_id,
        "date_added": store.taxii_time(row.date_added),
        "version": _version(row),
        "media_type": STIX_MEDIA_TYPE,
    }


def _collection(intel: Intel, item: Collection, asker: Reader) -> dict[str, Any]:
    """§5.2.1 collection resource."""
    shown: dict[str, Any] = {
        "id": item.id,
        "title": item.title,
        "can_read": intel.can(item, asker),
        "can_write": intel.can(item, asker, write=True),
        "media_types": [STIX_MEDIA_TYPE],
    }
    if item.description:
        shown["description"] = item.description
    if item.alias:
        shown["alias"] = item.alias
    return shown


def _filter(request: Request, endpoint: str, *, default_version: str) -> Filter:
    """§3.4 filters: added_after, match[field]=a,b (OR within, AND across); each at most once."""
    allowed = FILTERS[endpoint]
    matches: dict[str, tuple[str, ...]] = {}
    added_after = None
    for name, value in request.query_params.multi_items():
        if name.startswith("match[") and name.endswith("]"):
            field = name[6:-1]
            if field not in allowed:
                raise _bad(
                    name,
                    "unsupported_filter",
                    f"{endpoint} takes match[{'|'.join(sorted(allowed))}] only",
                    "§3.4.1",
                )
            if field in matches:
                raise _bad(name, "repeated", "each match field may appear once", "§3.4")
            matches[field] = tuple(v.strip() for v in value.split(",") if v.strip())
        elif name == "added_after":
            added_after = _timestamp(value)
        elif name not in ("limit", "next"):
            raise _bad(name, "unknown_parameter", f"{name} is not a TAXII 2.1 parameter", "§3.4")
    versions = matches.get("version", (default_version,))
    for v in versions:
        if v not in ("first", "last", "all"):
            _timestamp(v, field="match[version]")
    return Filter(
        added_after=added_after,
        ids=matches.get("id", ()),
        types=matches.get("type", ()),
        versions=versions,
        spec_versions=matches.get("spec_version", ()),
    )


def _timestamp(value: str, field: str = "added_after") -> int:
    from accord.intel.validate import TIMESTAMP  # noqa: PLC0415

    if not TIMESTAMP.match(value):
        raise _bad(
            field,
            "timestamp",
            f"{value!r} is not a TAXII timestamp (YYYY-MM-DDTHH:MM:SS.ssssssZ)",
            "§2.1",
        )
    from datetime import datetime  # noqa: PLC0415

    return store.micros(datetime.fromisoformat(store.vkey(value).replace("Z", "+00:00")))


def _limit(request: Request, ceiling: int) -> int:
    text = request.query_params.get("limit")
    if text is None:
        return ceiling
    if not text.isdigit() or int(text) < 1:
        raise _bad("limit", "positive_integer", "limit must be a positive integer", "§3.5")
    return min(int(text), ceiling)


def _acceptable(request: Request) -> None:
    """§3.2: an Accept the server cannot answer gets 406; the unversioned TAXII type means
    the latest version, 2.1 (medallion refuses it)."""
    accept = request.headers.get("accept", "*/*")
    for item in accept.split(","):
        media = item.split(";q=")[0].replace(" ", "").lower()
        if media in ("*/*", "application/*", "application/taxii+json", TAXII_MEDIA_TYPE):
            return
    raise NotAcceptable(
        f"Accept {accept!r} names no media type this server sends",
        advice=f"Send Accept: {TAXII_MEDIA_TYPE} (TAXII 2.1 §3.2).",
    )


def _content_type(request: Request) -> None:
    media = request.headers.get("content-type", "").replace(" ", "").lower()
    if media not in ("application/taxii+json", TAXII_MEDIA_TYPE):
        raise UnsupportedMediaType(
            f"Content-Type {media or 'missing'}: Add Objects takes a TAXII envelope",
            advice=f"Send Content-Type: {TAXII_MEDIA_TYPE} (TAXII 2.1 §5.5).",
        )


async def _body(request: Request, limit: int) -> bytes:
    try:
        return await read_limited(
            request,
            limit,
            "Add Objects body",
            "Split it into several POSTs of at most max_content_length bytes (TAXII 2.1 §4.2).",
        )
    except PayloadTooLarge as error:
        error.errors = [FieldError("body", "max_content_length", error.message, "TAXII 2.1 §4.2")]
        raise


def _authenticate(intel: Intel, request: Request) -> Reader:
    node = intel.node
    signed = request.headers.get(AUTH_HEADER)
    if signed:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        participant = verify_request(
            signed,
            audience=node.id,
            method=request.method,
            target=target,
            directory=intel.federation.directory(),
            now=node.clock.now(),
            window=node.settings.clock_skew,
        )
        return Reader(participant, participant=True)
    token = token_from_header(request.headers.get("authorization", ""))
    if token is None:
        raise IntelUnauthorized(
            "TAXII requests need an API token or a node's signed request",
            advice="Send 'Authorization: Bearer TOKEN' (or HTTP Basic with the token as the "
            "password); `accord intel token create` makes one.",
        )
    return reader_for_token(node, token)


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value, ensure_ascii=False), status, media_type=TAXII_MEDIA_TYPE)


def _bad(field: str, rule: str, message: str, section: str) -> InputError:
    return InputError(
        f"{field}: {message} (TAXII 2.1 {section})",
        advice="Correct the query parameter named.",
        errors=[FieldError(field, rule, message, f"TAXII 2.1 {section}")],
    )


def _not_found(object_id: str) -> AccordError:
    from accord.errors import NotFoundError  # noqa: PLC0415

    return NotFoundError(
        f"no object {object_id} this asker may read matches",
        advice="Check the id and the match filters (TAXII 2.1 §5.6).",
    )


def error_resource(error: AccordError, status: int) -> dict[str, Any]:
    """TAXII 2.1 §3.6.1 error resource."""
    body: dict[str, Any] = {
        "title": error.message,
        "http_status": str(status),
        "error_code": error.code,
    }
    if error.advice:
        body["description"] = error.advice
    if error.errors:
        body["details"] = {
            "errors": [
                {"field": e.field, "rule": e.rule, "message": e.message, "section": e.article}
                for e in error.errors
            ]
        }
    return body


def _errors(taxii: FastAPI, intel: Intel) -> None:
    node = intel.node

    def answer(request: Request, error: AccordError, status: int) -> Response:
        content = json.dumps(error_resource(error, status), ensure_ascii=False).encode()
        signature = sign_refusal(
            content,
            request_sha256=getattr(request.state, "request_sha256", ""),
            signer=node.id,
            key=node.keys.signing,
        )
        headers = {REFUSAL_HEADER: signature}
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="accord-taxii", Bearer realm="accord-taxii"'
        return Response(content, status, media_type=TAXII_MEDIA_TYPE, headers=headers)

    @taxii.exception_handler(AccordError)
    async def accord_error(request: Request, error: AccordError) -> Response:
        log.info("taxii request refused", code=error.code, message=error.message)
        return answer(request, error, error.http_status)

    @taxii.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        wrapped = AccordError(str(error.detail), "Check the method and path (TAXII 2.1 §4, §5).")
        wrapped.code = code
        return answer(request, wrapped, error.status_code)

    @taxii.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> Response:
        log.error("taxii internal error", exc_info=error)
        wrapped = AccordError("internal error; nothing was stored", "Retry later.")
        return answer(request, wrapped, 500)
