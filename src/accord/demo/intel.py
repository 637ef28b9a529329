"""The demo's threat intelligence: Viet Nam's CERT shares an online-fraud campaign (the
campaign, its indicators and infrastructure, TLP:AMBER) with the ASEAN-Russia group; the
Russian 24/7 point of contact reports a sighting, which flows back to the CERT; passing the
campaign on to South Africa, outside the audience, is refused and audited. The data is
fictional (documentation addresses and domains)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from accord.db.schema import intel_objects
from accord.errors import SharingRefused
from accord.federation.service import Federation
from accord.intel.markings import TLP2_IDS, Tlp, participant_identity, tlp_definition
from accord.intel.service import Intel
from accord.node.home import Node

VN_CERT, RU_247, ZA = "vn-cert", "ru-mvd-247", "za-doj-ca"
GROUP = "asean-russia"
NS = uuid.UUID("a3c1e0f2-5b7d-4c9e-8f10-2d3b4c5d6e7f")
AT = "2026-11-20T08:00:00.000Z"


@dataclass(frozen=True)
class Story:
    lines: list[str]
    ok: bool


def _id(kind: str, name: str) -> str:
    return f"{kind}--{uuid.uuid5(NS, name)}"


def campaign() -> list[dict[str, Any]]:
    """The campaign, three indicators, the infrastructure and how they relate."""
    common = {
        "spec_version": "2.1",
        "created": AT,
        "modified": AT,
        "created_by_ref": participant_identity(VN_CERT),
        "object_marking_refs": [TLP2_IDS[Tlp.AMBER]],
    }
    camp = {
        "type": "campaign",
        "id": _id("campaign", "fake-shops"),
        **common,
        "name": "Fake online shops HN-2026-0412",
        "description": "Sham shops take card payments for goods never delivered.",
    }
    infra = {
        "type": "infrastructure",
        "id": _id("infrastructure", "pay-hosts"),
        **common,
        "name": "Payment pages of the fake shops",
        "infrastructure_types": ["phishing"],
    }
    patterns = {
        "domain": "[domain-name:value = 'shop-deals-2026.example']",
        "url": "[url:value = 'https://shop-deals-2026.example/pay']",
        "ip": "[ipv4-addr:value = '198.51.100.23']",
    }
    indicators = [
        {
            "type": "indicator",
            "id": _id("indicator", name),
            **common,
            "name": f"Fake shop {name}",
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": AT,
            "indicator_types": ["malicious-activity"],
            "labels": ["online-fraud"],
        }
        for name, pattern in patterns.items()
    ]
    links = [
        {
            "type": "relationship",
            "id": _id("relationship", f"{i['id']}-indicates"),
            **common,
            "relationship_type": "indicates",
            "source_ref": i["id"],
            "target_ref": camp["id"],
        }
        for i in indicators
    ] + [
        {
            "type": "relationship",
            "id": _id("relationship", "uses-infra"),
            **common,
            "relationship_type": "uses",
            "source_ref": camp["id"],
            "target_ref": infra["id"],
        }
    ]
    return [camp, infra, *indicators, *links]


def run(nodes: Mapping[str, Node], timeout: float) -> Story:
    vn, ru = Intel(Federation(nodes[VN_CERT])), Intel(Federation(nodes[RU_247]))
    objects = campaign()
    ids = [o["id"] for o in objects]
    collection = vn.create_collection("Online fraud", alias="online-fraud", readers=[GROUP])
    vn.add(
        collection.id,
        json.dumps({"objects": [*objects, tlp_definition(Tlp.AMBER)]}).encode(),
        asker=VN_CERT,
    )
    lines = [
        f"{VN_CERT} stored {len(objects)} STIX 2.1 objects (campaign, infrastructure, "
        "3 indicators, 4 relationships), TLP:AMBER, in TAXII collection online-fraud"
    ]
    for _, pid, allowed, why in vn.preview([ids[0]], [GROUP]):
        lines.append(f"  preview: {pid:<11} {'receives' if allowed else 'does not'}: {why}")
    vn.share(ids, GROUP)
    _wait_for(lambda: _holds(nodes[RU_247], ids), timeout)
    lines.append(f"{RU_247} holds them with {VN_CERT}'s signed grant (every hop checked)")
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": _id("sighting", "ru-seen"),
        "created": "2026-11-21T06:30:00.000Z",
        "modified": "2026-11-21T06:30:00.000Z",
        "created_by_ref": participant_identity(RU_247),
        "sighting_of_ref": ids[2],
        "count": 17,
        "first_seen": "2026-11-20T22:00:00Z",
        "last_seen": "2026-11-21T06:00:00Z",
        "object_marking_refs": [TLP2_IDS[Tlp.AMBER]],
    }
    ru.report_sighting(json.dumps(sighting).encode())
    _wait_for(lambda: _holds(nodes[VN_CERT], [sighting["id"]]), timeout)
    lines.append(f"{RU_247} reported a sighting (17 times); it reached the producer {VN_CERT}")
    try:
        ru.share([ids[2]], ZA)
    except SharingRefused as refusal:
        lines.append(f"{RU_247} passing it to {ZA} refused and audited: {refusal.message}")
        held = _holds(nodes[RU_247], ids) and _holds(nodes[VN_CERT], [sighting["id"]])
        return Story(lines, held and not _holds(nodes[ZA], ids[:1]))
    lines.append(f"{RU_247} could pass it to {ZA}: TLP:AMBER was not enforced")
    return Story(lines, False)


def _holds(node: Node, ids: list[str]) -> bool:
    with node.read_engine.connect() as connection:
        found = connection.execute(
            select(intel_objects.c.stix_id).where(intel_objects.c.stix_id.in_(ids))
        ).scalars()
        return set(found) >= set(ids)


def _wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.05)
