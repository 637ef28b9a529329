"""The demonstration: authorities on loopback exchange signed, encrypted messages, Convention
requests, an evidence package, and early-warning alerts with a joint exercise."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Row, select

from accord.audit.service import AuditLog
from accord.db.schema import audit_cosignatures, deliveries, incoming, outgoing
from accord.demo import alerts, cases, evidence, intel
from accord.demo.federation import LocalFederation, NodeSpec
from accord.envelope.models import Kind, Priority
from accord.envelope.receipt import verify_receipt
from accord.federation.models import DONE, DeliveryState
from accord.federation.reading import Mailbox
from accord.federation.service import Federation
from accord.identity.models import Role
from accord.identity.registry import read_registry
from accord.node.home import Node
from accord.requests.validate import load

SPECS = [
    NodeSpec(
        "vn-mps-247",
        "Ministry of Public Security, 24/7 point of contact",
        "VN",
        (Role.POC_24X7, Role.LAW_ENFORCEMENT),
        ("vi", "en"),
    ),
    NodeSpec(
        "ru-mvd-247",
        "Ministry of Internal Affairs, 24/7 point of contact",
        "RU",
        (Role.POC_24X7, Role.LAW_ENFORCEMENT),
        ("ru", "en"),
    ),
    NodeSpec(
        "ru-gp-ca",
        "Prosecutor General's Office, central authority",
        "RU",
        (Role.CENTRAL_AUTHORITY,),
        ("ru", "en"),
    ),
    NodeSpec(
        "za-doj-ca",
        "Department of Justice and Constitutional Development, central authority",
        "ZA",
        (Role.CENTRAL_AUTHORITY,),
        ("en",),
    ),
    NodeSpec(
        "vn-moh-ew",
        "Ministry of Health, General Department of Preventive Medicine",
        "VN",
        (Role.EARLY_WARNING,),
        ("vi", "en"),
    ),
    NodeSpec(
        "vn-cert",
        "Viet Nam Computer Emergency Response Team (VNCERT/CC)",
        "VN",
        (Role.CERT,),
        ("vi", "en"),
    ),
]
GROUPS = {
    "hanoi-demo": ("vn-mps-247", "ru-gp-ca", "za-doj-ca"),  # the message exercise
    # early warning from the health agency, intelligence from the CERT
    "asean-russia": ("vn-moh-ew", "vn-cert", "vn-mps-247", "ru-mvd-247", "ru-gp-ca"),
}
SETTINGS = "checkpoint_interval = 1\n"  # the demo shows witnessing within seconds


@dataclass(frozen=True)
class Event:
    at: float
    node: str
    text: str


@dataclass(frozen=True)
class Outcome:
    events: list[Event]
    deliveries: int
    delivered: int
    receipts_verified: int
    failures: list[str]
    audit: list[str] = field(default_factory=list)  # one line per node, after verify-local
    requests: cases.Cases | None = None
    evidence: evidence.Story | None = None
    alerts: alerts.Story | None = None
    intel: intel.Story | None = None

    @property
    def ok(self) -> bool:
        total = self.deliveries
        requests_ok = self.requests is not None and self.requests.ok
        evidence_ok = self.evidence is not None and self.evidence.ok
        alerts_ok = self.alerts is not None and self.alerts.ok
        intel_ok = self.intel is not None and self.intel.ok
        delivered = total > 0 and self.delivered == total == self.receipts_verified
        return requests_ok and evidence_ok and alerts_ok and intel_ok and delivered


def create(root: Path) -> LocalFederation:
    registry = read_registry(load(cases.REGISTRY))
    return LocalFederation.create(root, SPECS, GROUPS, settings_toml=SETTINGS, registry=registry)


def run(federation: LocalFederation, timeout: float = 30.0) -> Outcome:
    """Send one-to-one and group messages, acknowledge one, run the cooperation requests,
    wait, and collect the timeline."""
    opened = {s.id: federation.nodes[s.id].open() for s in SPECS}
    vn, ru, za = (opened[pid] for pid in ("vn-mps-247", "ru-gp-ca", "za-doj-ca"))
    try:
        first = Federation(vn).send(
            "ru-gp-ca",
            Kind.NOTE,
            {
                "subject": "Advance notice: expedited preservation request to follow",
                "text": "Online-fraud case HN-2026-0412: please expect a preservation request "
                "for subscriber and traffic data held by a provider in your territory.",
                "attachments": [],
            },
            Priority.URGENT,
        )
        Federation(za).send(
            "hanoi-demo",
            Kind.NOTE,
            {
                "subject": "Contact details for the joint exercise",
                "text": "Our central authority is reachable on this channel around the clock.",
                "attachments": [],
            },
        )
        _wait_for(lambda: _received(ru, first), timeout)
        Mailbox(Federation(ru)).acknowledge(first)
        requested = cases.run(opened, timeout)
        package = evidence.run(opened, requested.mla, timeout)
        warned = alerts.run(opened, federation.root, timeout)
        shared = intel.run(opened, timeout)
        nodes = list(opened.values())
        _wait_for(lambda: _settled(nodes), timeout)
        _wait_for(lambda: _acknowledged(vn, first), timeout)
        outcome = _collect(nodes)
        audit = [_audit(node, timeout) for node in nodes]
        return replace(
            outcome, audit=audit, requests=requested, evidence=package, alerts=warned, intel=shared
        )
    finally:
        for node in opened.values():
            node.close()


def _audit(node: Node, timeout: float) -> str:
    """Sign a checkpoint, wait for the partners to co-sign it, and recompute the log."""
    audit = AuditLog(node)
    size = audit.checkpoint().checkpoint.size
    witnesses = Federation(node).directory().document.participants
    expected = len(witnesses) - 1
    _wait_for(lambda: len(_cosigners(node, size)) >= expected, timeout)
    records, checkpoints, _ = audit.verify_local()
    cosigners = ", ".join(_cosigners(node, size)) or "nobody yet"
    return (
        f"{node.id}: {records} audit records, checkpoint {size} co-signed by {cosigners}; "
        f"{checkpoints} checkpoints re-verified"
    )


def _cosigners(node: Node, size: int) -> list[str]:
    with node.read_engine.connect() as c:
        rows = c.execute(
            select(audit_cosignatures.c.witness).where(audit_cosignatures.c.size >= size)
        ).scalars()
        return sorted(set(rows))


def _wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.05)


def _received(node: Node, message_id: str) -> bool:
    with node.read_engine.connect() as c:
        query = select(incoming.c.message_id).where(incoming.c.message_id == message_id)
        return c.execute(query).first() is not None


def _settled(nodes: list[Node]) -> bool:
    final = {s.value for s in (*DONE, DeliveryState.FAILED)}
    for node in nodes:
        with node.read_engine.connect() as c:
            if any(row.state not in final for row in c.execute(select(deliveries.c.state))):
                return False
    return True


def _acknowledged(node: Node, message_id: str) -> bool:
    with node.read_engine.connect() as c:
        query = select(deliveries.c.state).where(deliveries.c.message_id == message_id)
        row = c.execute(query).first()
    return row is not None and row.state == DeliveryState.ACKNOWLEDGED.value


def _collect(nodes: list[Node]) -> Outcome:
    """Read every node's database: what it sent, received, and each receipt (re-verified)."""
    events: list[Event] = []
    total = delivered = verified = 0
    failures: list[str] = []
    for node in nodes:
        directory = Federation(node).directory()
        with node.read_engine.connect() as c:
            sent = c.execute(
                select(
                    outgoing.c.message_id,
                    outgoing.c.address,
                    outgoing.c.kind,
                    outgoing.c.created_at,
                    outgoing.c.sha256,
                )
            ).all()
            rows = c.execute(select(deliveries)).all()
            received = c.execute(
                select(
                    incoming.c.message_id,
                    incoming.c.sender,
                    incoming.c.kind,
                    incoming.c.received_at,
                )
            ).all()
        digests = {m.message_id: m.sha256 for m in sent}
        for m in sent:
            events.append(
                Event(
                    m.created_at,
                    node.id,
                    f"{m.kind} {m.message_id[:13]}… signed, encrypted, queued to {m.address}",
                )
            )
        for row in rows:
            total += 1
            if row.state in {s.value for s in DONE}:
                delivered += 1
                verify_receipt(
                    row.receipt,
                    message_id=row.message_id,
                    sha256=digests[row.message_id],
                    receiver=row.recipient,
                    receiver_key=directory.signing_key(row.recipient),
                )
                verified += 1
                latency = (row.delivered_at - _created(sent, row.message_id)) * 1000
                events.append(
                    Event(
                        row.delivered_at,
                        node.id,
                        f"signed receipt from {row.recipient} verified "
                        f"({latency:.0f} ms after creation)",
                    )
                )
            else:
                failures.append(
                    f"{row.message_id} to {row.recipient}: {row.state} {row.last_error or ''}"
                )
            if row.acknowledged_at is not None:
                events.append(
                    Event(
                        row.acknowledged_at,
                        node.id,
                        f"signed acknowledgement from {row.recipient}: opened",
                    )
                )
        for r in received:
            events.append(
                Event(
                    r.received_at,
                    node.id,
                    f"received {r.kind} {r.message_id[:13]}… from {r.sender}, "
                    "verified, stored, receipt signed",
                )
            )
    events.sort(key=lambda e: e.at)
    return Outcome(events, total, delivered, verified, failures)


def _created(sent: Sequence[Row[Any, Any, Any, Any, Any]], message_id: str) -> float:
    return float(next(m.created_at for m in sent if m.message_id == message_id))
