"""``accord demo``: the demonstration federation, run as an operator would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import DEADLINE


@pytest.mark.slow
def test_demo_delivers_and_verifies_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [sys.executable, "-m", "accord", "demo", "--root", str(tmp_path / "demo")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE * 4,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "All delivered and verified" in output
    assert "not delivered" not in output
    # Messages: 1 to ru-gp-ca, 1 to the group's 2 other members, ru's acknowledgement (4).
    # Requests, one message per record or move: preservation 1 + 4 moves; MLA 1 + its link
    # on the preservation + 4 moves + ingest; the hold's close 1; extradition 1 + 4 (18).
    # Alerts: the warning, its update and its cancel to asean-russia's 4 other members, 1 ack
    # (13); the exercise's announcement to 3, 2 injects to 3, 2 acks from 2 of them (13).
    # Intel: the share to asean-russia's 4 other members, the sighting back (5).
    assert "53/53 deliveries with a receipt, 53 receipts verified." in output
    assert {p.name for p in (tmp_path / "demo").iterdir()} == {
        "vn-mps-247",
        "ru-mvd-247",
        "ru-gp-ca",
        "za-doj-ca",
        "vn-moh-ew",
        "reports",
        "vn-cert",
    }
    # Each request ends in the same state on both of its nodes
    assert re.search(r"vn-mps-247: CLOSED, ru-mvd-247: CLOSED", output)
    assert re.search(r"vn-mps-247: DELIVERED_RESTRICTED, ru-gp-ca: DELIVERED_RESTRICTED", output)
    assert re.search(r"vn-mps-247: REFUSED, za-doj-ca: REFUSED", output)
    assert "confirm_hold -> PRESERVED" in output
    assert "link_follow_up -> PRESERVED_PENDING_DECISION" in output
    assert "forward to za-doj-ca refused and audited" in output
    # The MLA's evidence: sealed under the request, received with a verified receipt, opened,
    # and refused for a third State under the reply's use limitation (UNCC Art. 36)
    assert re.search(r"ru-gp-ca sealed 2 files under request \S+ for vn-mps-247", output)
    assert "its signed package receipt verified" in output
    assert "chain of custody: acquired, sealed, sent, received, verified, opened" in output
    assert "sealing that data for za-doj-ca refused and audited" in output
    assert "(UNCC Art. 36)" in output
    # The early warning: Actual, two languages, updated then cancelled on every recipient;
    # the flood exercise's report names the participant that never answered
    assert "vn-mps-247 reads it in vi first" in output
    assert output.count("first superseded, update cancelled; nothing live") == 3
    assert "ru-mvd-247 acknowledged" in output
    assert re.search(r"never answered: ru-gp-ca", output)
    report = (tmp_path / "demo" / "reports" / "mekong-flood-2026.html").read_text()
    assert report.count("EXERCISE") >= 4
    assert "no node lists an exercise message among its live alerts" in output
    # Intel: the campaign under TLP:AMBER to the group, a sighting back, no passing it on
    assert "ru-mvd-247 holds them with vn-cert's signed grant" in output
    assert "it reached the producer vn-cert" in output
    assert "ru-mvd-247 passing it to za-doj-ca refused and audited" in output
    assert _processes_mentioning(str(tmp_path)) == []  # the demo stopped its nodes


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if text in argv:
            found.append(argv)
    return found
