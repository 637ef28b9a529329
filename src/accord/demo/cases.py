"""The demo's cooperation requests: an online-fraud investigation under the Hanoi Convention.

Viet Nam's 24/7 point of contact asks the Russian one to preserve account data; the hold is
confirmed for 90 days; the follow-up MLA request for the stored data is linked to it and
executed in part, with a use limitation; the hold then closes. An extradition request to South
Africa is refused with grounds and reasons. Every move is made on the node of the State
entitled to it and reaches the other node as a signed message; the timeline shows each state
change on both sides.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from accord.db.schema import request_events
from accord.errors import OnwardTransferBlocked
from accord.federation.service import Federation
from accord.node.home import Node
from accord.requests.events import Kind, Party, Status
from accord.requests.service import Requests
from accord.requests.validate import load

DATA = Path(__file__).parent / "data"
REGISTRY = DATA / "states-parties.toml"
VN, RU_247, RU_CA, ZA = "vn-mps-247", "ru-mvd-247", "ru-gp-ca", "za-doj-ca"
HOLD = timedelta(days=90)
USE_LIMITATION = "Use only in criminal case VN-C50-2026-117; no onward transfer (UNCC Art. 36)."


@dataclass(frozen=True)
class Step:
    at: float
    node: str
    text: str


@dataclass(frozen=True)
class Cases:
    steps: list[Step]
    final: dict[str, dict[str, Status | None]]  # request -> node -> status
    expected: dict[str, Status]
    notes: list[str]
    mla: str  # the MLA request the evidence package answers

    @property
    def ok(self) -> bool:
        return all(
            set(self.final[rid].values()) == {status} for rid, status in self.expected.items()
        )


def run(nodes: Mapping[str, Node], timeout: float) -> Cases:
    service = {pid: Requests(Federation(node)) for pid, node in nodes.items()}
    vn, ru_247, ru_ca, za = (service[pid] for pid in (VN, RU_247, RU_CA, ZA))

    def wait(pid: str, rid: str, status: Status) -> None:
        _wait_for(lambda: _status(service[pid], rid) is status, timeout, f"{rid} {status} on {pid}")

    # Expedited preservation (Art. 42): the requested State confirms a 90-day hold (>= 60 days)
    preservation = vn.create(load(DATA / "preservation.toml"), RU_247).request_id
    wait(RU_247, preservation, Status.SUBMITTED)
    for kind in (Kind.ACKNOWLEDGE, Kind.BEGIN_ASSESSMENT, Kind.START_EXECUTION):
        ru_247.transition(preservation, kind)
    now = nodes[RU_247].clock.now()
    hold = {"preserved_at": now.isoformat(), "hold_until": (now + HOLD).isoformat()}
    ru_247.reply(preservation, {"outcome": "preserved", **hold})
    wait(VN, preservation, Status.PRESERVED)

    # The follow-up MLA request (Art. 44) names the preservation: the hold has no end date
    # until the MLA is decided (BC 29(7))
    mla_record = load(DATA / "mla_stored_data.toml")
    mla_record |= {
        "related_ids": [preservation],
        "prior_preservation_ref": preservation,
        "linked_preservation_id": preservation,
    }
    mla = vn.create(mla_record, RU_CA).request_id
    wait(RU_247, preservation, Status.PRESERVED_PENDING_DECISION)
    wait(RU_CA, mla, Status.SUBMITTED)
    for kind in (Kind.ACKNOWLEDGE, Kind.BEGIN_ASSESSMENT, Kind.START_EXECUTION):
        ru_ca.transition(mla, kind)
    ru_ca.reply(
        mla,
        {
            "outcome": "partially_executed",
            "executed_items": ["subscriber data and login records of both accounts"],
            "not_executed_items": ["content of stored messages"],
            "reasons": "Content disclosure needs a court order that was not yet granted.",
            "use_limitations": [USE_LIMITATION],
        },
    )
    wait(VN, mla, Status.PARTIALLY_EXECUTED)
    vn.transition(mla, Kind.INGEST)
    notes = []
    try:  # UNCC Art. 36(3): no onward transfer without the supplying State's authorisation
        vn.forward(mla, ZA, "For the extradition file.")
    except OnwardTransferBlocked as error:
        notes.append(f"{VN} forward to {ZA} refused and audited: {error.message}")
    # The Russian 24/7 point of contact learns the MLA was decided: the hold ends
    ru_247.transition(preservation, Kind.DECIDE_FOLLOW_UP)

    # Extradition (Art. 37), refused with grounds and reasons (UNTOC 18(23); UNCC Art. 37)
    extradition = vn.create(load(DATA / "extradition.toml"), ZA).request_id
    wait(ZA, extradition, Status.SUBMITTED)
    for kind in (Kind.ACKNOWLEDGE, Kind.BEGIN_ASSESSMENT, Kind.CONSULT):
        za.transition(extradition, kind)
    za.reply(
        extradition,
        {
            "outcome": "refused",
            "grounds": ["DOMESTIC_PROHIBITION"],
            "reasons": "The person is being prosecuted in South Africa for the same conduct; "
            "surrender is barred while those proceedings are pending. South Africa will inform "
            "Viet Nam of their outcome.",
        },
    )
    expected = {
        preservation: Status.CLOSED,
        mla: Status.DELIVERED_RESTRICTED,
        extradition: Status.REFUSED,
    }
    sides = {preservation: (VN, RU_247), mla: (VN, RU_CA), extradition: (VN, ZA)}
    for rid, status in expected.items():
        for pid in sides[rid]:
            wait(pid, rid, status)
    final = {rid: {pid: _status(service[pid], rid) for pid in sides[rid]} for rid in expected}
    steps = [step for pid in nodes for step in _steps(service[pid], nodes[pid])]
    return Cases(sorted(steps, key=lambda s: s.at), final, expected, notes, mla)


def _steps(service: Requests, node: Node) -> list[Step]:
    """Each state change as this node saw it: when it stored the event, and the status after."""
    steps = []
    for summary in service.summaries():
        shown = service.show(summary.request_id)
        if shown.folded is None:
            continue
        with node.read_engine.connect() as connection:
            stored = {
                (row.actor, row.seq): row.stored_at
                for row in connection.execute(
                    select(request_events).where(request_events.c.request_id == summary.request_id)
                )
            }
        events = {event.id: event for event in shown.events}
        request = shown.request
        states = {
            Party.REQUESTING: request.requesting_state,
            Party.REQUESTED: request.requested_state,
        }
        for event_id, status in shown.folded.trail:
            event = events[event_id]
            details = _details(event.payload)
            steps.append(
                Step(
                    stored[(event_id[0].value, event_id[1])],
                    node.id,
                    f"{summary.type:<15} {summary.request_id[-6:]}  {states[event.actor]} "
                    f"{event.kind} -> {status}{details}",
                )
            )
    return steps


def _details(payload: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in payload.items() if k in ("hold_until", "grounds")}
    limits = len(payload.get("use_limitations", ()))
    text = f"  {json.dumps(shown, ensure_ascii=False)}" if shown else ""
    return text + (f"  ({limits} use limitation)" if limits else "")


def _status(service: Requests, request_id: str) -> Status | None:
    return next((s.status for s in service.summaries() if s.request_id == request_id), None)


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo waited {timeout:.0f} s for {what}")
        time.sleep(0.05)
