"""Settings: documented, bounded, and read from the environment and settings.toml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from accord.config import Settings, load_settings
from accord.errors import ConfigError

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"`(ACCORD_[A-Z_]+)`", DOC.read_text(encoding="utf-8")))
    declared = {f"ACCORD_{name.upper()}" for name in Settings.model_fields}
    assert declared - documented == set(), "add these to docs/configuration.md"
    assert documented - declared == set(), "docs/configuration.md names unknown settings"


def test_every_setting_has_help_text() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def test_environment_overrides_the_node_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "settings.toml").write_text("retry_base = 2.0\noutbox_concurrency = 7\n")
    monkeypatch.setenv("ACCORD_OUTBOX_CONCURRENCY", "9")
    settings = load_settings(home=tmp_path)
    assert (settings.retry_base, settings.outbox_concurrency) == (2.0, 9)


@pytest.mark.parametrize(
    ("name", "value"),
    [("max_message_bytes", 10), ("outbox_concurrency", 0), ("retry_max", -1)],
)
def test_out_of_bounds_setting_is_a_config_error_naming_it(name: str, value: int) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(**{name: value})


def test_delivery_timeout_longer_than_replay_window_is_refused() -> None:
    with pytest.raises(ConfigError, match="delivery_timeout"):
        load_settings(delivery_timeout=7200, message_max_age=3600)


def test_incoming_evidence_expiry_not_beyond_the_delivery_timeout_is_refused() -> None:
    with pytest.raises(ConfigError, match="evidence_incoming_expiry must exceed delivery_timeout"):
        load_settings(delivery_timeout=3600, evidence_incoming_expiry=3600)
    assert load_settings(delivery_timeout=3600, evidence_incoming_expiry=3601)


def test_unknown_setting_in_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("retry_bsae = 2.0\n")
    with pytest.raises(ConfigError, match="retry_bsae"):
        load_settings(home=tmp_path)
