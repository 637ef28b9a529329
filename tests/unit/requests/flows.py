"""Driving requests between the test nodes through their operator API, and looking at what
each node holds: the helpers the node-level request tests share."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from nodes import RU, VN, Nodes, record
from sqlalchemy import func, select

from accord.db.schema import (
    audit_records,
    deliveries,
    incoming,
    outgoing,
    request_events,
    request_links,
    requests,
)
from accord.envelope.models import Kind as MessageKind
from accord.envelope.models import Priority
from accord.federation.service import Federation

PATH = "/api/v1/requests"
ERROR_KEYS = {"code", "message", "advice", "errors"}


def iso(moment: datetime) -> str:
    return moment.isoformat()


def jsonable(value: Any) -> Any:
    """A record loaded from TOML (dates, datetimes) as the JSON an operator would send."""

    def default(item: Any) -> str:
        if isinstance(item, date | datetime):
            return item.isoformat()
        raise TypeError(type(item))

    return json.loads(json.dumps(value, default=default))


def rec(kind: str, to: str, **changes: Any) -> dict[str, Any]:
    """An example record of ``kind`` addressed to participant ``to``, as JSON."""
    changes.setdefault("receiving_authority", to)
    result: dict[str, Any] = jsonable(record(kind, **changes))
    return result


def post_request(nodes: Nodes, frm: str, to: str, data: dict[str, Any]) -> httpx.Response:
    return nodes.api(frm).post(PATH, json={"to": to, "request": data})


def create(nodes: Nodes, kind: str, frm: str = VN, to: str = RU, **changes: Any) -> str:
    """Create a request through ``frm``'s API and deliver it; its id."""
    answer = post_request(nodes, frm, to, rec(kind, to, **changes))
    assert answer.status_code == 201, answer.text
    nodes.settle()
    rid: str = answer.json()["request_id"]
    return rid


def move(
    nodes: Nodes, pid: str, rid: str, event: str, payload: dict[str, Any] | None = None
) -> httpx.Response:
    return nodes.api(pid).post(
        f"{PATH}/{rid}/events", json={"event": event, "payload": payload or {}}
    )


def shown(nodes: Nodes, pid: str, rid: str) -> dict[str, Any]:
    answer = nodes.api(pid).get(f"{PATH}/{rid}")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def agreed(nodes: Nodes, rid: str, pids: tuple[str, str] = (VN, RU)) -> dict[str, Any]:
    """Both nodes of a request hold the same state, events and rejections; that state."""
    first, second = (shown(nodes, pid, rid) for pid in pids)
    for key in ("status", "state", "events", "rejected", "pending"):
        assert first[key] == second[key], (key, first[key], second[key])
    assert first["role"] != second["role"]
    state: dict[str, Any] = first["state"]
    return state


def step(
    nodes: Nodes,
    pid: str,
    rid: str,
    event: str,
    payload: dict[str, Any] | None = None,
    *,
    pids: tuple[str, str] = (VN, RU),
) -> dict[str, Any]:
    """Make a move that must succeed, deliver it, and check the other node followed."""
    answer = move(nodes, pid, rid, event, payload)
    assert answer.status_code == 200, answer.text
    nodes.settle()
    state = agreed(nodes, rid, pids)
    assert state["status"] == answer.json()["status"]
    return state


def hold(nodes: Nodes, days: float = 60) -> dict[str, str]:
    now = nodes.clock.now()
    return {"preserved_at": iso(now), "hold_until": iso(now + timedelta(days=days))}


def executing(nodes: Nodes, rid: str, by: str = RU, pids: tuple[str, str] = (VN, RU)) -> None:
    """The requested State takes the request from SUBMITTED into IN_EXECUTION."""
    for event in ("acknowledge", "begin_assessment", "start_execution"):
        step(nodes, by, rid, event, pids=pids)


