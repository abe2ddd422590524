"""Fixtures of the trace-store contract suite: one migrated database per dialect and session.

PostgreSQL comes from ``ORCH_TEST_DATABASE_URL`` (default: ``root`` on 127.0.0.1:5432); the
suite creates a fresh ``orch_trace_<hex>`` database on that server and drops it afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from orchestrator.trace.migrate import upgrade
from orchestrator.trace.schema import audit_log, jobs, step_runs
from orchestrator.trace.store import TraceStore

DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://root@127.0.0.1:5432/test"


async def _create_postgres_database() -> AsyncIterator[str]:
    base = make_url(os.environ.get("ORCH_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL))
    name = f"orch_trace_{uuid.uuid4().hex[:12]}"
    admin_dsn = base.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """The URL of a database migrated to head; SQLite is a temporary file."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("trace") / "trace.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    async for url in _create_postgres_database():
        # From a thread while this loop runs, as the services call it.
        await asyncio.to_thread(upgrade, url)
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def session_store(database_url: str) -> AsyncIterator[TraceStore]:
    """One store per database for the whole session."""
    store = TraceStore.from_url(database_url, pool_size=2)
    yield store
    await store.close()


@pytest_asyncio.fixture(loop_scope="session")
async def store(session_store: TraceStore) -> TraceStore:
    """The session's store with every table emptied, so each test starts from nothing."""
    async with session_store.engine.begin() as conn:
        for table in (audit_log, step_runs, jobs):
            await conn.execute(table.delete())
    return session_store
