"""Tools of the fault tests: a TCP proxy on loopback that the test controls, deadline waits,
and direct reads of a node's database for the exactly-once checks."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pgkit
from accord.demo.federation import LocalFederation, LocalNode, NodeSpec
from accord.envelope.models import Kind
from accord.federation.service import Federation
from accord.identity.models import Role
from accord.node.home import Node

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
DEADLINE = 60.0  # generous: the machine is shared with other test runs

SENDER, RECEIVER = "vn-mps-247", "ru-gp-ca"
PAIR = (
    NodeSpec(SENDER, "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en")),
    NodeSpec(RECEIVER, "Russian Federation CA", "RU", (Role.CENTRAL_AUTHORITY,), ("ru", "en")),
)

MakeFederation = Callable[[str], LocalFederation]  # settings.toml -> a federation, not started

# Short timeouts so that every fault heals within seconds.
FAST = "request_timeout = 2\nretry_base = 0.05\nretry_max = 1\noutbox_poll = 0.1\n"


# Waiting -----------------------------------------------------------------------------------


def wait_until(
    what: str, probe: Callable[[], T], timeout: float = DEADLINE, interval: float = 0.05
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}; last {value!r}"
            )
        time.sleep(interval)


# Reading a node's database directly (the node process may be running, or dead) -------------


def query(local: LocalNode, sql: str, *params: object) -> list[Any]:
    """Rows as mappings, from the node's SQLite file or its PostgreSQL database."""
    return pgkit.query(pgkit.database_of(local.home), sql, *params)


def states(sender: LocalNode) -> Counter[str]:
    return Counter(row["state"] for row in query(sender, "SELECT state FROM deliveries"))


def received_count(receiver: LocalNode) -> int:
    return int(query(receiver, "SELECT count(*) AS n FROM incoming")[0]["n"])


def errors(sender: LocalNode) -> list[str]:
    rows = query(sender, "SELECT last_error FROM deliveries WHERE last_error IS NOT NULL")
    return [str(row["last_error"]) for row in rows]


def all_delivered(sender: LocalNode, count: int) -> Callable[[], bool]:
    return lambda: states(sender) == Counter({"delivered": count})


def assert_exactly_once(sender: LocalNode, receiver: LocalNode, expected: set[str]) -> None:
    """The receiver holds each expected message once, byte for byte as the sender stored it,
    and the sender's stored receipt is the one the receiver gave at first storage."""
    sent = {
        row["message_id"]: row
        for row in query(
            sender,
            "SELECT o.message_id, o.wire, o.sha256, d.state, d.receipt FROM outgoing o "
            "JOIN deliveries d ON d.message_id = o.message_id WHERE d.recipient = ?",
            receiver.spec.id,
        )
    }
    received = query(receiver, "SELECT message_id, sender, wire, sha256, receipt FROM incoming")
    ids = [row["message_id"] for row in received]
    assert len(received) == len(expected), (
        f"receiver stored {len(received)} rows, not {len(expected)}"
    )
    assert len(set(ids)) == len(ids)
    assert set(ids) == expected == set(sent)
    for row in received:
        mine = sent[row["message_id"]]
        digest = hashlib.sha256(row["wire"]).hexdigest()
        assert digest == hashlib.sha256(mine["wire"]).hexdigest()
        assert digest == row["sha256"] == mine["sha256"]
        assert row["sender"] == sender.spec.id
        assert mine["state"] == "delivered"
        assert mine["receipt"] == row["receipt"]


# Sending from the test process ---------------------------------------------------------------


@contextlib.contextmanager
def opened(local: LocalNode) -> Iterator[Node]:
    node = local.open()
    try:
        yield node
    finally:
        node.close()


def send_notes(federation: Federation, to: str, count: int, tag: str) -> list[str]:
    """Queue ``count`` notes in the sender's database; its running outbox picks them up."""
    return [
        federation.send(
            to, Kind.NOTE, {"subject": f"{tag} {i}", "text": "fault test", "attachments": []}
        )
        for i in range(count)
    ]


def log_tail(local: LocalNode, lines: int = 30) -> str:
    if local.log_path is None or not local.log_path.exists():
        return ""
    return "\n".join(local.log_path.read_text(errors="replace").splitlines()[-lines:])


# The link ----------------------------------------------------------------------------------


