"""Serve several nodes from one process: ``python serve_many.py NODE_DIR...``.

The alert fan-out benchmark runs its 50 recipient nodes as 5 such processes of 10 nodes each
(50 interpreters would spend the 2 cores on imports and start-up gossip). Each node is its own
app (``accord.app.create_app``), its own database, keys and port, served by its own uvicorn
server in one event loop, exactly as ``accord serve`` builds it but without the sending
workers (``deliver=False``): a recipient answers with its signed receipt synchronously and
sends nothing, so nothing it would do is left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from accord.app import create_app
from accord.clock import SystemClock
from accord.config import load_settings
from accord.federation.service import Federation
from accord.node.home import Node


class _Server(uvicorn.Server):
    """One of several servers in a process: the process's SIGTERM stops them all (below)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def main(homes: list[Path]) -> None:
    passphrase = os.environ["ACCORD_PASSPHRASE"]
    servers: list[uvicorn.Server] = []
    for home in homes:
        node = Node.open(load_settings(home=home), SystemClock(), passphrase)
        host, port = node.identity.listen
        config = uvicorn.Config(
            create_app(Federation(node)),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        servers.append(_Server(config))

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    await asyncio.gather(*(server.serve() for server in servers))


if __name__ == "__main__":
    asyncio.run(main([Path(arg) for arg in sys.argv[1:]]))
