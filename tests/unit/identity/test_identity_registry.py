"""The States Parties registry inside the steward-signed directory (ADR 0009): signed with it,
refused when forged or inconsistent, and set in a draft by ``accord directory registry``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from accord.demo.cases import REGISTRY
from accord.errors import DirectoryError, DirectoryThresholdNotMet
from accord.identity.directory import draft_bytes, read_document, sign_directory, verify_directory
from accord.identity.registry import read_registry
from accord.jose import b64url_decode, b64url_encode
from accord.requests.validate import load

if TYPE_CHECKING:
    from tests.conftest import World


def registry_data() -> dict[str, Any]:
    return load(REGISTRY)


def signed_payload(world: World, payload: dict[str, Any]) -> bytes:
    signed = json.dumps(payload).encode()
    for kid in ("steward-1", "steward-2"):
        signed = sign_directory(signed, world.steward_keys[kid], kid)
    return signed


def test_a_directory_carries_the_registry_its_stewards_signed(world: World) -> None:
    registry = read_registry(registry_data())
    signed = world.sign(world.document(states_parties=registry))
    directory = verify_directory(signed, trusted=world.stewards, installed=None, now=world.now)
    assert directory.document.states_parties == registry
    assert directory.document.states_parties.in_force_between("VN", "RU", world.now.date())
    # a directory without one keeps its earlier bytes: no states_parties key at all
    assert "states_parties" not in json.loads(draft_bytes(world.document()))


def test_a_registry_changed_after_signing_is_refused(world: World) -> None:
    signed = json.loads(world.sign(world.document(states_parties=read_registry(registry_data()))))
    payload = json.loads(b64url_decode(signed["payload"]))
    ru = next(p for p in payload["states_parties"]["parties"] if p["state"] == "RU")
    ru["reservations"] = []  # drop Russia's reservation, keep the stewards' signatures
    signed["payload"] = b64url_encode(json.dumps(payload).encode())
    with pytest.raises(DirectoryThresholdNotMet):
        verify_directory(
            json.dumps(signed).encode(), trusted=world.stewards, installed=None, now=world.now
        )


def test_a_signed_registry_contradicting_art_65_is_refused(world: World) -> None:
    payload = world.document().json_payload()
    data = registry_data()
    data["parties"][-1]["entry_into_force"] = "2026-01-01"  # not what Art. 65 gives
    payload["states_parties"] = json.loads(json.dumps(data, default=str))
    with pytest.raises(DirectoryError, match="entry_into_force"):
        verify_directory(
            signed_payload(world, payload), trusted=world.stewards, installed=None, now=world.now
        )


def accord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": ""},
    )


def test_directory_registry_sets_it_and_refuses_a_bad_file(world: World, tmp_path: Path) -> None:
    draft = tmp_path / "fed.json"
    draft.write_bytes(draft_bytes(world.document()))
    done = accord("directory", "registry", str(draft), str(REGISTRY))
    assert done.returncode == 0, done.stderr
    assert "States Parties registry v1: 45 States" in done.stdout
    assert read_document(draft.read_bytes()).states_parties == read_registry(registry_data())

    before = draft.read_bytes()
    text = REGISTRY.read_text()
    for name, broken, says in (
        ("unknown", text.replace("version = 1", "version = 1\nsigned_by = 'me'"), "signed_by"),
        ("twice", text.replace('state = "RU"', 'state = "VN"'), "each State appears once"),
    ):
        bad = tmp_path / f"{name}.toml"
        bad.write_text(broken)
        refused = accord("directory", "registry", str(draft), str(bad))
        assert refused.returncode == 2
        assert says in " ".join((refused.stdout + refused.stderr).split())
        assert "Art. 65" in refused.stdout + refused.stderr
    huge = tmp_path / "huge.toml"
    huge.write_text("#" * (1024 * 1024 + 1))
    too_big = accord("directory", "registry", str(draft), str(huge))
    assert too_big.returncode == 2
    assert "too large" in too_big.stdout + too_big.stderr
    assert draft.read_bytes() == before
