"""Real nodes in this process for alert tests: an ASEAN-Russia early-warning federation (a
health agency, two early-warning agencies with declared areas, a 24/7 point of contact), plus
a participant outside the group; each with its database, keys, directory and real HTTP app.
Messages go from a sender's outbox table to the recipient's app when a test says so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from accord.alerts.drills import Drills
from accord.alerts.service import Alerts
from accord.demo.federation import NodeSpec
from accord.envelope.models import Kind
from accord.envelope.receipt import REFUSAL_HEADER
from accord.federation.outbox import Outbox
from accord.federation.service import Federation
from accord.federation.transport import MEDIA_TYPE, MESSAGES_PATH, PeerResponse, TransportFailure
from accord.identity.areas import AreaOfInterest, Geocode
from accord.identity.models import Role
from unit.requests.nodes import Nodes, start

MOH, RPN, MPS, DDPM, ZA = "vn-moh-ew", "ru-rpn-ew", "vn-mps-247", "th-ddpm-ew", "za-doj-ca"
EW = (Role.EARLY_WARNING,)
# Primorsky Krai (Vladivostok) and Thailand, roughly; a geocode for Thailand as a whole
PRIMORYE = AreaOfInterest(
    name="Primorsky Krai", polygons=("48.5,130.5 48.5,139.0 42.3,139.0 42.3,130.5 48.5,130.5",)
)
THAILAND = AreaOfInterest(
    name="Thailand",
    polygons=(
        "20.5,97.3 20.5,101.0 17.5,105.7 14.0,105.7 11.5,102.9 5.6,101.0 5.6,97.3 20.5,97.3",
    ),
    geocodes=(Geocode(value_name="ISO3166-1", value="TH"),),
)
SPECS = [
    NodeSpec(MOH, "Ministry of Health, Viet Nam", "VN", EW, ("vi", "en")),
    NodeSpec(RPN, "Rospotrebnadzor", "RU", EW, ("ru", "en"), (PRIMORYE,)),
    NodeSpec(MPS, "Ministry of Public Security, 24/7", "VN", (Role.POC_24X7,), ("vi", "en")),
    NodeSpec(
        DDPM, "Department of Disaster Prevention, Thailand", "TH", EW, ("th", "en"), (THAILAND,)
    ),
    NodeSpec(ZA, "South Africa CA", "ZA", (Role.CENTRAL_AUTHORITY,), ("en",)),
]
GROUPS = {"asean-russia": (MOH, RPN, MPS, DDPM)}
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
KINDS = (Kind.ALERT.value, Kind.EXERCISE.value)
# The Mekong delta, which meets none of the declared areas
MEKONG = "10.9,104.4 10.9,106.8 9.0,106.8 9.0,104.4 10.9,104.4"
# A box over the Thai-Lao border at the Mekong, which meets Thailand's area
NONG_KHAI = "18.2,102.5 18.2,103.2 17.6,103.2 17.6,102.5 18.2,102.5"


def federation(root: Path, at: datetime = T0) -> Iterator[Nodes]:
    yield from start(root, specs=SPECS, groups=GROUPS, kinds=KINDS, at=at)


def alerts(nodes: Nodes, pid: str) -> Alerts:
    return Alerts(Federation(nodes.open[pid]))


def drills(nodes: Nodes, pid: str) -> Drills:
    return Drills(alerts(nodes, pid))


def epidemic(**changes: Any) -> dict[str, Any]:
    """A cross-border epidemic warning in English and Vietnamese (CAP fields)."""
    area = {"areaDesc": "Mekong delta", "polygon": [MEKONG]}
    expires = (T0 + timedelta(days=2)).isoformat()
    info = {
        "category": ["Health"],
        "urgency": "Expected",
        "severity": "Severe",
        "certainty": "Likely",
        "expires": expires,
        "area": [area],
    }
    fields: dict[str, Any] = {
        "status": "Actual",
        "scope": "Public",
        "info": [
            {
                **info,
                "language": "en",
                "event": "Avian influenza A(H5N1)",
                "headline": "H5N1 cases in poultry in the Mekong delta",
                "description": "Laboratory-confirmed H5N1 in three poultry farms.",
                "instruction": "Strengthen border surveillance of poultry movements.",
            },
            {
                **info,
                "language": "vi",
                "event": "Cúm gia cầm A(H5N1)",
                "headline": "Ca H5N1 ở gia cầm tại đồng bằng sông Cửu Long",
            },
        ],
    }
    fields.update(changes)
    return fields


class AppTransport:
    """The outbox's peer transport, handing each envelope to the recipient's in-process app
    (real routes, real receipts), unless the recipient is ``down``."""

    def __init__(self, nodes: Nodes, down: frozenset[str] = frozenset()) -> None:
        self._nodes = nodes
        self._down = down

    async def post_message(self, base_url: str, wire: bytes) -> PeerResponse:
        [pid] = [p for p, local in self._nodes.local.nodes.items() if local.url == base_url]
        if pid in self._down:
            raise TransportFailure(f"{pid} is down")
        answer = await self._nodes.apps[pid].post(
            MESSAGES_PATH, content=wire, headers={"content-type": MEDIA_TYPE}
        )
        return PeerResponse(answer.status_code, answer.content, answer.headers.get(REFUSAL_HEADER))

    async def close(self) -> None:
        return None


def deliver(nodes: Nodes, down: frozenset[str] = frozenset(), rounds: int = 5) -> None:
    """Run every node's real outbox until nothing more is due (receipts stored, failures
    recorded); a recipient in ``down`` is unreachable."""

    async def drain() -> None:
        transport = AppTransport(nodes, down)
        for _ in range(rounds):
            for node in nodes.open.values():
                await Outbox(Federation(node), transport).drain()

    asyncio.run(drain())
