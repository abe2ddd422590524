"""Apply the Alembic migrations of ``migrations/`` to a trace database, from code.

These functions are synchronous and run the async ``migrations/env.py`` with ``asyncio.run``, so
they must not be called on a thread whose event loop is running: from async code, use
``await asyncio.to_thread(upgrade, url)``.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import migrations
from orchestrator.errors import TraceError


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration for ``url`` without reading ``alembic.ini``.

    Args:
        url: An async database URL (``postgresql+asyncpg://`` or ``sqlite+aiosqlite://``).

    Returns:
        A config whose ``script_location`` is the installed ``migrations`` package.
    """
    config = Config()
    config.set_main_option("script_location", str(_migrations_dir()))
    # ConfigParser interpolates '%', which URL-encoded passwords contain.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``.

    Args:
        url: An async database URL; the database itself must exist.
        revision: The target revision id, or ``"head"``.

    Raises:
        TraceError: The database could not be reached or a migration failed.
    """
    try:
        command.upgrade(alembic_config(url), revision)
    except (SQLAlchemyError, OSError) as exc:
        raise TraceError(
            "trace database migration failed", details={"error": type(exc).__name__}
        ) from exc


def current(url: str) -> str | None:
    """Return the revision the database at ``url`` is at, or ``None`` if it was never migrated.

    Raises:
        TraceError: The database could not be reached.
    """
    try:
        return asyncio.run(_current(url))
    except (SQLAlchemyError, OSError) as exc:
        raise TraceError(
            "could not read the trace database revision", details={"error": type(exc).__name__}
        ) from exc


async def _current(url: str) -> str | None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_revision_of)
    finally:
        await engine.dispose()


@functools.cache
def head() -> str:
    """The newest revision of ``migrations/`` (what ``orchestrator migrate`` applies)."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(str(_migrations_dir())).get_heads()
    return ",".join(sorted(heads))


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _migrations_dir() -> Path:
    return Path(migrations.__file__).parent


__all__ = ["alembic_config", "current", "head", "upgrade"]
