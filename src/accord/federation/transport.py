"""How a node reaches its peers. ``PeerTransport`` is the interface; ``HttpTransport`` the real
one: aiohttp (ADR 0003), HTTP/1.1 keep-alive, bounded timeouts and response size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import aiohttp

from accord.envelope.receipt import REFUSAL_HEADER

MESSAGES_PATH = "/federation/v1/messages"
MEDIA_TYPE = "application/jose+json"  # RFC 7515 §9.2.1 / RFC 7516 §9.1
MAX_RESPONSE_BYTES = 64 * 1024


class TransportFailure(Exception):
    """The peer could not be reached or did not answer in time (always worth a retry)."""


@dataclass(frozen=True)
class PeerResponse:
    status: int
    body: bytes
    signature: str | None = None  # the peer's signed-refusal header on error answers
    retry_after: float | None = None  # seconds, from a 429 or 503 (RFC 9110 §10.2.3)


class PeerTransport(Protocol):
    async def post_message(self, base_url: str, wire: bytes) -> PeerResponse: ...

    async def close(self) -> None: ...


class PeerRequests(Protocol):
    """Any request to a peer (evidence transfer); ``HttpTransport`` is the real one."""

    async def request(
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> PeerResponse: ...


class HttpTransport:
    """One connection pool per node; create and use it inside the running event loop."""

    def __init__(self, timeout: float, max_connections: int) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                headers={"content-type": MEDIA_TYPE, "accept": "application/json"},
            )
        return self._session

    async def post_message(self, base_url: str, wire: bytes) -> PeerResponse:
        return await self.request("POST", base_url + MESSAGES_PATH, wire)

    async def request(
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> PeerResponse:
        """One request to a peer; the answer is read up to MAX_RESPONSE_BYTES."""
        try:
            async with self._client().request(
                method, url, data=data, headers=headers, allow_redirects=False
            ) as response:
                body = bytearray()
                while chunk := await response.content.read(MAX_RESPONSE_BYTES):
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise TransportFailure(f"answer over {MAX_RESPONSE_BYTES} bytes")
                signature = response.headers.get(REFUSAL_HEADER)
                wait = retry_after(response.headers.get("retry-after"))
                return PeerResponse(response.status, bytes(body), signature, wait)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportFailure(f"{exc.__class__.__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


MAX_RETRY_AFTER = 3600.0


def retry_after(value: str | None) -> float | None:
    """Delay-seconds of a Retry-After header (RFC 9110 §10.2.3), at most an hour; an HTTP
    date or anything else is ignored (the outbox's own backoff applies)."""
    if value is None or not value.isdigit() or len(value) > 6:
        return None
    return min(float(value), MAX_RETRY_AFTER)
