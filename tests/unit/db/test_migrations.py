"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from accord.db.engine import sqlite_engine
from accord.db.migrate import SCRIPTS, upgrade
from accord.db.schema import metadata


def test_migrations_match_declared_schema(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "a.db", writer=True)
    upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "a.db", writer=True)
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    engine.dispose()
    assert (version, mode, sync) == ("0010", "wal", 2)  # 2 = FULL: commits reach the disk


def test_incoming_transfers_from_before_0006_count_as_active_since_their_offer(
    tmp_path: Path,
) -> None:
    engine = sqlite_engine(tmp_path / "a.db", writer=True)
    config = Config()
    config.set_main_option("script_location", SCRIPTS)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        connection.exec_driver_sql(
            "INSERT INTO evidence_inbound (package_id, sender, manifest_sha256, custody, state,"
            " chunks_total, bytes_total, offered_at) VALUES"
            " ('p1', 'vn', 'ab', '', 'receiving', 3, 10, 1700000000.5)"
        )
    upgrade(engine)
    with engine.connect() as connection:
        active_at = connection.exec_driver_sql("SELECT active_at FROM evidence_inbound").scalar()
    engine.dispose()
    assert active_at == 1700000000.5
