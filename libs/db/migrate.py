"""Run a service's Alembic chain against its own schema.

Each service keeps `adapters/migrations/` with an env.py that calls `run_env()`; the version
table lives in the service's schema, so services migrate independently in one database.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, text

from libs.db.engine import create_engine


def _config(script_location: Path, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["schema"] = schema
    return cfg


async def upgrade(dsn: str, script_location: Path, schema: str, revision: str = "head") -> None:
    """Create the schema if needed and upgrade it to `revision`, in one transaction."""
    engine = create_engine(dsn, pool_size=1)
    try:
        async with engine.begin() as conn:
            # Serialize concurrent migrators of the same schema (several replicas starting);
            # the lock comes first, or two CREATE SCHEMAs race on pg_namespace.
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))

            def run(sync_conn: Connection) -> None:
                cfg = _config(script_location, schema)
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, revision)

            await conn.run_sync(run)
    finally:
        await engine.dispose()


def run_env(target_metadata: MetaData | None = None) -> None:
    """Body of every migrations/env.py: run on the connection `upgrade()` passed in."""
    cfg = context.config
    connection: Connection = cfg.attributes["connection"]
    schema: str = cfg.attributes["schema"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
    )
    with context.begin_transaction():
        context.run_migrations()
