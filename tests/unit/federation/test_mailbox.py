"""Reading the mailbox: acknowledging is once per message."""

from __future__ import annotations

from sqlalchemy import func, select

from accord.db.schema import outgoing
from accord.demo.federation import LocalFederation
from accord.envelope.models import Kind
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
