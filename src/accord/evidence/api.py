"""Evidence transfer over HTTP (protocol v1): every route needs a signed request
(``accord-auth``) from the participant who offered the package."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from accord.evidence.courier import EVIDENCE_PATH
from accord.evidence.inbound import Inbound
from accord.evidence.models import CHUNK_BYTES, PACKAGE_ID
from accord.evidence.transfer import MAX_OFFER_BYTES
from accord.federation.http import authenticated, read_limited
from accord.federation.service import Federation

PackageId = Annotated[str, Path(pattern=PACKAGE_ID)]
ChunkIndex = Annotated[int, Path(ge=0, le=10_000_000)]
OFFER_ADVICE = "An offer holds the manifest, the custody chain and the directory only."
CHUNK_ADVICE = f"Send one chunk of at most {CHUNK_BYTES} bytes per request."


def routes(federation: Federation, inbound: Inbound) -> APIRouter:
    router = APIRouter()

    @router.post(f"{EVIDENCE_PATH}/{{package_id}}/offer")
    async def offer(package_id: PackageId, request: Request) -> dict[str, Any]:
        """Take an offered package: its signed manifest and custody chain are checked; the
        answer lists the chunks still missing (all of them the first time)."""
        sender = authenticated(request, federation)
        body = await read_limited(request, MAX_OFFER_BYTES, "evidence offer", OFFER_ADVICE)
        return await asyncio.to_thread(inbound.offer, sender, package_id, body)

    @router.put(f"{EVIDENCE_PATH}/{{package_id}}/chunks/{{index}}")
    async def chunk(package_id: PackageId, index: ChunkIndex, request: Request) -> dict[str, Any]:
        """Keep one chunk, durably, if its SHA-256 is the signed manifest's for ``index``."""
        sender = authenticated(request, federation)
        data = await read_limited(request, CHUNK_BYTES, "evidence chunk", CHUNK_ADVICE)
        return await asyncio.to_thread(inbound.put_chunk, sender, package_id, index, data)

    @router.post(f"{EVIDENCE_PATH}/{{package_id}}/complete")
    async def complete(package_id: PackageId, request: Request) -> dict[str, Any]:
        """The signed package receipt, once every chunk is held (the same one if asked again)."""
        sender = authenticated(request, federation)
        await read_limited(request, 0, "completion request", "Send an empty body.")
        receipt = await asyncio.to_thread(inbound.complete, sender, package_id)
        return {"state": "complete", "receipt": receipt}

    return router
