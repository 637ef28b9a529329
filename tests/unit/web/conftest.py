"""Two real nodes in this process (VN and RU, with the States Parties registry, and ZA),
their real apps, and one console account per role on each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from consoles import ACCOUNTS, PASSWORD, RU, VN, Browser, Nodes, start

from accord.web import accounts


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    for made in start(tmp_path):
        for pid in (VN, RU):
            for name, (role, lang) in ACCOUNTS.items():
                accounts.add(made.open[pid], name, role, PASSWORD, lang)
        yield made


@pytest.fixture
def browser(nodes: Nodes) -> Browser:
    return Browser(nodes, VN)