class Link(enum.Enum):
    FORWARD = "forward"  # bytes flow both ways
    DROP = "drop"  # live connections are reset, new ones reset as soon as accepted
    STALL = "stall"  # connections are accepted, bytes are held (and released on recovery)
    LOSE_REPLIES = "lose-replies"  # requests reach the receiver, its answers are discarded
    CORRUPT_ONCE = "corrupt-once"  # one byte of the next request body is flipped, then forward


class LinkProxy:
    """A TCP proxy from ``listen_port`` to ``target_port`` on loopback, run by an asyncio loop
    in its own thread; ``set`` changes how it treats bytes, for live and new connections."""

    def __init__(self, listen_port: int, target_port: int) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.mode = Link.FORWARD
        self.accepted = 0
        self.reset = 0
        self.held = 0  # bytes read from one side and held back by a stall
        self.lost = 0  # reply bytes discarded
        self.requests = 0  # HTTP requests that reached the receiver
        self.puts = 0  # of which PUT requests (evidence chunks)
        self.corrupted = 0
        self.replies = 0  # HTTP answers the receiver gave (delivered to the sender or not)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="link-proxy")
        self._connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.AbstractServer | None = None

    def __enter__(self) -> LinkProxy:
        self._thread.start()
        self._server = self._call(self._listen())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def set(self, mode: Link) -> None:
        async def apply() -> None:
            self._apply(mode)

        self._call(apply())

    def close(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _listen(self) -> asyncio.AbstractServer:
        self._flowing = asyncio.Event()
        self._flowing.set()
        return await asyncio.start_server(self._accept, LOOPBACK, self.listen_port)

    def _apply(self, mode: Link) -> None:
        assert self._flowing is not None
        self.mode = mode
        if mode is Link.STALL:
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode is Link.DROP:
            for client, upstream in list(self._connections):
                self.reset += 1
                client.transport.abort()
                upstream.transport.abort()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        self._apply(Link.DROP)
        if self._server is not None:
            await self._server.wait_closed()
        # Aborted transports end every pipe; cancel only what is still running after that.
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        _done, pending = await asyncio.wait(tasks, timeout=5) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _accept(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        # The root of a connection's task: a cancellation at shutdown ends it quietly.
        with contextlib.suppress(asyncio.CancelledError):
            await self._connect(client_in, client)

    async def _connect(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode is Link.DROP:
            self.reset += 1
            client.transport.abort()
            return
        try:
            upstream_in, upstream = await asyncio.open_connection(LOOPBACK, self.target_port)
        except OSError:
            client.transport.abort()  # the receiver is down: the sender sees a reset
            return
        pair = (client, upstream)
        self._connections.add(pair)
        try:
            await asyncio.gather(
                self._pipe(client_in, upstream, reply=False),
                self._pipe(upstream_in, client, reply=True),
            )
        finally:
            self._connections.discard(pair)
            client.transport.abort()
            upstream.transport.abort()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, reply: bool
    ) -> None:
        assert self._flowing is not None
        try:
            while data := await source.read(65536):
                if reply and data.startswith(b"HTTP/"):
                    self.replies += 1
                if not self._flowing.is_set():
                    self.held += len(data)
                    await self._flowing.wait()
                    self.held -= len(data)
                if self.mode is Link.DROP:
                    return
                if reply and self.mode is Link.LOSE_REPLIES:
                    self.lost += len(data)
                    continue
                if not reply and data.startswith((b"POST ", b"PUT ")):
                    self.requests += 1
                    self.puts += data.startswith(b"PUT ")
                elif not reply and self.mode is Link.CORRUPT_ONCE:
                    data = data[:-1] + bytes([data[-1] ^ 0x01])
                    self.corrupted += 1
                    self.mode = Link.FORWARD
                sink.write(data)
                await sink.drain()
            # A sender that gave up closes its side; the receiver still gets and answers what
            # was held (a late duplicate), as over a slow path. The receiver's close ends both.
            if reply and sink.can_write_eof():
                sink.write_eof()
        except (ConnectionError, OSError):
            return  # reset by a drop or by either end


def url_port(local: LocalNode) -> int:
    """The port of the node's URL in the signed directory (where its peers connect)."""
    port = urlsplit(local.url).port
    assert port is not None
    return port
