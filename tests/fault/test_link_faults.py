"""The link between sender and receiver drops, stalls or loses the receiver's answers, then
recovers: delivery resumes and nothing is stored twice, even when a stalled request reaches the
receiver long after the sender gave up on it."""

from __future__ import annotations

import pytest

from accord.demo.federation import free_port
from accord.federation.service import Federation

from .faultkit import (
    FAST,
    RECEIVER,
    SENDER,
    Link,
    LinkProxy,
    MakeFederation,
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
BATCH = 20


@pytest.mark.parametrize("fault", [Link.DROP, Link.STALL, Link.LOSE_REPLIES])
def test_delivery_resumes_after_link_fault_without_duplicates(
    make_federation: MakeFederation, fault: Link
) -> None:
    federation = make_federation(FAST)
    sender, receiver = federation.nodes[SENDER], federation.nodes[RECEIVER]
    with LinkProxy(url_port(receiver), free_port()) as link, opened(sender) as node:
        receiver.start(port=link.target_port)
        sender.start()
        outgoing = Federation(node)
        ids = send_notes(outgoing, RECEIVER, BATCH, "before the fault")
        wait_until("the first batch to be delivered", all_delivered(sender, BATCH))

        link.set(fault)
        during = send_notes(outgoing, RECEIVER, BATCH, "during the fault")
        ids += during

        def attempts_failed() -> bool:
            rows = query(
                sender,
                "SELECT attempts, last_error FROM deliveries WHERE state != 'delivered'",
            )
            return len(rows) == BATCH and all(
                row["attempts"] >= 1 and str(row["last_error"]).startswith("peer unreachable")
                for row in rows
            )

        wait_until(f"every attempt across the {fault.value} link to fail", attempts_failed)
        if fault is Link.DROP:
            assert link.reset > 0
        elif fault is Link.STALL:
            assert link.held > 0
            assert received_count(receiver) == BATCH  # nothing got through
        else:
            # The receiver stored every message, but the sender holds no receipt for them.
            wait_until(
                "the receiver to store the second batch",
                lambda: received_count(receiver) == 2 * BATCH,
            )
            assert link.lost > 0

        link.set(Link.FORWARD)
        ids += send_notes(outgoing, RECEIVER, BATCH, "after recovery")
        wait_until("every delivery to be delivered", all_delivered(sender, 3 * BATCH))
        # Stalled requests are released on recovery and reach the receiver late, as
        # duplicates of messages already delivered by a later attempt.
        wait_until("held bytes to be released", lambda: link.held == 0)
        if fault is not Link.DROP:
            # Every request that reached the receiver was answered, duplicates included.
            wait_until(
                "the receiver to answer every request", lambda: link.replies == link.requests
            )
            assert link.requests > len(ids)  # so duplicates did reach the receiver

    assert_exactly_once(sender, receiver, set(ids))
    attempts = {
        row["message_id"]: row["attempts"]
        for row in query(sender, "SELECT message_id, attempts FROM deliveries")
    }
    assert all(attempts[message_id] >= 2 for message_id in during)
