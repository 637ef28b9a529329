"""The demo's evidence package: the Russian central authority answers Viet Nam's MLA request
with the subscriber data it produced, as a sealed package under the request; Viet Nam's node
receives it chunk by chunk and signs a receipt, opens it, and cannot seal the same data for
South Africa, because Russia's reply set a use limitation (UNCC Art. 36). The data is
fictional."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from accord.envelope.core import sha256_hex
from accord.errors import OnwardTransferBlocked
from accord.evidence.inbound import Inbound
from accord.evidence.models import Acquisition
from accord.evidence.package import Package
from accord.evidence.seal import collect
from accord.evidence.service import Evidence, Transfer
from accord.evidence.transfer import verify_receipt
from accord.evidence.verify import read_custody
from accord.federation.service import Federation
from accord.node.home import Node

VN, RU_CA, ZA = "vn-mps-247", "ru-gp-ca", "za-doj-ca"
FILES = {  # fictional records, in the shape a provider would produce them
    "subscriber-data.csv": "account,name_given,registered_at,phone\n"
    "shop.deals.2026@example.org,Ivan I.,2025-12-01T10:22:00Z,+7-900-000-0000\n",
    "login-records.csv": "account,ip,port,at\n"
    + "".join(
        f"shop.deals.2026@example.org,198.51.100.{n},{40000 + n},2026-10-{n:02d}T08:00:00Z\n"
        for n in range(1, 29)
    ),
}


@dataclass(frozen=True)
class Story:
    lines: list[str]
    ok: bool


def run(nodes: Mapping[str, Node], mla: str, timeout: float) -> Story:
    ru, vn = Evidence(nodes[RU_CA]), Evidence(nodes[VN])
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="accord-evidence-") as folder:
        work = Path(folder)
        source = work / "production-order-results"
        source.mkdir()
        for name, text in FILES.items():
            (source / name).write_text(text, encoding="utf-8")
        acquisition = Acquisition(
            acquired_by="Prosecutor General's Office, cybercrime department",
            acquired_at=nodes[RU_CA].clock.now(),
            method=f"production order to the provider, executing request {mla}",
            tool="provider's export (CSV)",
            source="Example Mail LLC (fictional provider)",
        )
        sealed = work / "package"
        manifest = ru.seal(
            collect([source]),
            case="VN-C50-2026-117",
            to=[VN],
            acquisition=acquisition,
            use_limitations=(),
            out=sealed,
            progress=lambda _: None,
            request_id=mla,
        )
        lines.append(
            f"{RU_CA} sealed {len(manifest.files)} files under request {mla} for {VN}, "
            f"with its reply's use limitation: package {manifest.package_id}"
        )
        ru.send(Package(sealed), [VN])
        transfer = _delivered(ru, manifest.package_id, timeout)
        if transfer is None or transfer.receipt is None:
            return Story([*lines, f"package not delivered to {VN} within {timeout:.0f} s"], False)
        receipt = verify_receipt(
            transfer.receipt.encode("ascii"),
            ru.keys(),
            package_id=manifest.package_id,
            manifest_sha256=sha256_hex(Package(sealed).manifest_token()),
            receiver=VN,
        )
        lines.append(
            f"{VN} received it in {receipt.chunks} chunks, each checked against the signed "
            "manifest; its signed package receipt verified"
        )
        received = Package(Inbound(Federation(nodes[VN])).received(manifest.package_id))
        vn.open(received, lambda _: None)
        events = [r.event.value for r in read_custody(received, vn.keys())[1]]
        lines.append(f"{VN} opened it; its chain of custody: {', '.join(events)}")
        vn.extract(received, work / "extracted", lambda _: None)
        try:
            vn.seal(
                collect([work / "extracted" / source.name]),
                case="VN-C50-2026-117",
                to=[ZA],
                acquisition=acquisition,
                use_limitations=(),
                out=work / "onward",
                progress=lambda _: None,
            )
        except OnwardTransferBlocked as error:
            lines.append(f"{VN} sealing that data for {ZA} refused and audited: {error.message}")
            return Story(lines, ok=events[-1] == "opened")
        lines.append(f"{VN} could seal that data for {ZA}: UNCC Art. 36 was not enforced")
        return Story(lines, ok=False)


def _delivered(service: Evidence, package_id: str, timeout: float) -> Transfer | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for transfer in service.transfers():
            if transfer.package_id == package_id and transfer.state == "delivered":
                return transfer
        time.sleep(0.05)
    return None
