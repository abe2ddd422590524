"""Fixtures of the token manager's tests: an encryption key, the trace database's engine and a
factory of TokenManagers on the real Redis and PostgreSQL with a private key prefix."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.keys import Keys
from orchestrator.mcp.oauth import McpTokenSettings, OAuth2Spec, TokenManager
from orchestrator.trace.engine import create_engine


@pytest.fixture
def fernet_key() -> str:
    """A fresh Fernet key."""
    return Fernet.generate_key().decode()


@pytest_asyncio.fixture(loop_scope="session")
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """The session's migrated PostgreSQL database."""
    created = create_engine(pg_url, pool_size=2)
    yield created
    await created.dispose()


@pytest.fixture
def keys() -> Keys:
    """A private key prefix, so tests never share cached tokens or locks."""
    return Keys(f"t{uuid.uuid4().hex[:10]}")


@pytest.fixture
def managers(
    redis: Redis, engine: AsyncEngine, keys: Keys, fernet_key: str
) -> Callable[..., TokenManager]:
    """Build TokenManagers sharing this test's Redis prefix, database and key."""

    def build(specs: Mapping[str, OAuth2Spec], **options: Any) -> TokenManager:
        options.setdefault("http_timeout_seconds", 5.0)
        settings = McpTokenSettings(token_encryption_key=options.pop("key", fernet_key))
        return TokenManager.from_settings(
            settings, specs, redis=redis, engine=engine, keys=keys, **options
        )

    return build


def server_name() -> str:
    """A server name unique to the calling test (rows of the shared table never collide)."""
    return f"srv-{uuid.uuid4().hex[:8]}"
