"""The audit log over HTTP: checkpoints and proofs for participants of the federation, and
the witness endpoints (C2SP tlog-witness).

Reading routes need a signed request (``accord-auth``): the log's size and history are shown
to participants only, and an entry's inclusion proof only to the parties the entry names. The
witness routes are authenticated by the log's signature on the checkpoint, as the spec says.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from accord.audit.proofs import checkpoint_document, consistency_document, inclusion_document
from accord.audit.service import AuditLog
from accord.audit.witness import (
    ADD_CHECKPOINT,
    GOSSIP,
    MAX_BODY_BYTES,
    SIZE_MEDIA_TYPE,
    SizeConflict,
    log_verifier,
    parse_add_checkpoint,
)
from accord.audit.witnessing import Witnessing
from accord.errors import AccordError
from accord.federation.http import authenticated, body_schema, read_limited
from accord.federation.service import Federation

AUDIT_PREFIX = "/audit/v1"
log = structlog.get_logger("accord.audit")
WITNESS_REQUEST = "witness request"
TEXT = body_schema("text/plain", {"type": "string"})  # C2SP tlog-witness bodies
WITNESS_ADVICE = "A checkpoint with its consistency proof is a few kilobytes; send only that."


def routes(federation: Federation, witnessing: Witnessing) -> APIRouter:
    router = APIRouter()
    node = federation.node
    audit = AuditLog(node)
    spreading: set[asyncio.Task[None]] = set()

    @router.post(ADD_CHECKPOINT, openapi_extra=TEXT)
    async def add_checkpoint(request: Request) -> Response:
        """C2SP tlog-witness: co-sign a checkpoint that extends the last one seen."""
        body = await read_limited(request, MAX_BODY_BYTES, WITNESS_REQUEST, WITNESS_ADVICE)
        try:
            lines = await witnessing.add_checkpoint(body)
        except SizeConflict as conflict:
            return Response(f"{conflict.latest}\n", 409, media_type=SIZE_MEDIA_TYPE)
        cosigned = parse_add_checkpoint(body).note + lines
        owner = log_verifier(cosigned, federation.directory())[0]
        task = asyncio.create_task(witnessing.spread(cosigned, owner))
        spreading.add(task)
        task.add_done_callback(spreading.discard)
        return Response(lines, 200, media_type="text/plain; charset=utf-8")

    @router.post(GOSSIP, openapi_extra=TEXT)
    async def gossip(request: Request) -> dict[str, str]:
        """A checkpoint another witness co-signed; a contradiction raises an alarm here."""
        note = await read_limited(request, MAX_BODY_BYTES, WITNESS_REQUEST, WITNESS_ADVICE)
        await witnessing.gossip(note)
        return {"status": "consistent"}

    def asker(request: Request) -> str:
        return authenticated(request, federation)

    @router.get(f"{AUDIT_PREFIX}/checkpoint")
    async def checkpoint(request: Request) -> dict[str, Any]:
        """The latest signed checkpoint (C2SP tlog-checkpoint)."""
        asker(request)
        return checkpoint_document(audit.latest().note)

    @router.get(f"{AUDIT_PREFIX}/inclusion")
    async def inclusion(request: Request, index: Annotated[int, Query(ge=0)]) -> dict[str, Any]:
        """RFC 9162 §2.1.3 inclusion proof of an entry the asker is a party to."""
        return inclusion_document(audit.prove(index, viewer=asker(request)))

    @router.get(f"{AUDIT_PREFIX}/consistency")
    async def consistency(
        request: Request, old: Annotated[int, Query(ge=0)], new: Annotated[int, Query(ge=0)]
    ) -> dict[str, Any]:
        """RFC 9162 §2.1.4 consistency proof between two published checkpoints."""
        asker(request)
        return consistency_document(audit.consistency(old, new))

    return router


async def publish_checkpoints(witnessing: Witnessing, stop: asyncio.Event) -> None:
    """Sign a checkpoint every ``checkpoint_interval`` seconds while the log grows, and ask
    the partners to co-sign it."""
    node = witnessing.node
    audit = AuditLog(node)
    while not stop.is_set():
        try:
            published = await node.writer.write(audit.checkpoint_job())
            await witnessing.submit(published)
        except AccordError as error:  # keep serving; the next round tries again
            log.warning("checkpoint failed", error=error.message)
        except SQLAlchemyError as error:  # a read while the database restarts (PostgreSQL)
            log.warning("checkpoint failed", error=error.__class__.__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), node.settings.checkpoint_interval)
