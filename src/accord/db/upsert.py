"""INSERT ... ON CONFLICT in the dialect of the connection: SQLite and PostgreSQL spell it the
same way (``ON CONFLICT (keys) DO NOTHING | DO UPDATE``), SQLAlchemy builds it per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(connection: Connection, table: Table) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def insert_or_ignore(connection: Connection, table: Table, **values: object) -> None:
    """Insert the row unless one with the same key exists."""
    connection.execute(_insert(connection, table).values(**values).on_conflict_do_nothing())


def insert_or_replace(
    connection: Connection, table: Table, keys: tuple[str, ...], **values: object
) -> None:
    """Insert the row, or overwrite the other columns of the row with the same ``keys``."""
    statement = _insert(connection, table).values(**values)
    changed = {name: value for name, value in values.items() if name not in keys}
    connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=changed))
