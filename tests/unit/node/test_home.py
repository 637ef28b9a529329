"""Creating a node folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.errors import NodeError
from accord.identity.models import Role
from accord.node.home import Identity, init_node

IDENTITY = Identity("vn-x", "X", "VN", (Role.CERT,), ("en",), "http://127.0.0.1:1")


def test_short_passphrase_leaves_no_folder_behind(tmp_path: Path) -> None:
    home = tmp_path / "node"
    with pytest.raises(NodeError, match="shorter than 8"):
        init_node(home, IDENTITY, "short")
    assert not home.exists()


def test_a_node_folder_is_never_initialised_twice(tmp_path: Path) -> None:
    init_node(tmp_path, IDENTITY, "long enough passphrase")
    before = sorted(p.name for p in (tmp_path / "keys").iterdir())
    keys = (tmp_path / "keys" / before[0]).read_bytes()
    with pytest.raises(NodeError, match="already holds a node"):
        init_node(tmp_path, IDENTITY, "long enough passphrase")
    assert (tmp_path / "keys" / before[0]).read_bytes() == keys
