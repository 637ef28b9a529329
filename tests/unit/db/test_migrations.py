"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from accord.db.engine import sqlite_engine
from accord.db.migrate import upgrade
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
    assert (version, mode, sync) == ("0005", "wal", 2)  # 2 = FULL: commits reach the disk
