"""Shared fixtures: real Redis and PostgreSQL (STYLE rule 15).

- Redis: ``ORCH_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/9``); every test that runs
  jobs gets its own key prefix and arq queue name, so tests never see each other's keys.
- PostgreSQL: ``ORCH_TEST_DATABASE_URL`` (default ``postgresql+asyncpg://root@127.0.0.1:5432/test``)
  names the server; the session creates a fresh ``orch_test_<hex>`` database, migrates it with
  Alembic, and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from orchestrator.config import Settings
from orchestrator.trace.migrate import upgrade

pytest_plugins = ["tests.support.llm"]  # llm_server: a local Anthropic/OpenAI wire-format server

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://root@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis server's URL."""
    return os.environ.get("ORCH_TEST_REDIS_URL", DEFAULT_REDIS_URL)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this session, migrated to head."""
    base = make_url(os.environ.get("ORCH_TEST_DATABASE_URL", DEFAULT_DATABASE_URL))
    name = f"orch_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = base.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = base.set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest_asyncio.fixture(loop_scope="session")
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A raw Redis client for assertions on keys."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def isolated_settings(redis_url: str, pg_url: str) -> Callable[..., Settings]:
    """Build :class:`Settings` on the test services with a private key prefix and queue.

    Keyword arguments override sections, e.g. ``isolated_settings(lease={"ttl_seconds": 1})``.
    """
    tag = uuid.uuid4().hex[:10]

    def build(**overrides: Any) -> Settings:
        data: dict[str, Any] = {
            "redis": {"url": redis_url},
            "database": {"url": pg_url},
            "state": {"key_prefix": f"t{tag}"},
            "queue": {"name": f"t{tag}:queue"},
            "worker": {"poll_delay_seconds": 0.02},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return Settings(**data)

    return build


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], *, timeout_seconds: float = 10.0,
    interval_seconds: float = 0.02, what: str = "condition",
) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout_seconds``."""
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout_seconds} s waiting for {what}")
        await asyncio.sleep(interval_seconds)
