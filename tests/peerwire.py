"""Peer requests routed to real node apps in this process (httpx's ASGI transport), through a
link that can break, corrupt and forge: the evidence transfer tests' network."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from accord.evidence.courier import EVIDENCE_PATH
from accord.federation.transport import PeerResponse, TransportFailure

Tamper = Callable[[str, str, bytes], bytes]


@dataclass
class Wire:
    """Routes a node's requests to the peer's ASGI app by URL; ``tamper`` may rewrite a body
    on the way and ``fail`` may cut the link before a request."""

    apps: dict[str, httpx.AsyncClient]
    log: list[tuple[str, str, int]] = field(default_factory=list)
    tamper: Tamper | None = None
    fail: Callable[[str, str], bool] | None = None

    async def request(
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> PeerResponse:
        base, _, target = url.partition(EVIDENCE_PATH)
        target = EVIDENCE_PATH + target
        if self.fail is not None and self.fail(method, target):
            raise TransportFailure("ClientConnectionError: link dropped")
        body = data or b""
        if self.tamper is not None:
            body = self.tamper(method, target, body)
        answer = await self.apps[base].request(method, target, content=body, headers=headers)
        self.log.append((method, target, answer.status_code))
        return PeerResponse(
            answer.status_code, answer.content, answer.headers.get("accord-refusal")
        )

    def puts(self) -> list[tuple[str, int]]:
        return [(target.rsplit("/", 1)[1], status) for m, target, status in self.log if m == "PUT"]
