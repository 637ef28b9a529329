"""Two network namespaces joined by an impaired link, made by the test itself (issue 20).

Each node runs in a namespace of its own with an address of its own (10.231.N.1 and .2),
so the kernels on both sides run real TCP over the link. The link is impaired in one of two
ways, whichever this machine allows:

- ``netem``: a veth pair with ``tc qdisc … netem`` on both ends (loss, delay with jitter,
  which reorders, and 100 % loss for a partition);
- ``tun``: when the kernel has no netem (``CONFIG_NET_SCH_NETEM`` is not set on this
  project's VMs), a TUN device in each namespace and ``impair.py`` between them, which
  applies the same loss, delay, jitter and partition to every IP packet.

:func:`unavailable` says why neither can be made (not root, no ``ip``, namespaces refused);
the test then runs its loopback proxy version and says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from accord.demo.federation import LocalNode
from accord.errors import NodeError

IMPAIR = Path(__file__).with_name("impair.py")
IP = shutil.which("ip") or "/usr/sbin/ip"
STARTUP = 60.0


def _ip(*args: str, namespace: str | None = None) -> subprocess.CompletedProcess[str]:
    prefix = [IP, "netns", "exec", namespace] if namespace else []
    argv = (
        [*prefix, IP, *args]
        if args[0] != "tc"
        else [*prefix, shutil.which("tc") or "tc", *args[1:]]
    )
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _must(*args: str, namespace: str | None = None) -> None:
    done = _ip(*args, namespace=namespace)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "the ip command (Debian package iproute2) is missing"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (CAP_SYS_ADMIN)"
    probe = f"acc-probe-{os.getpid()}"
    made = _ip("netns", "add", probe)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    _ip("netns", "del", probe)
    return None


def netem_missing() -> str | None:
    """Why tc netem cannot be used here, or None when it can."""
    if shutil.which("tc") is None:
        return "the tc command is missing"
    probe = f"acc-netem-{os.getpid()}"
    _must("netns", "add", probe)
    try:
        _must("link", "add", "nprobe0", "type", "veth", "peer", "name", "nprobe1", namespace=probe)
        done = _ip("tc", "qdisc", "add", "dev", "nprobe0", "root", "netem", "loss", "1%",
                   namespace=probe)  # fmt: skip
        return None if done.returncode == 0 else f"tc netem: {done.stderr.strip()}"
    finally:
        _ip("netns", "del", probe)


@dataclass
class Network:
    """Namespaces ``<tag>a`` and ``<tag>b``, addresses ``a`` and ``b``, one impaired link."""

    tag: str
    mode: str
    why: str
    a: str = ""
    b: str = ""
    control: Path | None = None
    impairer: subprocess.Popen[bytes] | None = None
    devices: tuple[str, str] = ("", "")
    made: list[str] = field(default_factory=list)

    @property
    def namespaces(self) -> tuple[str, str]:
        return f"{self.tag}a", f"{self.tag}b"

    def impair(
        self, *, loss: float = 0.0, delay: float = 0.0, jitter: float = 0.0, partition: bool = False
    ) -> None:
        """Apply to both directions of the link from now on."""
        if self.mode == "tun":
            assert self.control is not None
            rules = {"loss": loss, "delay": delay, "jitter": jitter, "partition": partition}
            staged = self.control.with_suffix(".new")
            staged.write_text(json.dumps(rules | {"at": time.monotonic_ns()}))
            staged.replace(self.control)
            return
        for namespace, device in zip(self.namespaces, self.devices, strict=True):
            netem = ["loss", "100%"] if partition else ["loss", f"{loss * 100:g}%"]
            if delay or jitter:  # a jitter wider than the gap between packets reorders them
                netem += ["delay", f"{delay * 1000:g}ms", f"{jitter * 1000:g}ms"]
            _must("tc", "qdisc", "replace", "dev", device, "root", "netem", *netem,
                  namespace=namespace)  # fmt: skip

    def start(self, node: LocalNode, namespace: str) -> None:
        """``accord serve`` for ``node`` inside ``namespace``, once it answers there."""
        node.log_path = node.home / "serve.log"
        with node.log_path.open("ab") as log:
            node.process = subprocess.Popen(
                [IP, "netns", "exec", namespace, sys.executable, "-m", "accord", "serve",
                 "--dir", str(node.home)],
                env=node.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        probe = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)"
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            if node.process.poll() is not None:
                raise NodeError(f"{node.spec.id} exited at start; see {node.log_path}")
            health = [sys.executable, "-c", probe, node.url + "/federation/v1/health"]
            ready = subprocess.run([IP, "netns", "exec", namespace, *health],
                                   capture_output=True, timeout=30, check=False)  # fmt: skip
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise NodeError(f"{node.spec.id} did not answer in {namespace} within {STARTUP} s")

    def impaired(self) -> dict[str, int]:
        """Packets dropped (and, with impair.py, forwarded and reordered) so far."""
        if self.mode == "tun":
            assert self.control is not None
            stats = self.control.with_suffix(".stats")
            return json.loads(stats.read_text()) if stats.exists() else {}
        dropped = 0
        for namespace, device in zip(self.namespaces, self.devices, strict=True):
            shown = _ip("tc", "-s", "qdisc", "show", "dev", device, namespace=namespace).stdout
            dropped += sum(int(w) for w in re.findall(r"dropped (\d+)", shown))
        return {"dropped": dropped}

    def close(self) -> None:
        if self.impairer is not None:
            self.impairer.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.impairer.wait(timeout=10)
            if self.impairer.poll() is None:
                self.impairer.kill()
        for namespace in self.made:
            _ip("netns", "del", namespace)


def _addresses(net: Network, subnet: int) -> None:
    net.a, net.b = f"10.231.{subnet}.1", f"10.231.{subnet}.2"


def _veth(net: Network) -> None:
    ns_a, ns_b = net.namespaces
    net.devices = ("acc0", "acc1")
    _must("link", "add", "acc0", "type", "veth", "peer", "name", "acc1", namespace=ns_a)
    _must("link", "set", "acc1", "netns", ns_b, namespace=ns_a)
    for namespace, device, mine in ((ns_a, "acc0", net.a), (ns_b, "acc1", net.b)):
        _must("addr", "add", f"{mine}/24", "dev", device, namespace=namespace)
        _must("link", "set", device, "up", namespace=namespace)


def _tun(net: Network, folder: Path) -> None:
    ns_a, ns_b = net.namespaces
    net.devices = ("acct0", "acct1")
    for namespace, device, mine, peer in ((ns_a, "acct0", net.a, net.b),
                                          (ns_b, "acct1", net.b, net.a)):  # fmt: skip
        _must("tuntap", "add", "dev", device, "mode", "tun", namespace=namespace)
        _must("addr", "add", mine, "peer", peer, "dev", device, namespace=namespace)
        _must("link", "set", device, "up", namespace=namespace)
    net.control = folder / "impair.json"
    net.control.write_text("{}")
    log = (folder / "impair.log").open("ab")
    argv = [sys.executable, str(IMPAIR), ns_a, "acct0", ns_b, "acct1", str(net.control)]
    net.impairer = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    log.close()


@contextlib.contextmanager
def network(folder: Path, subnet: int = 7) -> Iterator[Network]:
    """The two namespaces and their link; everything is removed on exit."""
    missing = netem_missing()
    mode, why = ("tun", f"no netem ({missing}): packets are impaired by impair.py") if missing \
        else ("netem", "tc netem on a veth pair")  # fmt: skip
    net = Network(f"acc{os.getpid() % 100000}", mode, why)
    _addresses(net, subnet)
    try:
        for namespace in net.namespaces:
            _must("netns", "add", namespace)
            net.made.append(namespace)
            _must("link", "set", "lo", "up", namespace=namespace)
        if mode == "netem":
            _veth(net)
        else:
            _tun(net, folder)
        yield net
    finally:
        net.close()


def kill_all(nodes: Sequence[LocalNode]) -> None:
    for node in nodes:
        node.kill()
