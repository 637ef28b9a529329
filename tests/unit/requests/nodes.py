"""Real nodes in this process for request tests: each with its database, keys, directory (with
the States Parties registry) and its real HTTP app; messages go from a sender's outbox table to
the recipient's app, in the order and as many times as a test chooses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from accord.app import create_app
from accord.clock import FixedClock
from accord.db.schema import deliveries, outgoing
from accord.demo.federation import LocalFederation, NodeSpec
from accord.envelope.models import Kind as MessageKind
from accord.federation.service import Federation
from accord.identity.directory import draft_bytes, read_document, sign_directory
from accord.identity.models import Role
from accord.identity.registry import Registry, read_registry
from accord.identity.service import DirectoryStore
from accord.node.home import Node
from accord.requests.service import Requests
from accord.requests.validate import load

EXAMPLES = Path(__file__).parents[3] / "examples"
from accord.demo.cases import REGISTRY  # noqa: E402 - the demo's registry file

VN, RU, ZA, BG = "vn-mps-247", "ru-gp-247", "za-doj-ca", "bg-pg-ca"
BOTH = (Role.POC_24X7, Role.CENTRAL_AUTHORITY)
SPECS = [
    NodeSpec(VN, "Viet Nam 24/7", "VN", BOTH, ("vi", "en")),
    NodeSpec(RU, "Russian Federation 24/7", "RU", BOTH, ("ru", "en")),
    NodeSpec(ZA, "South Africa CA", "ZA", (Role.CENTRAL_AUTHORITY,), ("en",)),
    NodeSpec(BG, "Bulgaria CA", "BG", (Role.CENTRAL_AUTHORITY,), ("bg", "en")),
]
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
# The demo signs its directory for 30 days of wall-clock time; tests move the FixedClock by
# months (holds, collection periods), so the nodes get a version valid over that range.
DIRECTORY_VALID = (T0 - timedelta(days=1), T0 + timedelta(days=3 * 365))
REQUEST_KINDS = (MessageKind.REQUEST.value, MessageKind.REQUEST_EVENTS.value)


def registry(*, bg_deposited: date | None = None) -> Registry:
    """The example registry (in force for VN, RU, ZA, RO); BG deposits on ``bg_deposited``."""
    data = load(REGISTRY)
    for party in data["parties"]:
        if party["state"] == "BG":
            party["deposited_on"] = bg_deposited or date(2026, 5, 20)
    return read_registry(data)


def record(kind: str, **changes: Any) -> dict[str, Any]:
    """An example record addressed between the test nodes, without its id (``new`` gives one)."""
    data = load(EXAMPLES / "requests" / f"{kind}.toml")
    data.pop("message_id")
    data.update(changes)
    return data


@dataclass
class Nodes:
    clock: FixedClock
    local: LocalFederation
    open: dict[str, Node]
    apps: dict[str, httpx.AsyncClient]
    delivered: set[tuple[str, str]] = field(default_factory=set)
    kinds: tuple[str, ...] = REQUEST_KINDS  # the message kinds `pending` hands over

    def requests(self, pid: str) -> Requests:
        return Requests(Federation(self.open[pid]))

    def pending(self) -> list[tuple[str, str, bytes]]:
        """Messages of ``kinds`` queued on any node and not yet handed over: (recipient, id,
        wire)."""
        out = []
        for node in self.open.values():
            with node.read_engine.connect() as connection:
                rows = connection.execute(
                    select(outgoing.c.message_id, outgoing.c.wire, deliveries.c.recipient)
                    .join(deliveries, deliveries.c.message_id == outgoing.c.message_id)
                    .where(outgoing.c.kind.in_(self.kinds))
                    .order_by(outgoing.c.created_at)
                ).all()
            out += [(r.recipient, r.message_id, r.wire) for r in rows]
        return [item for item in out if (item[0], item[1]) not in self.delivered]

    def post(self, recipient: str, wire: bytes) -> httpx.Response:
        """Hand an envelope to the recipient's real app, as the outbox would."""
        client = self.apps[recipient]

        async def go() -> httpx.Response:
            return await client.post(
                "/federation/v1/messages",
                content=wire,
                headers={"content-type": "application/jose+json"},
            )

        return asyncio.run(go())

    def deliver(self, order: Sequence[int] | None = None) -> list[httpx.Response]:
        """Deliver what is pending, in ``order`` (indexes into ``pending()``) or as queued."""
        pending = self.pending()
        chosen = [pending[i] for i in order] if order is not None else pending
        answers = []
        for recipient, message_id, wire in chosen:
            answers.append(self.post(recipient, wire))
            self.delivered.add((recipient, message_id))
        return answers

    def settle(self) -> None:
        """Deliver until nothing is pending (moves made on arrival queue more)."""
        for _ in range(10):
            answers = self.deliver()
            if not answers:
                return
            for answer in answers:
                assert answer.status_code in (200, 202), answer.text
        raise AssertionError("messages kept coming")

    def publish(self, registry_: Registry) -> None:
        """The stewards sign a new directory version carrying ``registry_``; every node
        installs it."""
        signed = _long_lived(self.local, version=3, registry_=registry_)
        for node in self.open.values():
            DirectoryStore(node).install(signed, pinned=None, now=self.clock.now())

    def advance(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))

    def api(self, pid: str) -> httpx.Client:
        """The operator API of a node, with its token, through its real app."""
        node = self.open[pid]
        return httpx.Client(
            transport=_SyncASGI(self.apps[pid]),
            base_url=self.local.nodes[pid].url,
            headers={"authorization": f"Bearer {node.operator_token}"},
        )


