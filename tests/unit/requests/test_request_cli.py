"""``accord request validate`` as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def accord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": ""},
    )


def test_a_valid_file_prints_valid_and_its_type(examples: Path) -> None:
    result = accord("request", "validate", str(examples / "preservation.toml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "valid: preservation request (Art. 42), vn-2026-0042"


def test_an_invalid_file_lists_every_problem_and_exits_non_zero(
    tmp_path: Path, examples: Path
) -> None:
    text = (examples / "mla.toml").read_text()
    lines = [
        line for line in text.splitlines() if not line.startswith(("facts_summary", "purpose"))
    ]
    # user text is data: a field named like rich markup is printed as written
    path = tmp_path / "bad [bold]x[red].toml"
    path.write_text("\n".join(["colour = '[red]'", *lines]))
    result = accord("request", "validate", str(path))
    assert result.returncode == 2
    for field, rule in (
        ("purpose", "required"),
        ("facts_summary", "conditional_required"),
        ("colour", "unknown_field"),
    ):
        row = next(line for line in result.stdout.splitlines() if f" {field} " in line)
        assert rule in row
        assert "Art. 40" in row
    assert "bad [bold]x[red].toml is not a valid request" in result.stderr
    assert "what to do:" in result.stderr


@pytest.mark.parametrize(
    ("content", "says"), [("[1]", "not a table of fields"), ("{", "not valid JSON")]
)
def test_an_unreadable_file_says_why(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    result = accord("request", "validate", str(path))
    assert result.returncode == 2
    assert says in result.stderr
