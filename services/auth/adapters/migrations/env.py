"""Alembic environment for the `auth` schema (run through libs.db.migrate.upgrade)."""

from libs.db.migrate import run_env
from services.auth.adapters.tables import Base

run_env(Base.metadata)
