"""Bring a database schema to the newest migration, programmatically."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
#: Any fixed number: PostgreSQL advisory lock that serialises concurrent migrations.
_MIGRATION_LOCK = 0x7153A001


def migrate(engine: Engine) -> None:
    """Upgrade to head in one transaction. On PostgreSQL several processes starting at once
    queue on an advisory lock, so exactly one of them creates the schema."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
