"""The trace store's plumbing: the engine, and connections that turn driver errors into TraceError."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self

from sqlalchemy import text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orchestrator.errors import TraceError
from orchestrator.trace.engine import create_engine
from orchestrator.trace.records import (
    parse_uuid,
)
from orchestrator.trace.schema import jobs
from orchestrator.types import JobId


@functools.cache
def _store_errors() -> tuple[type[Exception], ...]:
    """The errors that mean the database or its driver failed: SQLAlchemy's, the socket's, and
    asyncpg's own, raised by statements sent on its raw connection (:mod:`orchestrator.trace.
    direct`, :mod:`orchestrator.trace.copy`), which SQLAlchemy does not wrap. Resolved only once
    an error propagates: a SQLite store never imports asyncpg."""
    import asyncpg

    return (SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class StoreBase:
    """The engine of a trace store and its connection helpers; the query classes extend it.

    Args:
        engine: An async engine whose database is migrated to ``head``; the store owns it.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10, echo: bool = False) -> Self:
        """Build a store on a new engine (see :func:`orchestrator.trace.engine.create_engine`).

        Args:
            url: ``postgresql+asyncpg://...``, ``sqlite+aiosqlite:///path.db``, or
                ``sqlite+aiosqlite://`` for a private in-memory database.
            pool_size: Connections kept open (PostgreSQL only; ignored for SQLite).
            echo: Log every SQL statement (debugging).

        Returns:
            A store; no connection is opened until the first query.

        Raises:
            ConfigError: The URL is malformed or names a driver that is not installed.
        """
        return cls(create_engine(url, pool_size=pool_size, echo=echo))

    @property
    def engine(self) -> AsyncEngine:
        """The underlying async engine (for health checks and tests)."""
        return self._engine

    async def close(self) -> None:
        """Close every pooled connection; the store must not be used afterwards."""
        await self._engine.dispose()

    async def ping(self) -> None:
        """Run ``SELECT 1``.

        Raises:
            TraceError: The database cannot be reached.
        """
        async with self._transaction("ping") as conn:
            await conn.execute(text("SELECT 1"))

    async def revision(self) -> str | None:
        """The Alembic revision the database is at (``None``: never migrated).

        Raises:
            TraceError: The database cannot be reached.
        """
        from orchestrator.trace.migrate import revision_of

        async with self._transaction("revision") as conn:
            return await conn.run_sync(revision_of)

    async def _update_job(self, operation: str, job_id: JobId, **values: Any) -> None:
        key = parse_uuid(job_id)
        if key is None:
            return
        async with self._transaction(operation) as conn:
            await conn.execute(update(jobs).where(jobs.c.id == key).values(**values))

    @asynccontextmanager
    async def _autocommit(self, operation: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                yield auto
        except _store_errors() as exc:
            raise TraceError(
                f"trace store {operation} failed",
                details={"operation": operation, "error": type(exc).__name__},
            ) from exc

    @asynccontextmanager
    async def _connection(self, operation: str) -> AsyncIterator[AsyncConnection]:
        """A pooled connection on which nothing begins a transaction (for statements sent by
        the driver itself: :mod:`orchestrator.trace.direct`)."""
        try:
            async with self._engine.connect() as conn:
                yield conn
        except _store_errors() as exc:
            raise TraceError(
                f"trace store {operation} failed",
                details={"operation": operation, "error": type(exc).__name__},
            ) from exc

    @asynccontextmanager
    async def _transaction(self, operation: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.begin() as conn:
                yield conn
        except _store_errors() as exc:
            raise TraceError(
                f"trace store {operation} failed",
                details={"operation": operation, "error": type(exc).__name__},
            ) from exc



__all__ = ["StoreBase"]
