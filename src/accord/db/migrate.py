"""Bring a database to the newest schema with Alembic."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

SCRIPTS = "accord.db:migrations"


def upgrade(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", SCRIPTS)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
