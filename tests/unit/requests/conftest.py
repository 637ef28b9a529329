"""Example request files (examples/requests/, one per type) as the tests' valid records."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from nodes import Nodes, start

from accord.identity.registry import Registry, read_registry
from accord.requests.models import RequestType
from accord.requests.validate import load

EXAMPLES = Path(__file__).parents[3] / "examples" / "requests"
Example = Callable[[RequestType], dict[str, Any]]


@cache
def _loaded(kind: RequestType) -> dict[str, Any]:
    return load(EXAMPLES / f"{kind}.toml")


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


@pytest.fixture
def example() -> Example:
    """A fresh, complete and valid record of a type, to change in a test."""
    return lambda kind: copy.deepcopy(_loaded(kind))


RU_IN_FORCE = date(2027, 1, 19)  # RU deposits after the 40th instrument (Art. 65(2))


def registry(*, ru_reservation: bool = False) -> Registry:
    """40 instruments by 2026-09-01 (general entry into force 2026-11-30), VN and ZA among
    them; RU deposits on 2026-12-20, so the Convention binds it from 2027-01-19."""
    early = [
        {"state": chr(65 + i // 26) + chr(65 + i % 26), "name": "fixture", "languages": ["en"],
         "instrument": "ratification", "deposited_on": date(2026, 1, 5) + timedelta(days=5 * i)}
        for i in range(38)
    ]  # fmt: skip
    parties = [
        *early,
        {"state": "VN", "name": "Viet Nam", "languages": ["vi", "en"], "instrument": "ratification",
         "deposited_on": date(2026, 8, 1), "poc_247": "vn-mps-247"},
        {"state": "ZA", "name": "South Africa", "languages": ["en"], "instrument": "ratification",
         "deposited_on": date(2026, 9, 1), "central_authorities": ["za-doj-ca"]},
        {"state": "RU", "name": "Russian Federation", "languages": ["ru", "en"],
         "instrument": "ratification", "deposited_on": date(2026, 12, 20),
         "reservations": ["preservation_dual_criminality"] if ru_reservation else []},
    ]  # fmt: skip
    return read_registry({"version": 1, "parties": parties})


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    """Four real nodes (VN, RU, ZA, BG) in this process, the Convention in force for all."""
    yield from start(tmp_path)
