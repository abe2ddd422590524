"""Build the trace store's SQLAlchemy async engine from a database URL.

PostgreSQL gets a sized, pre-pinged pool. SQLite files get WAL (readers proceed during a write)
and foreign keys, which SQLite leaves off unless each connection asks; an in-memory SQLite
database lives in one connection, so it gets a ``StaticPool`` to keep the schema alive.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from orchestrator.errors import ConfigError

POOL_RECYCLE_SECONDS = 1800
"""Replace pooled PostgreSQL connections after 30 min (below common proxy idle timeouts)."""


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """Create an async engine for ``postgresql+asyncpg://`` or ``sqlite+aiosqlite://`` URLs.

    Args:
        url: The database URL; ``sqlite+aiosqlite://`` (no path) is a private in-memory database.
        pool_size: Connections kept open (PostgreSQL only; SQLite ignores it).
        echo: Log every SQL statement (debugging).

    Returns:
        The engine; no connection is opened until first use.

    Raises:
        ConfigError: The URL is malformed or names a driver that is not installed.
    """
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite":
            # No pool_pre_ping: it costs a round trip on every checkout, i.e. on every job's
            # critical path. A connection the server dropped fails one transaction (a 503 /
            # TraceError that arq or the client retries) and SQLAlchemy then discards the
            # pool's stale connections; recycling bounds a connection's age meanwhile.
            return create_async_engine(
                parsed, pool_size=pool_size, echo=echo, pool_recycle=POOL_RECYCLE_SECONDS
            )
        in_memory = parsed.database in (None, "", ":memory:")
        if in_memory:
            engine = create_async_engine(parsed, echo=echo, poolclass=StaticPool)
        else:
            engine = create_async_engine(parsed, echo=echo)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError("the trace database URL is invalid", details={"error": str(exc)}) from exc
    event.listen(engine.sync_engine, "connect", _memory_pragmas if in_memory else _file_pragmas)
    return engine


def _file_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _memory_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


__all__ = ["create_engine"]
