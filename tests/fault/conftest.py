"""Fixtures of the fault tests: two real nodes whose processes are always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.demo.federation import LocalFederation

from .faultkit import PAIR, MakeFederation


@pytest.fixture
def make_federation(tmp_path: Path) -> Iterator[MakeFederation]:
    """Build a two-node federation (sender vn-mps-247, receiver ru-gp-ca) with the given
    settings.toml; every node process a test starts is killed at teardown."""
    made: list[LocalFederation] = []

    def make(settings_toml: str) -> LocalFederation:
        federation = LocalFederation.create(
            tmp_path / f"federation-{len(made)}",
            list(PAIR),
            {"pair": tuple(spec.id for spec in PAIR)},
            settings_toml=settings_toml,
        )
        made.append(federation)
        return federation

    try:
        yield make
    finally:
        for federation in made:
            for node in federation.nodes.values():
                node.kill()
