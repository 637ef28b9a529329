"""Reading the mailbox: acknowledging is once per message."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from accord.db.schema import incoming, outgoing
from accord.demo.federation import LocalFederation
from accord.envelope.models import Kind
from accord.errors import StorageError
from accord.federation.outbox import RETRYABLE_CODES
from accord.federation.reading import Mailbox
from accord.federation.service import Federation


def test_acknowledging_twice_sends_one_ack(local_federation: LocalFederation) -> None:
    vn = local_federation.nodes["vn-mps-247"].open()
    ru = local_federation.nodes["ru-gp-ca"].open()
    try:
        message_id = Federation(vn).send("ru-gp-ca", Kind.NOTE, {"subject": "s", "text": "t"})
        with vn.read_engine.connect() as c:
            wire = c.execute(select(outgoing.c.wire)).scalar_one()
        Federation(ru).receive(wire)
        first = Mailbox(Federation(ru)).acknowledge(message_id)
        second = Mailbox(Federation(ru)).acknowledge(message_id)
        with ru.read_engine.connect() as c:
            acks = c.execute(select(func.count()).select_from(outgoing)).scalar_one()
    finally:
        vn.close()
        ru.close()
    assert first == second
    assert acks == 1


def test_a_kind_no_service_looks_at_is_refused_retryably_and_not_stored(
    local_federation: LocalFederation,
) -> None:
    """A request message received where the request service is not running would be stored
    and never processed: it is refused with a retryable error instead, and nothing is kept."""
    vn = local_federation.nodes["vn-mps-247"].open()
    ru = local_federation.nodes["ru-gp-ca"].open()
    try:
        Federation(vn).send("ru-gp-ca", Kind.REQUEST, {"request": {}, "events": []})
        with vn.read_engine.connect() as c:
            wire = c.execute(select(outgoing.c.wire)).scalar_one()
        with pytest.raises(StorageError, match="cannot take request messages") as refused:
            Federation(ru).receive(wire)
        with ru.read_engine.connect() as c:
            stored = c.execute(select(func.count()).select_from(incoming)).scalar_one()
    finally:
        vn.close()
        ru.close()
    assert refused.value.code in RETRYABLE_CODES  # the sender's outbox tries again
    assert stored == 0
