"""Delivery between real nodes across a real, impaired network (issue 20): 30 % packet loss,
delay with jitter that reorders packets, and a partition that heals. Everything sent is
delivered after healing, and nothing is stored twice.

The two nodes run in network namespaces the test makes (``netkit``), with netem when the
kernel has it and a packet-level impairer otherwise. Where namespaces cannot be made at all,
the test says why and runs the loopback proxy version of the partition instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from accord.demo.federation import LocalFederation, free_port
from accord.federation.service import Federation

from . import netkit
from .faultkit import (
    PAIR,
    RECEIVER,
    SENDER,
    Link,
    LinkProxy,
    all_delivered,
    assert_exactly_once,
    opened,
    query,
    received_count,
    send_notes,
    url_port,
    wait_until,
)

pytestmark = pytest.mark.slow
BATCH = 25
# request_timeout covers TCP's retransmissions under 30 % loss (SYN retries at 1 s, 3 s)
SETTINGS = "request_timeout = 6\nretry_base = 0.1\nretry_max = 2\noutbox_poll = 0.1\n" \
    "checkpoint_interval = 86400\n"  # fmt: skip
LOSSY = {"loss": 0.30, "delay": 0.030, "jitter": 0.040}  # jitter > gap between packets
HEAL_DEADLINE = 240.0


def test_delivery_across_loss_reordering_and_a_partition_that_heals(tmp_path: Path) -> None:
    reason = netkit.unavailable()
    if reason is not None:
        print(f"network namespaces cannot be made here ({reason}): running the loopback "
              "proxy version of the partition instead")  # fmt: skip
        _loopback_partition(tmp_path)
        return
    with netkit.network(tmp_path) as net:
        print(f"network namespaces {net.namespaces}, link by {net.why}")
        urls = {SENDER: f"http://{net.a}:8701", RECEIVER: f"http://{net.b}:8702"}
        federation = LocalFederation.create(
            tmp_path / "nodes", list(PAIR), {"pair": (SENDER, RECEIVER)}, SETTINGS, urls=urls
        )
        sender, receiver = federation.nodes[SENDER], federation.nodes[RECEIVER]
        try:
            net.start(receiver, net.namespaces[1])
            net.start(sender, net.namespaces[0])
            _across(net, sender, receiver)
        finally:
            netkit.kill_all((sender, receiver))


def _across(net: netkit.Network, sender: netkit.LocalNode, receiver: netkit.LocalNode) -> None:
    with opened(sender) as node:
        outgoing = Federation(node)
        net.impair(**LOSSY)
        ids = send_notes(outgoing, RECEIVER, BATCH, "over a lossy, reordering link")
        wait_until("the batch sent over the lossy link", all_delivered(sender, BATCH),
                   timeout=HEAL_DEADLINE)  # fmt: skip
        lossy = wait_until("the impairer's count", net.impaired, timeout=5)
        print(f"over the lossy link: {lossy}")
        assert lossy["dropped"] > 0  # the link really lost packets
        if net.mode == "tun":
            assert lossy["reordered"] > 0  # and delivered some out of order

        net.impair(partition=True)
        ids += send_notes(outgoing, RECEIVER, BATCH, "during the partition")

        def retrying() -> bool:
            rows = query(sender, "SELECT attempts FROM deliveries WHERE state != 'delivered'")
            return len(rows) == BATCH and all(row["attempts"] >= 2 for row in rows)

        wait_until("every delivery across the partition to be retried", retrying)
        assert received_count(receiver) == BATCH  # nothing crossed the partition
        net.impair(**LOSSY)  # the partition heals to the lossy link
        ids += send_notes(outgoing, RECEIVER, BATCH, "after healing")
        wait_until("everything after healing", all_delivered(sender, 3 * BATCH),
                   timeout=HEAL_DEADLINE)  # fmt: skip
    net.impair()
    time.sleep(1)  # answers still in flight arrive; none may store a message twice
    print(f"in all: {net.impaired()}")
    assert_exactly_once(sender, receiver, set(ids))


def _loopback_partition(tmp_path: Path) -> None:
    """The same partition through the loopback proxy: the link drops, then heals."""
    federation = LocalFederation.create(
        tmp_path / "nodes", list(PAIR), {"pair": (SENDER, RECEIVER)}, SETTINGS
    )
    sender, receiver = federation.nodes[SENDER], federation.nodes[RECEIVER]
    try:
        with LinkProxy(url_port(receiver), free_port()) as link, opened(sender) as node:
            receiver.start(port=link.target_port)
            sender.start()
            outgoing = Federation(node)
            ids = send_notes(outgoing, RECEIVER, BATCH, "before the partition")
            wait_until("the first batch", all_delivered(sender, BATCH))
            link.set(Link.DROP)
            ids += send_notes(outgoing, RECEIVER, BATCH, "during the partition")
            time.sleep(3)
            assert received_count(receiver) == BATCH
            link.set(Link.FORWARD)
            wait_until("everything after healing", all_delivered(sender, 2 * BATCH))
        assert_exactly_once(sender, receiver, set(ids))
    finally:
        netkit.kill_all((sender, receiver))
