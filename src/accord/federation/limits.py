"""Request rates (ADR 0017): token buckets per source address and per authenticated peer.

Every request is charged to its source address before anything else runs (an IPv6 address
counts by its /64, which one host usually holds whole); a request a participant signed, or
an envelope it sent, is charged to that participant once its signature verified, so nobody
can spend a peer's budget by claiming its name. A request over budget is answered ``429``
with ``Retry-After`` (RFC 9110 §10.2.3; RFC 6585 §4) in the project's error shape.

``Budget`` is pure (a key and ``now`` in, a wait or None out); ``RateLimit`` is the ASGI
middleware. Other domains' routes need nothing: the middleware covers every route, and
``federation.http.authenticated`` charges the peer.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from accord.errors import AccordError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Refuse = Callable[[Scope, AccordError], tuple[int, list[tuple[bytes, bytes]], bytes]]

MAX_TRACKED = 10_000  # buckets kept; the least recently used full one goes first


class RateLimited(AccordError):
    """Over the request budget of an address or a peer; ``retry_after`` says when to return."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, advice=f"Retry after {math.ceil(retry_after)} s.")
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": str(max(1, math.ceil(self.retry_after)))}


@dataclass
class _Bucket:
    tokens: float
    at: float


class Budget:
    """Token buckets by key: ``rate`` requests a second, ``burst`` at once (RFC 2697's shape)."""

    def __init__(self, rate: float, burst: int, tracked: int = MAX_TRACKED) -> None:
        self.rate, self.burst, self._tracked = rate, float(burst), tracked
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def wait(self, key: str, now: float) -> float | None:
        """Take one token for ``key`` at ``now``; None if there was one, else seconds to wait."""
        bucket = self._buckets.pop(key, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key] = bucket
        if len(self._buckets) > self._tracked:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.rate

    def charge(self, key: str, what: str, now: float | None = None) -> None:
        """Raise RateLimited when ``key`` is over its budget."""
        wait = self.wait(key, time.monotonic() if now is None else now)
        if wait is not None:
            raise RateLimited(
                f"{what} {key} is over its budget of {self.rate:g} requests a second "
                f"(burst {self.burst:g})",
                wait,
            )


def address_key(host: str) -> str:
    """The budget an address draws on: itself, or its /64 for IPv6."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class RateLimit:
    """ASGI middleware: every HTTP request is charged to its source address first."""

    def __init__(self, app: ASGIApp, budget: Budget, refuse: Refuse) -> None:
        self._app, self._budget, self._refuse = app, budget, refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        client = scope.get("client")
        host = client[0] if client else "unknown"
        try:
            self._budget.charge(address_key(host), "address")
        except RateLimited as refused:
            status, headers, body = self._refuse(scope, refused)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self._app(scope, receive, send)
