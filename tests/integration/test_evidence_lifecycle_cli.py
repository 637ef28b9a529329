"""``accord evidence open | export | dispose`` end to end, each step its own process on real
node folders: RU opens a package VN sealed to it, exports a verified copy for a court, and
disposes of its own copy; each step is in the chain of custody (checked offline with the
steward set) and in RU's audit log; a disposed package cannot be verified, opened, exported or
sent, and its chain stays readable; a refused step changes nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from accord.demo.federation import LocalFederation, _stewards

from .helpers import RU, VN, ZA, Accord, db_path, query, refused

ACQUISITION = [
    *("--acquired-by", "Lt. Nguyễn Văn An"),
    *("--acquired-at", "2026-11-23T08:15:00Z"),
    *("--method", "logical extraction under warrant 17/2026"),
    *("--tool", "accord-imager 1.2"),
    *("--source", "cloud mailbox of account 42"),
]


def _events(run_stdout: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.split("│")[2:4]]
        for line in run_stdout.splitlines()
        if re.match(r"^│ +\d+ +│", line)
    ]


def test_open_export_and_dispose_are_recorded_and_a_disposed_package_is_spent(
    tmp_path: Path,
) -> None:
    federation = LocalFederation.create(tmp_path / "nodes", [VN, RU, ZA], {})
    stewards = tmp_path / "stewards.json"
    stewards.write_text(_stewards(federation).model_dump_json())
    vn, ru = (str(federation.nodes[p.id].home) for p in (VN, RU))
    accord = Accord(tmp_path, federation.nodes[VN.id].env["ACCORD_PASSPHRASE"])
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "протокол.txt").write_bytes("Biên bản thu giữ\n".encode() * 999)
    sealed, copy, court = tmp_path / "sealed.pkg", tmp_path / "ru.pkg", tmp_path / "court.pkg"
    accord.ok(
        "evidence", "seal", "evidence", "--case", "HN-2026-0042", "--to", RU.id,
        "--out", str(sealed), *ACQUISITION, "--dir", vn,
    )  # fmt: skip
    shutil.copytree(sealed, copy)  # what RU received
    anchor = ["--stewards", str(stewards)]

    opened = accord.ok("evidence", "open", str(copy), "--dir", ru)
    assert "plaintext" in opened.out, opened
    no_purpose, blank_purpose = accord.many(
        ["evidence", "export", str(copy), "--out", str(court), "--dir", ru],
        ["evidence", "export", str(copy), "--out", str(court), "--purpose", "  ", "--dir", ru],
    )
    assert no_purpose.code == 2, no_purpose  # a usage error: the option is required
    assert "--purpose" in no_purpose.out, no_purpose
    refused(blank_purpose, "--purpose must say", "1 to 500 characters")
    assert not court.exists()
    purpose = "Hanoi People's Court, case 42/2026"
    exported = accord.ok(
        "evidence", "export", str(copy), "--out", str(court), "--purpose", purpose, "--dir", ru
    )
    assert f"Verified copy written to {court}" in exported.out, exported
    court_custody = accord.ok("evidence", "custody", str(court), *anchor)
    assert _events(court_custody.stdout) == [
        ["acquired", VN.id], ["sealed", VN.id], ["opened", RU.id], ["exported", RU.id],
    ]  # fmt: skip
    assert purpose in court_custody.out, court_custody
    accord.ok("evidence", "verify", str(court), *anchor)

    unconfirmed = accord.many(
        ["evidence", "dispose", str(copy), "--reason", "retention ended", "--dir", ru]
    )[0]
    refused(unconfirmed, "deletes its files for good", "--yes")
    assert (copy / "files").is_dir()
    reason = "retention period ended (order 17/2026)"
    disposed = accord.ok("evidence", "dispose", str(copy), "--reason", reason, "--yes", "--dir", ru)
    assert f"disposed of by {RU.id}" in disposed.out, disposed
    assert not (copy / "files").exists()

    verify, open_again, export_again, send, custody = accord.many(
        ["evidence", "verify", str(copy), *anchor],
        ["evidence", "open", str(copy), "--dir", ru],
        ["evidence", "export", str(copy), "--out", str(tmp_path / "x"), "--purpose", "p",
         "--dir", ru],
        ["evidence", "send", str(copy), "--to", VN.id, "--dir", ru],
        ["evidence", "custody", str(copy), *anchor],
    )  # fmt: skip
    for run in (verify, open_again, export_again, send):
        refused(run, f"was disposed of by {RU.id}", reason, "its files were deleted")
    assert not (tmp_path / "x").exists()
    assert custody.code == 0, custody
    assert [event for event, _ in _events(custody.stdout)] == [
        "acquired", "sealed", "opened", "exported", "disposed",
    ]  # fmt: skip
    audit = "SELECT action FROM audit_records WHERE action LIKE 'evidence.%' ORDER BY idx"
    assert [row[0] for row in query(db_path(federation.nodes[RU.id]), audit)] == [
        "evidence.opened",
        "evidence.exported",
        "evidence.disposed",
    ]
