"""Evidence in the console: a package sent by this node opened and verified (decrypted with
the node's key, every file checked against the signed manifest), the opening recorded in
the custody chain and the audit log; a package held elsewhere is not found."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from consoles import RU, VN, Browser, Nodes
from sqlalchemy import select

from accord.db.schema import audit_records
from accord.evidence.models import Acquisition
from accord.evidence.package import Package
from accord.evidence.seal import collect
from accord.evidence.service import Evidence

ACQUISITION = Acquisition(
    acquired_by="Capt. Nguyen Van A",
    acquired_at=datetime(2026, 11, 23, 8, 15, tzinfo=UTC),
    method="logical copy of a mailbox export",
    tool="FTK Imager 4.7.1",
    source="Example Telecom mail server",
)


def test_a_sent_package_is_opened_and_its_custody_shown(nodes: Nodes, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "mailbox.mbox").write_bytes(b"From: a@example\n\nhello <script>\n")
    evidence = Evidence(nodes.open[VN])
    out = tmp_path / "package"
    manifest = evidence.seal(
        collect([files]),
        case="VN-C50-2026-117",
        to=[RU],
        acquisition=ACQUISITION,
        use_limitations=(),
        out=out,
        progress=lambda _: None,
    )
    evidence.send(Package(out), [RU])
    vu = Browser(nodes, VN)
    vu.login("vu")
    listed = vu.get("/console/evidence")
    assert manifest.package_id in listed.text
    opened = vu.post(f"/console/evidence/{manifest.package_id}/open", {})
    assert opened.status_code == 200, opened.text[:2000]
    assert "mailbox.mbox" in opened.text
    assert manifest.files[0].sha256 in opened.text
    assert "opened" in opened.text  # the custody record this opening added
    with nodes.open[VN].read_engine.connect() as connection:
        actions = (
            connection.execute(
                select(audit_records.c.action).where(
                    audit_records.c.object_id == manifest.package_id
                )
            )
            .scalars()
            .all()
        )
    assert "evidence.opened" in actions
    auditor = Browser(nodes, VN)
    auditor.login("aud")  # reads, never decrypts
    assert auditor.post(f"/console/evidence/{manifest.package_id}/open", {}).status_code == 403
    ru = Browser(nodes, RU)
    ru.login("olga")
    assert ru.post(f"/console/evidence/{manifest.package_id}/open", {}).status_code == 404
