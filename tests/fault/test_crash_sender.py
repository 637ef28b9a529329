"""The sender is killed with SIGKILL while its outbox holds undelivered messages, then
restarted: its durable outbox delivers each message exactly once, and deliveries that were in
flight (state ``sent``, a lease) are attempted again once the lease has run out."""

from __future__ import annotations

from collections import Counter

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
    states,
    url_port,
    wait_until,
)

pytestmark = pytest.mark.slow

# Requests long enough to kill the sender while they hang: lease = request_timeout + 5 s.
LEASED = "request_timeout = 4\nretry_base = 0.05\nretry_max = 1\noutbox_poll = 0.1\n"


def test_sender_killed_with_retrying_outbox_delivers_after_restart(
    make_federation: MakeFederation,
) -> None:
    federation = make_federation(FAST)
    sender, receiver = federation.nodes[SENDER], federation.nodes[RECEIVER]
    sender.start()
    with opened(sender) as node:
        ids = send_notes(Federation(node), RECEIVER, 50, "to a peer that is down")

    def every_delivery_retrying() -> bool:
        rows = query(sender, "SELECT state, attempts, last_error FROM deliveries")
        return len(rows) == 50 and all(
            row["attempts"] >= 1 and str(row["last_error"]).startswith("peer unreachable")
            for row in rows
        )

    wait_until("every delivery to have failed an attempt", every_delivery_retrying)
    sender.kill()
    assert set(states(sender)) <= {"retrying", "sent"}

    receiver.start()
    assert received_count(receiver) == 0  # only the sender's outbox can deliver them
    sender.start()
    wait_until("all 50 deliveries to be delivered", all_delivered(sender, 50))
    assert_exactly_once(sender, receiver, set(ids))


def test_sender_killed_during_attempts_retries_after_the_lease(
    make_federation: MakeFederation,
) -> None:
    federation = make_federation(LEASED)
    sender, receiver = federation.nodes[SENDER], federation.nodes[RECEIVER]
    count = 20
    with LinkProxy(url_port(receiver), free_port()) as link:
        receiver.start(port=link.target_port)
        # The receiver stores each message and answers, but its receipts never come back:
        # the worst moment to die, with the message stored and the sender still waiting.
        link.set(Link.LOSE_REPLIES)
        with opened(sender) as node:
            ids = send_notes(Federation(node), RECEIVER, count, "in flight at the crash")
        sender.start()
        wait_until("the receiver to store every message", lambda: received_count(receiver) == count)
        sender.kill()
        assert link.lost > 0
        leased = {
            row["message_id"]: row
            for row in query(
                sender,
                "SELECT message_id, attempts, next_attempt_at FROM deliveries WHERE state = 'sent'",
            )
        }
        assert leased, f"no delivery was in flight at the kill: {states(sender)}"

        link.set(Link.FORWARD)
        sender.start()
        wait_until(f"all {count} deliveries to be delivered", all_delivered(sender, count))

    assert_exactly_once(sender, receiver, set(ids))
    for row in query(sender, "SELECT message_id, attempts, delivered_at FROM deliveries"):
        before = leased.get(row["message_id"])
        if before is not None:
            assert row["attempts"] > before["attempts"]
            assert row["delivered_at"] >= before["next_attempt_at"]  # not retried inside its lease
    assert Counter(states(sender)) == Counter({"delivered": count})
