"""Alembic environment for the trace store (the standard async template).

The URL comes from the Alembic config's ``sqlalchemy.url`` (set by
:func:`orchestrator.trace.migrate.alembic_config`, or in ``alembic.ini``); if that is empty, from
``ORCH_DATABASE__URL`` through ``orchestrator.config.Settings``. SQLite gets batch mode, since it
cannot ``ALTER`` most of a table in place.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from orchestrator.errors import ConfigError
from orchestrator.trace.schema import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from orchestrator.config import Settings  # lazy: only needed when no URL was given

    configured = Settings().database.url
    if not configured:
        raise ConfigError("no database URL: set sqlalchemy.url or ORCH_DATABASE__URL")
    return configured


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def run_migrations_offline() -> None:
    """Emit the migrations as SQL to stdout (``alembic upgrade --sql``)."""
    url = _database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=_is_sqlite(url),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    """Run the migrations on an async engine, in a sync callback via ``run_sync``."""
    engine = create_async_engine(_database_url(), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
