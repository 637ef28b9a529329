"""Both States' nodes converge: hypothesis has VN and RU make random moves (allowed or not) on
one request through their services, while the messages between them are delivered in random
orders, some twice, some late. After settling, both nodes show the same state, the same applied
events and the same rejections, and no node ever stored a state §8.4 forbids."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from flows import iso, jsonable
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st
from nodes import RU, VN, Nodes, record, start
from sqlalchemy import select
from test_request_convergence import forbidden, next_kind, payloads

from accord.db.schema import requests
from accord.errors import AccordError, RequestNotFound
from accord.requests.events import Kind, Party, RequestState, Status
from accord.requests.machine import Case
from accord.requests.validate import validate

PARTY = {VN: Party.REQUESTING, RU: Party.REQUESTED}
MAX_IN_FLIGHT = timedelta(days=2)  # within the envelopes' 3-day window (created_outside_window)
KINDS = ["preservation", "preservation-oral", "mla", "mla_real_time_traffic"]


@contextmanager
def running() -> Iterator[Nodes]:
    with tempfile.TemporaryDirectory() as root:
        yield from start(Path(root))


def new_request(nodes: Nodes, kind: str) -> str:
    changes: dict[str, Any] = {"receiving_authority": RU}
    if kind == "preservation-oral":
        kind = "preservation"
        changes["oral_origin"] = {"date": iso(nodes.clock.now() - timedelta(hours=1))}
    if kind == "mla":
        changes["confidentiality"] = {"request_fact_and_substance": True}
    data = jsonable(record(kind, **changes))
    return nodes.requests(VN).create(data, RU).request_id


def stored_states_allowed(nodes: Nodes) -> None:
    """Every state any node stored is one the machine may reach (the §8.4 oracle)."""
    for pid in (VN, RU):
        service = nodes.requests(pid)
        registry = service.registry()
        with nodes.open[pid].read_engine.connect() as connection:
            rows = connection.execute(select(requests).where(requests.c.status.is_not(None)))
            for row in rows:
                state = RequestState.model_validate_json(row.folded)
                assert row.status == state.status.value
                case = Case(validate(json.loads(row.record)), registry)
                assert forbidden(case, state) == [], (pid, state)


def make_move(nodes: Nodes, data: st.DataObject, pid: str, rid: str) -> None:
    service = nodes.requests(pid)
    try:
        shown = service.show(rid)
    except RequestNotFound:  # RU cannot move before the request reaches it
        tally("not yet arrived")
        return
    assert shown.folded is not None
    kind = next_kind(data, shown.folded.state, PARTY[pid])
    payload = data.draw(st.sampled_from(payloads(kind, nodes.clock.now())), label=f"{kind}")
    try:
        if kind is Kind.FORWARD:
            service.forward(rid, str(payload["recipient"]))
        else:
            service.transition(rid, kind, payload)
    except AccordError as error:  # refused locally: nothing is sent
        tally(f"refused locally: {error.code}")
    else:
        tally(f"made: {kind}")


# Each example starts four nodes (about a second): few examples, and no shrinking (a failing
# example is reported as found).
@settings(
    max_examples=15,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_two_nodes_converge_whatever_the_delivery_order(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(KINDS), label="type")
    with running() as nodes:
        rid = new_request(nodes, kind)
        delivered: list[tuple[str, bytes]] = []
        quiet = nodes.clock.now()
        for _ in range(data.draw(st.integers(10, 45), label="steps")):
            action = data.draw(
                st.sampled_from([VN, RU, VN, RU, "deliver", "deliver", "replay", "wait"])
            )
            if action in PARTY:
                make_move(nodes, data, action, rid)
            elif action == "deliver" and (pending := nodes.pending()):
                # a random selection in a random order: some left for later, some twice
                order = data.draw(
                    st.lists(st.integers(0, len(pending) - 1), max_size=2 * len(pending)),
                    label="order",
                )
                for answer in nodes.deliver(order):
                    assert answer.status_code in (200, 202), answer.text
                delivered += [(pending[i][0], pending[i][2]) for i in order]
            elif action == "replay" and delivered:
                recipient, wire = data.draw(st.sampled_from(delivered), label="replayed")
                answer = nodes.post(recipient, wire)
                assert answer.status_code == 200, answer.text
                assert answer.json()["duplicate"] is True
            elif action == "wait":
                days = data.draw(st.sampled_from([0.25, 1, 31, 61]), label="days")
                if nodes.clock.now() + timedelta(days=days) - quiet > MAX_IN_FLIGHT:
                    nodes.settle()  # envelopes older than 3 days are refused: what is in
                    quiet = nodes.clock.now()  # flight arrives before a long wait
                nodes.advance(days=days)
            if not nodes.pending():
                quiet = nodes.clock.now()  # whatever is queued from now on is newer
            stored_states_allowed(nodes)
        nodes.settle()
        stored_states_allowed(nodes)

        at_vn, at_ru = (nodes.requests(pid).show(rid) for pid in (VN, RU))
        assert at_vn.folded is not None
        assert at_ru.folded is not None
        assert at_vn.folded.state == at_ru.folded.state
        assert at_vn.folded.applied == at_ru.folded.applied
        assert at_vn.folded.rejected == at_ru.folded.rejected
        assert at_vn.folded.pending == at_ru.folded.pending == ()
        assert at_vn.events == at_ru.events
        assert at_vn.summary.status == at_ru.summary.status == at_vn.folded.state.status
        tally(f"{kind} ended {at_vn.folded.state.status}")
        tally(f"rejections: {bool(at_vn.folded.rejected)}")
        if at_vn.folded.state.status not in {Status.SUBMITTED}:
            tally("moved beyond submission")
