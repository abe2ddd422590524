"""Two worker processes share one refresh: 20 concurrent MCP calls across a token's expiry make
the authorization server see exactly one refresh-token request (DESIGN §14).

Real parts: the tests' authlib authorization server (rotating refresh tokens, so a second
redemption of the same refresh token would fail), an MCP SDK streamable-HTTP server that
introspects the token on every request, Redis and PostgreSQL shared by two separate Python
processes, each with its own TokenManager.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.keys import Keys
from orchestrator.mcp.oauth import OAuth2Spec, TokenManager
from orchestrator.trace.schema import mcp_tokens
from tests.conftest import wait_until
from tests.e2e.conftest import ROOT
from tests.orchestrator.mcp.oauth.conftest import engine, fernet_key, keys, managers, server_name
from tests.orchestrator.mcp.oauth.servers import authlib_server, mcp_server

pytestmark = pytest.mark.e2e
__all__ = ["engine", "fernet_key", "keys", "managers"]  # fixtures shared with the unit tests

READY_TIMEOUT_SECONDS = 60.0
CALLS_PER_WORKER = 10
LOGIN_TOKEN_LIFETIME_SECONDS = 2
"""The login's token is due for refresh after 1 s: the 20 calls start at that point."""
REFRESHED_TOKEN_LIFETIME_SECONDS = 120
"""The refreshed token stays fresh for 60 s, so however slowly a loaded machine runs the 20
calls, one refresh is all they need; a second would be a race the lock let through."""


async def _start_worker(config: dict[str, object]) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.orchestrator.mcp.oauth.token_worker", json.dumps(config),
        cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_SECONDS)
    assert line, f"worker exited with {await proc.wait()}"
    return line.decode().strip()


async def test_two_worker_processes_and_twenty_calls_across_an_expiry_cause_one_refresh(
    managers: Callable[..., TokenManager], redis: Redis, keys: Keys, engine: AsyncEngine,
    redis_url: str, pg_url: str, fernet_key: str
) -> None:  # fmt: skip
    with (
        authlib_server(token_lifetime_seconds=LOGIN_TOKEN_LIFETIME_SECONDS) as idp,
        mcp_server(idp.verify) as protected,
    ):
        name = server_name()
        spec = OAuth2Spec(token_url=idp.token_url, client_id=idp.client_id,
                          client_secret=idp.client_secret, grant="refresh_token")  # fmt: skip
        await managers({name: spec}).store_refresh_token(name, None, idp.issue_refresh_token("w"))
        idp.lifetime_seconds = REFRESHED_TOKEN_LIFETIME_SECONDS
        config = {
            "redis_url": redis_url, "database_url": pg_url, "key": fernet_key,
            "prefix": keys.prefix, "server": name, "mcp_url": protected.url,
            "calls": CALLS_PER_WORKER,
            "spec": {"token_url": spec.token_url, "client_id": spec.client_id,
                     "client_secret": spec.client_secret, "grant": spec.grant},
        }  # fmt: skip
        workers = [await _start_worker(config) for _ in range(2)]
        try:
            assert [await _line(w) for w in workers] == ["ready", "ready"]
            # the login's token is due for refresh once its cached copy lapses (half its life)
            cache_key = keys.mcp_token(name, "")
            await wait_until(
                lambda: _gone(redis, cache_key), timeout_seconds=30, what="the token to fall due"
            )
            before = idp.token_requests["refresh_token"]

            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write(b"go\n")
                await worker.stdin.drain()
            results = [json.loads(await _line(w)) for w in workers]
        finally:
            for worker in workers:
                if worker.returncode is None:
                    worker.kill()
                await worker.wait()

    assert results == [{"ok": CALLS_PER_WORKER, "errors": []}] * 2
    assert idp.token_requests["refresh_token"] - before == 1
    assert protected.rejected == 0
    assert protected.calls == 2 * CALLS_PER_WORKER
    async with engine.connect() as conn:
        version = (
            await conn.execute(select(mcp_tokens.c.version).where(mcp_tokens.c.server == name))
        ).scalar_one()
    assert version == 2  # the login's token, then the one refresh


async def _gone(redis: Redis, key: str) -> bool:
    return not await redis.exists(key)
