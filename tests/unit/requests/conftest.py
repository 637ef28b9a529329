"""Example request files (examples/requests/, one per type) as the tests' valid records."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

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
