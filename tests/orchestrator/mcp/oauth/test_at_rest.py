"""Tokens at rest: encrypted in PostgreSQL and Redis, a wrong or missing key fails clearly, keys
rotate; the token store contract on PostgreSQL and in memory; refresh timing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.errors import ConfigError
from orchestrator.keys import Keys
from orchestrator.mcp.oauth import (
    McpTokenSettings,
    MemoryTokenStore,
    OAuth2Spec,
    SqlTokenStore,
    TokenCipher,
    TokenManager,
    TokenSet,
    TokenStore,
)
from orchestrator.trace.engine import create_engine
from orchestrator.trace.schema import mcp_tokens, metadata
from tests.orchestrator.mcp.oauth.conftest import server_name
from tests.orchestrator.mcp.oauth.servers import AuthlibServer, authlib_server


@pytest.fixture
def idp() -> Iterator[AuthlibServer]:
    with authlib_server(token_lifetime_seconds=600) as running:
        yield running


def _spec(idp: AuthlibServer) -> OAuth2Spec:
    return OAuth2Spec(token_url=idp.token_url, client_id=idp.client_id,
                      client_secret=idp.client_secret)  # fmt: skip


async def _row(engine: AsyncEngine, server: str) -> tuple[bytes, int]:
    query = select(mcp_tokens.c.token, mcp_tokens.c.version).where(mcp_tokens.c.server == server)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).one()
    return bytes(row.token), int(row.version)


async def test_the_stored_row_and_the_cached_copy_hold_ciphertext_only(
    idp: AuthlibServer, managers: Callable[..., TokenManager], engine: AsyncEngine,
    redis: Redis, keys: Keys
) -> None:  # fmt: skip
    name = server_name()
    manager = managers({name: _spec(idp)})
    access = await manager.token(name, None)

    blob, version = await _row(engine, name)
    cached = await redis.get(keys.mcp_token(name, ""))
    assert version == 1
    assert access.encode() not in blob and b"access_token" not in blob
    assert cached is not None and access.encode() not in cached
    assert 0 < await redis.pttl(keys.mcp_token(name, "")) <= 600_000 - 30_000


async def test_a_wrong_key_fails_clearly_with_config_invalid(
    idp: AuthlibServer, managers: Callable[..., TokenManager], redis: Redis, keys: Keys
) -> None:
    name = server_name()
    await managers({name: _spec(idp)}).token(name, None)
    other = managers({name: _spec(idp)}, key=Fernet.generate_key().decode())

    with pytest.raises(ConfigError) as caught:
        await other.token(name, None)  # the Redis copy is a miss, the PostgreSQL row fails

    assert caught.value.code == "config_invalid"
    assert "ORCH_MCP__TOKEN_ENCRYPTION_KEY" in caught.value.message
    assert not await redis.exists(keys.mcp_token(name, ""))


async def test_a_rotated_key_still_reads_old_rows_and_writes_with_the_new_key(
    idp: AuthlibServer, managers: Callable[..., TokenManager], engine: AsyncEngine,
    fernet_key: str, redis: Redis, keys: Keys
) -> None:  # fmt: skip
    name = server_name()
    access = await managers({name: _spec(idp)}).token(name, None)
    await redis.delete(keys.mcp_token(name, ""))
    new_key = Fernet.generate_key().decode()
    rotated = managers({name: _spec(idp)}, key=f"{new_key},{fernet_key}")

    assert await rotated.token(name, None) == access
    await rotated.refresh_after_rejection(name, None, access)
    blob, version = await _row(engine, name)
    assert version == 2
    assert TokenCipher([new_key]).decrypt(blob).access_token != access


def test_without_a_key_the_manager_refuses_to_store_tokens(
    redis: Redis, engine: AsyncEngine
) -> None:
    with pytest.raises(ConfigError) as caught:
        TokenManager.from_settings(McpTokenSettings(), {}, redis=redis, engine=engine)
    assert caught.value.code == "config_invalid"
    assert "ORCH_MCP__TOKEN_ENCRYPTION_KEY" in caught.value.message
    with pytest.raises(ConfigError):
        TokenCipher.from_setting("not-a-fernet-key")


def test_a_token_set_repr_shows_no_secret() -> None:
    tokens = TokenSet(access_token="acc-secret", refresh_token="ref-secret", expires_at=1.0)
    spec = OAuth2Spec(token_url="http://as/token", client_id="c", client_secret="cs-secret")
    assert "secret" not in repr(tokens) and "cs-secret" not in repr(spec)


@pytest.mark.parametrize(
    ("lifetime", "margin"), [(2.0, 1.0), (60.0, 30.0), (3600.0, 30.0)]
)  # fmt: skip
def test_refresh_is_due_at_the_skew_or_half_a_short_lifetime_before_expiry(
    lifetime: float, margin: float
) -> None:
    tokens = TokenSet.from_response({"access_token": "a", "expires_in": lifetime}, now=1000.0)
    assert tokens.refresh_at(30.0, 0.5) == pytest.approx(1000.0 + lifetime - margin)
    assert tokens.fresh(30.0, 0.5, now=1000.0 + lifetime - margin - 0.01)
    assert not tokens.fresh(30.0, 0.5, now=1000.0 + lifetime - margin)


def test_a_token_without_expiry_is_used_until_rejected_and_a_missing_refresh_token_is_kept() -> (
    None
):
    previous = TokenSet(access_token="old", refresh_token="keep")
    tokens = TokenSet.from_response({"access_token": "new"}, previous=previous)
    assert tokens.refresh_at(30.0, 0.5) is None and tokens.fresh(30.0, 0.5)
    assert tokens.refresh_token == "keep"


@pytest_asyncio.fixture(loop_scope="session", params=["memory", "postgresql", "sqlite"])
async def store(request: pytest.FixtureRequest, engine: AsyncEngine) -> AsyncIterator[TokenStore]:
    cipher = TokenCipher([Fernet.generate_key().decode()])
    if request.param == "memory":
        yield MemoryTokenStore()
    elif request.param == "postgresql":
        yield SqlTokenStore(engine, cipher)
    else:  # `orchestrator dev` keeps the trace store in SQLite
        lite = create_engine("sqlite+aiosqlite://")
        async with lite.begin() as conn:
            await conn.run_sync(metadata.create_all)  # tests only; services migrate
        yield SqlTokenStore(lite, cipher)
        await lite.dispose()


async def test_the_store_versions_rows_per_server_and_user(store: TokenStore) -> None:
    name = server_name()
    first = TokenSet(access_token="a1", refresh_token="r1", expires_at=2e9, obtained_at=1e9)
    assert await store.get(name, "") is None
    assert await store.put(name, "", first) == 1
    assert await store.put(name, "", TokenSet(access_token="a2")) == 2
    assert await store.put(name, "u1", first) == 1

    assert await store.get(name, "u1") == first
    assert (await store.get(name, "")) == TokenSet(access_token="a2")
    assert await store.delete(name, "") is True
    assert await store.delete(name, "") is False
    assert await store.get(name, "") is None
