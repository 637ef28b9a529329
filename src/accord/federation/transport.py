"""How a node reaches its peers. ``PeerTransport`` is the interface; ``HttpTransport`` the real
one (httpx, HTTP/1.1 keep-alive, bounded timeouts and response size)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

MESSAGES_PATH = "/federation/v1/messages"
MEDIA_TYPE = "application/jose+json"  # RFC 7515 §9.2.1 / RFC 7516 §9.1
MAX_RESPONSE_BYTES = 64 * 1024


class TransportFailure(Exception):
    """The peer could not be reached or did not answer in time (always worth a retry)."""


@dataclass(frozen=True)
class PeerResponse:
    status: int
    body: bytes


class PeerTransport(Protocol):
    async def post_message(self, base_url: str, wire: bytes) -> PeerResponse: ...

    async def close(self) -> None: ...


class HttpTransport:
    def __init__(self, timeout: float, max_connections: int) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"content-type": MEDIA_TYPE, "accept": "application/json"},
            follow_redirects=False,
        )

    async def post_message(self, base_url: str, wire: bytes) -> PeerResponse:
        try:
            request = self._client.build_request("POST", base_url + MESSAGES_PATH, content=wire)
            response = await self._client.send(request, stream=True)
            try:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise TransportFailure(f"answer over {MAX_RESPONSE_BYTES} bytes")
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise TransportFailure(f"{exc.__class__.__name__}: {exc}") from exc
        return PeerResponse(response.status_code, bytes(body))

    async def close(self) -> None:
        await self._client.aclose()
