"""The receiver is killed with SIGKILL while messages are in flight, then restarted: each
message ends stored once, byte for byte, and each delivery ends ``delivered``."""

from __future__ import annotations

import pytest

from accord.federation.service import Federation

from .faultkit import (
    FAST,
    RECEIVER,
    SENDER,
    MakeFederation,
    all_delivered,
    assert_exactly_once,
    errors,
    opened,
    query,
    received_count,
    send_notes,
    wait_until,
)

pytestmark = pytest.mark.slow
N = 200


def test_receiver_killed_mid_stream_stores_each_message_once(
    make_federation: MakeFederation,
) -> None:
    federation = make_federation(FAST)
    sender, receiver = federation.nodes[SENDER], federation.nodes[RECEIVER]
    receiver.start()
    sender.start()
    with opened(sender) as node:
        outgoing = Federation(node)
        ids = send_notes(outgoing, RECEIVER, N // 2, "before the crash")
        # Kill as soon as the stream is flowing: the rest of the first half is in flight
        # or queued, and the second half is queued while the receiver is dead.
        wait_until(
            "the first messages to be stored", lambda: received_count(receiver) >= 5, interval=0.01
        )
        receiver.kill()
        stored_at_kill = received_count(receiver)
        ids += send_notes(outgoing, RECEIVER, N - N // 2, "while the receiver is down")
    assert 5 <= stored_at_kill < N
    wait_until(
        "the sender to retry against the dead receiver",
        lambda: any(e.startswith("peer unreachable") for e in errors(sender)),
    )

    receiver.start()
    wait_until(f"all {N} deliveries to be delivered", all_delivered(sender, N), timeout=120)
    assert_exactly_once(sender, receiver, set(ids))
    attempts = [row["attempts"] for row in query(sender, "SELECT attempts FROM deliveries")]
    assert max(attempts) > 1  # the crash was felt: some deliveries needed several attempts
