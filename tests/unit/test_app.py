"""The composition root (ADR 0012): a node is built from its list of domains, each message
kind has one owner, and a domain's routes, handlers, start-up work and workers all take part."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, func, select

from accord.app import DOMAINS, create_app
from accord.audit.models import Event
from accord.db.schema import incoming, outgoing
from accord.demo.federation import LocalFederation
from accord.envelope.models import Kind, Opened
from accord.federation.domain import Domain, Plugged, Serving
from accord.federation.service import FEDERATION_KINDS, Federation
from accord.node.home import Node


@pytest.fixture
def pair(local_federation: LocalFederation) -> Iterator[tuple[Node, Node]]:
    vn = local_federation.nodes["vn-mps-247"].open()
    ru = local_federation.nodes["ru-gp-ca"].open()
    try:
        yield vn, ru
    finally:
        vn.close()
        ru.close()


def test_every_message_kind_has_exactly_one_owner(pair: tuple[Node, Node]) -> None:
    federation = Federation(pair[1])
    assert federation.kinds() == FEDERATION_KINDS
    create_app(federation)
    assert federation.kinds() == set(Kind)  # and handle() refuses a kind owned twice


def test_a_kind_claimed_twice_is_refused_when_the_node_is_built(pair: tuple[Node, Node]) -> None:
    [requests] = [domain for domain in DOMAINS if domain.name == "requests"]
    with pytest.raises(ValueError, match="message kind request already has a handler"):
        create_app(Federation(pair[1]), domains=(requests, requests))


def test_a_domain_cannot_take_federation_s_own_kinds(pair: tuple[Node, Node]) -> None:
    def serve(_serving: Serving) -> Plugged:
        return Plugged(handlers={Kind.ACK: lambda *_: []})

    with pytest.raises(ValueError, match="message kind ack already has a handler"):
        create_app(Federation(pair[1]), domains=(Domain("acks", lambda _: None, serve),))


def queued_request(sender: Node) -> bytes:
    """A ``request`` message from ``sender`` to ru-gp-ca, as its outbox holds it."""
    Federation(sender).send("ru-gp-ca", Kind.REQUEST, {"n": 1})
    with sender.read_engine.connect() as connection:
        return bytes(connection.execute(select(outgoing.c.wire)).scalar_one())


async def get_and_post(app: FastAPI, path: str, wire: bytes) -> tuple[httpx.Response, ...]:
    """GET ``path``, then deliver ``wire`` as the sender's outbox would."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ru") as client:
        got = await client.get(path)
        posted = await client.post(
            "/federation/v1/messages",
            content=wire,
            headers={"content-type": "application/jose+json"},
        )
    return got, posted


class Probe:
    """A domain that records what the node did with each part of its hook."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.deliver: bool | None = None

    def serve(self, serving: Serving) -> Plugged:
        self.deliver = serving.deliver
        router = APIRouter()

        @router.get("/probe/v1/ping")
        async def ping() -> dict[str, str]:
            return {"pong": serving.federation.node.id}

        return Plugged(
            routes=router,
            handlers={Kind.REQUEST: self.store},
            workers=(self.work,),
            startup=(lambda: self.calls.append("startup"),),
        )

    def store(self, _connection: Connection, opened: Opened, _at: datetime) -> list[Event]:
        self.calls.append(f"stored {opened.body['n']}")
        return []

    async def work(self, stop: asyncio.Event) -> None:
        self.calls.append("worker started")
        await stop.wait()
        self.calls.append("worker stopped")


def test_a_domain_s_routes_handlers_startup_and_workers_take_part(
    pair: tuple[Node, Node],
) -> None:
    vn, ru = pair
    probe = Probe()
    app = create_app(Federation(ru), domains=(Domain("probe", lambda _: None, probe.serve),))
    wire = queued_request(vn)

    async def serve_briefly() -> tuple[httpx.Response, ...]:
        async with app.router.lifespan_context(app):
            await asyncio.sleep(0)  # let the worker start
            return await get_and_post(app, "/probe/v1/ping", wire)

    ping, posted = asyncio.run(serve_briefly())
    assert ping.json() == {"pong": "ru-gp-ca"}
    assert posted.status_code == 202, posted.text
    assert probe.deliver is False
    assert probe.calls == ["startup", "worker started", "stored 1", "worker stopped"]
    with ru.read_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(incoming)).scalar_one() == 1


def test_without_a_domain_its_kind_is_refused_and_its_routes_are_absent(
    pair: tuple[Node, Node],
) -> None:
    vn, ru = pair
    app = create_app(Federation(ru), domains=())
    listing, posted = asyncio.run(get_and_post(app, "/api/v1/requests", queued_request(vn)))
    assert listing.status_code == 404
    assert posted.status_code == 503
    assert posted.json()["code"] == "storage_error"


def test_a_domain_s_mounted_app_answers_everything_under_its_prefix(
    pair: tuple[Node, Node],
) -> None:
    """A mount (TAXII at /taxii2) owns its paths, its 404s and its errors included."""
    mounted = FastAPI()

    @mounted.get("/hello")
    async def hello() -> dict[str, str]:
        return {"from": "mounted"}

    @mounted.exception_handler(404)
    async def missing(_request: object, _error: object) -> JSONResponse:
        return JSONResponse({"title": "not here"}, status_code=404)

    def serve(_serving: Serving) -> Plugged:
        return Plugged(mounts={"/mounted": mounted})

    app = create_app(Federation(pair[1]), domains=(Domain("mounts", lambda _: None, serve),))

    async def call() -> tuple[httpx.Response, ...]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ru") as client:
            return (
                await client.get("/mounted/hello"),
                await client.get("/mounted/nothing"),
                await client.get("/nothing"),
            )

    hello_answer, mounted_404, node_404 = asyncio.run(call())
    assert hello_answer.json() == {"from": "mounted"}
    assert mounted_404.json() == {"title": "not here"}  # the mount's own error shape
    assert node_404.json()["code"] == "not_found"  # the node's, outside the mount
