"""A packet-level network between two network namespaces, for kernels without ``netem``.

Run as ``python impair.py NS_A TUN_A NS_B TUN_B CONTROL``. It opens the TUN device
``TUN_A`` inside namespace ``NS_A`` and ``TUN_B`` inside ``NS_B`` (``setns(2)`` per open),
then carries every IP packet from one to the other as ``netem`` would: each is dropped with
probability ``loss``, held for ``delay`` plus up to ``jitter`` seconds (packets overtake each
other: reordering), and all are dropped while ``partition`` is true. The kernels on both
sides run real TCP over it (retransmission, reordering, timeouts). ``CONTROL`` is a JSON file
of those four values, read again whenever it changes. The process stops on SIGTERM.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import sys
import time
from pathlib import Path

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
_LIBC = ctypes.CDLL(None, use_errno=True)


def open_tun(namespace: str, name: str) -> int:
    """The TUN device ``name`` of namespace ``namespace``, opened from inside it."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{namespace}", os.O_RDONLY)
    try:
        if _LIBC.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {namespace}")
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        return fd
    finally:
        _LIBC.setns(own, CLONE_NEWNET)
        os.close(own)
        os.close(target)


def main(ns_a: str, tun_a: str, ns_b: str, tun_b: str, control: str) -> None:
    a, b = open_tun(ns_a, tun_a), open_tun(ns_b, tun_b)
    other = {a: b, b: a}
    rules = {"loss": 0.0, "delay": 0.0, "jitter": 0.0, "partition": False}
    seen_mtime = 0.0
    pending: list[tuple[float, int, int, bytes]] = []  # (due, order, to, packet)
    order = 0
    stop = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    rng = random.Random(int(os.environ.get("IMPAIR_SEED", "2026")))  # noqa: S311 - not crypto
    counts = {"forwarded": 0, "dropped": 0, "reordered": 0}
    stats, reported = Path(control).with_suffix(".stats"), 0.0
    last_order = 0
    while not stop:
        mtime = Path(control).stat().st_mtime
        if mtime != seen_mtime:
            seen_mtime, rules = mtime, {**rules, **json.loads(Path(control).read_text())}
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else 0.05
        readable, _, _ = select.select([a, b], [], [], min(timeout, 0.05))
        for fd in readable:
            while True:
                try:
                    packet = os.read(fd, 65535)
                except BlockingIOError:
                    break
                if rules["partition"] or rng.random() < float(rules["loss"]):
                    counts["dropped"] += 1
                    continue  # lost on the way
                due = (
                    time.monotonic() + float(rules["delay"]) + rng.random() * float(rules["jitter"])
                )
                order += 1
                heapq.heappush(pending, (due, order, other[fd], packet))
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _due, number, to, packet = heapq.heappop(pending)
            counts["forwarded"] += 1
            counts["reordered"] += number < last_order  # overtaken by a later packet
            last_order = max(last_order, number)
            with contextlib.suppress(OSError):  # a full device queue loses it, as congestion
                os.write(to, packet)
        if now - reported > 0.2:
            stats.write_text(json.dumps(counts))
            reported = now


if __name__ == "__main__":
    main(*sys.argv[1:6])
