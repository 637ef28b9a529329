"""Fixtures of the alert tests: the in-process ASEAN-Russia federation and the CAP samples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alert_nodes import federation

from unit.requests.nodes import Nodes

SAMPLES = Path(__file__).parents[2] / "data" / "cap"


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    yield from federation(tmp_path)


@pytest.fixture
def samples() -> Path:
    return SAMPLES
