"""Migrating the `auth` schema (concurrent replicas are serialized inside `upgrade`)."""

from __future__ import annotations

from pathlib import Path

from libs.db.migrate import upgrade
from services.auth.adapters.tables import SCHEMA

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


async def migrate(dsn: str) -> None:
    """Upgrade `auth` to head."""
    await upgrade(dsn, MIGRATIONS_DIR, SCHEMA)
