"""``accord demo``: the three-node demonstration, run as an operator would."""

from __future__ import annotations

import os
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
    # 1 message to ru-gp-ca, 1 to the group's 2 other members, and ru's acknowledgement
    assert "4/4 deliveries with a receipt, 4 receipts verified." in output
    assert {p.name for p in (tmp_path / "demo").iterdir()} == {
        "vn-mps-247",
        "ru-gp-ca",
        "za-doj-ca",
    }
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
