"""A message without a receipt ``delivery_timeout`` after its creation becomes a visible
failure that states the timeout and the last error, and is not attempted again."""

from __future__ import annotations

from collections import Counter

import pytest

from accord.federation.models import DeliveryState
from accord.federation.reading import Mailbox
from accord.federation.service import Federation

from .faultkit import (
    FAST,
    RECEIVER,
    SENDER,
    MakeFederation,
    opened,
    query,
    send_notes,
    states,
    wait_until,
)

pytestmark = pytest.mark.slow
TIMEOUT = FAST + "delivery_timeout = 3\nmessage_max_age = 60\n"


def test_undeliverable_message_fails_visibly_after_the_delivery_timeout(
    make_federation: MakeFederation,
) -> None:
    federation = make_federation(TIMEOUT)
    sender, receiver = federation.nodes[SENDER], federation.nodes[RECEIVER]
    sender.start()  # the receiver is never up while these messages are pending
    with opened(sender) as node:
        doomed = set(send_notes(Federation(node), RECEIVER, 3, "never answered"))
    wait_until("every delivery to fail", lambda: states(sender) == Counter({"failed": 3}))

    with opened(sender) as node:
        shown = Mailbox(Federation(node)).outbox()  # what an operator sees
    assert {d.message_id for d in shown} == doomed
    for delivery in shown:
        assert delivery.state is DeliveryState.FAILED
        assert delivery.recipient == RECEIVER
        assert delivery.attempts >= 2
        assert delivery.receipt is None
        assert delivery.last_error is not None
        assert delivery.last_error.startswith(
            "no valid receipt within 3 s of creation; last error: peer unreachable: "
        ), delivery.last_error

    # Failed is final: with the receiver up, a new message goes through, the failed ones stay.
    receiver.start()
    with opened(sender) as node:
        fresh = send_notes(Federation(node), RECEIVER, 1, "answered")
    wait_until(
        "the new message to be delivered",
        lambda: states(sender) == Counter({"failed": 3, "delivered": 1}),
    )
    received = [row["message_id"] for row in query(receiver, "SELECT message_id FROM incoming")]
    assert received == fresh