def preserved(nodes: Nodes, frm: str = VN, to: str = RU, **changes: Any) -> str:
    """A preservation request from ``frm`` held by ``to`` for 60 days from now."""
    rid = create(nodes, "preservation", frm, to, **changes)
    executing(nodes, rid, to, (frm, to))
    state = step(nodes, to, rid, "confirm_hold", hold(nodes), pids=(frm, to))
    assert state["status"] == "PRESERVED"
    return rid


def consulting(nodes: Nodes, rid: str, by: str = RU, pids: tuple[str, str] = (VN, RU)) -> None:
    for event in ("acknowledge", "begin_assessment", "consult"):
        step(nodes, by, rid, event, pids=pids)


def refused(  # noqa: PLR0917
    answer: httpx.Response, status: int, code: str, field: str, rule: str, article: str | None
) -> dict[str, Any]:
    """The answer is the one error shape, refusing for ``rule`` on ``field`` under ``article``."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == ERROR_KEYS, body
    assert body["code"] == code, body
    assert body["message"]
    assert body["advice"]
    assert {"field": field, "rule": rule, "article": article} in [
        {k: e[k] for k in ("field", "rule", "article")} for e in body["errors"]
    ], body["errors"]
    return body


# What the nodes hold -------------------------------------------------------------------------


def world(nodes: Nodes, pids: Iterable[str] | None = None) -> dict[str, Any]:
    """Everything request-related every node holds: compare before and after a refusal."""
    out = {}
    for pid in pids or nodes.open:
        with nodes.open[pid].read_engine.connect() as connection:
            out[pid] = {
                "requests": connection.execute(select(requests).order_by("request_id")).all(),
                "events": connection.execute(
                    select(request_events).order_by("request_id", "actor", "seq")
                ).all(),
                "links": connection.execute(select(request_links).order_by("request_id")).all(),
                "outgoing": connection.execute(
                    select(outgoing.c.message_id).order_by("message_id")
                ).all(),
                "deliveries": connection.execute(
                    select(deliveries.c.message_id, deliveries.c.recipient)
                ).all(),
                "incoming": connection.execute(
                    select(incoming.c.message_id).order_by("message_id")
                ).all(),
                "audit": audit(nodes, pid),
            }
    return out


def audit(nodes: Nodes, pid: str) -> list[tuple[str, str]]:
    with nodes.open[pid].read_engine.connect() as connection:
        rows = connection.execute(
            select(audit_records.c.action, audit_records.c.object_id).order_by("idx")
        ).all()
    return [(row.action, row.object_id) for row in rows]


def count(nodes: Nodes, pid: str, table: Any) -> int:
    with nodes.open[pid].read_engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def craft(
    nodes: Nodes, sender: str, recipient: str, kind: MessageKind, body: dict[str, Any]
) -> bytes:
    """A message ``sender`` really signs and seals for ``recipient`` with any body; it is not
    left for ``Nodes.deliver`` (the test posts it itself)."""
    node = nodes.open[sender]
    job, message_id = Federation(node).prepare(recipient, kind, body, Priority.ROUTINE)
    node.writer.run(job)
    nodes.delivered.add((recipient, message_id))
    with node.read_engine.connect() as connection:
        wire = connection.execute(
            select(outgoing.c.wire).where(outgoing.c.message_id == message_id)
        ).scalar_one()
    assert isinstance(wire, bytes)
    return wire


def queued(nodes: Nodes, sender: str, kind: MessageKind) -> list[tuple[str, bytes]]:
    """(recipient, wire) of the messages of ``kind`` queued on ``sender``."""
    with nodes.open[sender].read_engine.connect() as connection:
        rows = connection.execute(
            select(deliveries.c.recipient, outgoing.c.wire)
            .join(deliveries, deliveries.c.message_id == outgoing.c.message_id)
            .where(outgoing.c.kind == kind.value)
        ).all()
    return [(row.recipient, row.wire) for row in rows]