class _SyncASGI(httpx.BaseTransport):
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def go() -> httpx.Response:
            answer = await self._client.request(
                request.method,
                request.url.raw_path.decode(),
                content=request.read(),
                headers=dict(request.headers),
            )
            await answer.aread()
            return answer

        answer = asyncio.run(go())
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def start(
    root: Path,
    registry_: Registry | None = None,
    *,
    specs: Sequence[NodeSpec] = SPECS,
    groups: dict[str, tuple[str, ...]] | None = None,
    kinds: tuple[str, ...] = REQUEST_KINDS,
    at: datetime = T0,
) -> Iterator[Nodes]:
    local = LocalFederation.create(
        root,
        list(specs),
        groups or {"everyone": tuple(spec.id for spec in specs)},
        registry=registry_ or registry(),
    )
    clock = FixedClock(at)
    opened = {spec.id: local.nodes[spec.id].open(clock) for spec in specs}
    directory = _long_lived(local)
    for node in opened.values():
        DirectoryStore(node).install(directory, pinned=None, now=clock.now())
    apps = {
        pid: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(Federation(node))),
            base_url=local.nodes[pid].url,
        )
        for pid, node in opened.items()
    }
    try:
        yield Nodes(clock, local, opened, apps, kinds=kinds)
    finally:
        for node in opened.values():
            node.close()


def _long_lived(
    local: LocalFederation, version: int = 2, registry_: Registry | None = None
) -> bytes:
    """The federation's directory as ``version``, valid over ``DIRECTORY_VALID`` (with
    ``registry_`` instead of its own registry if given)."""
    issued, expires = DIRECTORY_VALID
    document = read_document(local.directory)
    document = document.model_copy(
        update={
            "version": version,
            "issued_at": issued,
            "expires_at": expires,
            "states_parties": registry_ or document.states_parties,
        }
    )
    signed = draft_bytes(document)
    for kid, key in list(local.steward_keys.items())[:2]:
        signed = sign_directory(signed, key, kid)
    return signed


def body(response: httpx.Response) -> dict[str, Any]:
    value = json.loads(response.content)
    assert isinstance(value, dict)
    return value
