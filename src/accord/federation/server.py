"""The node's HTTP server (ADR 0017): uvicorn with its HTTP/1.1 protocol guarded, so that no
client holds a connection it does not use and every refusal, even of a request that never
reached the app, is the project's one signed error shape.

The guard adds to uvicorn's ``httptools`` protocol:

- a **head timeout**: the request line and headers must arrive within ``header_timeout`` of
  the connection or of the request's first byte (a slowloris client trickling header bytes
  is cut off: 408);
- a **body timeout**: the body must arrive within ``body_timeout`` of the head (408);
- a **head size** bound: at most ``max_header_bytes`` (431, RFC 6585 §5);
- **connections per address** and in all: over ``max_connections_per_address`` from one
  address (an IPv6 /64) or ``max_connections`` in all, a new connection is answered 503
  at its first byte and closed;
- a request the parser refuses (a control character in a header, a malformed request line)
  gets a signed ``400 http_malformed`` in the error shape instead of uvicorn's plain text.

uvicorn's keep-alive timeout closes idle connections between requests.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from accord.config import Settings
from accord.errors import AccordError
from accord.federation.limits import address_key

# (status, error) -> the whole HTTP/1.1 response, signed like every other refusal
Answer = Callable[[int, AccordError], bytes]


class HttpRefused(AccordError):
    code = "http_malformed"
    http_status = 400


@dataclass
class Guard:
    """What every connection of one server shares: its bounds and the open connections."""

    settings: Settings
    answer: Answer
    open_by_address: Counter[str] = field(default_factory=Counter)


def guarded_protocol(guard: Guard) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, bound to ``guard``."""

    class Guarded(_GuardedProtocol):
        _guard = guard

    return Guarded


class _GuardedProtocol(HttpToolsProtocol):
    _guard: Guard

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        settings = self._guard.settings
        self._address = address_key(self.client[0]) if self.client else "unknown"
        self._guard.open_by_address[self._address] += 1
        self._in_head, self._head_bytes, self._tail = True, 0, b""
        self._timer: asyncio.TimerHandle | None = None
        # over a bound, the connection is answered 503 at its first byte, so that every
        # request a client sent gets an answer
        self._over: str | None = None
        if self._guard.open_by_address[self._address] > settings.max_connections_per_address:
            limit = settings.max_connections_per_address
            self._over = f"over {limit} connections from one address"
        elif len(self.connections) > settings.max_connections:
            self._over = f"over {settings.max_connections} connections"
        self._arm(settings.header_timeout, "request head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._guard.open_by_address[self._address] -= 1
        if self._guard.open_by_address[self._address] <= 0:
            del self._guard.open_by_address[self._address]
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._over is not None:
            self._refuse(503, self._over, "Retry later, over fewer connections (keep-alive).")
            return
        if self._in_head:
            # count up to the blank line that ends the head: what follows is the body
            window = self._tail + data
            end = window.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            self._tail = window[-3:]
            limit = self._guard.settings.max_header_bytes
            if self._head_bytes > limit:
                self._refuse(431, f"the request head is over {limit} bytes", "Send less.")
                return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        self._refuse(
            400,
            f"the HTTP request is malformed ({msg.rstrip('.')})",
            "Send HTTP/1.1 with header values of visible ASCII (RFC 9110 §5.5).",
        )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:
            self._in_head, self._head_bytes, self._tail = True, 0, b""
            self._arm(self._guard.settings.header_timeout, "request head")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm(self._guard.settings.body_timeout, "request body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._timed_out, seconds, what)

    def _disarm(self) -> None:
        timer = getattr(self, "_timer", None)
        if timer is not None:
            timer.cancel()
            self._timer = None

    def _timed_out(self, seconds: float, what: str) -> None:
        self._timer = None
        started = self.cycle is not None and self.cycle.response_started
        if not started and not self.transport.is_closing():
            self._refuse(
                408,
                f"the {what} did not arrive within {seconds:g} s",
                "Send the whole request at once.",
            )
        else:
            self.transport.close()

    def _refuse(self, status: int, message: str, advice: str) -> None:
        if self.cycle is not None:
            self.cycle.disconnected = True  # the app, if it runs, sends nothing more
            self.cycle.message_event.set()
        self.transport.write(self._guard.answer(status, HttpRefused(message, advice)))
        self.transport.close()


def config(app: Any, guard: Guard, host: str, port: int) -> uvicorn.Config:
    """The uvicorn configuration of a serving node."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(guard),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=int(guard.settings.keepalive_timeout),
    )
