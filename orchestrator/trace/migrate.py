"""Apply the Alembic migrations of ``migrations/`` to a trace database, from code.

These functions are synchronous and run the async ``migrations/env.py`` with ``asyncio.run``, so
they must not be called on a thread whose event loop is running: from async code, use
``await asyncio.to_thread(upgrade, url)``.

The start-up check (:func:`current` against :func:`head`) imports no Alembic: the revision is
read from Alembic's version table (``alembic_version.version_num``, Alembic's documented
storage) and the head is :data:`migrations.HEAD`. Alembic and Mako would stay in every worker's
memory for a check made once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import migrations
from orchestrator.errors import TraceError

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "alembic_version"
"""Alembic's version table (its default name; ``migrations/env.py`` keeps it)."""


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration for ``url`` without reading ``alembic.ini``.

    Args:
        url: An async database URL (``postgresql+asyncpg://`` or ``sqlite+aiosqlite://``).

    Returns:
        A config whose ``script_location`` is the installed ``migrations`` package.
    """
    from alembic.config import Config

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
    from alembic import command

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
            return await conn.run_sync(revision_of)
    finally:
        await engine.dispose()


def head() -> str:
    """The newest revision of ``migrations/`` (what ``orchestrator migrate`` applies):
    :data:`migrations.HEAD`."""
    return migrations.HEAD


def revision_of(connection: Connection) -> str | None:
    """The revision the database of ``connection`` is at, from Alembic's version table
    (``None``: never migrated; several heads, sorted and joined by commas, as :func:`head`).
    """
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    return ",".join(sorted(rows)) or None


def _migrations_dir() -> Path:
    return Path(migrations.__file__).parent


__all__ = ["VERSION_TABLE", "alembic_config", "current", "head", "revision_of", "upgrade"]
