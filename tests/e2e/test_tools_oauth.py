"""The OAuth token manager through the tool plane in a worker process (issue 13).

Real parts: gateway and worker as separate processes (``orchestrator gateway``, ``orchestrator
worker``) on the real Redis and PostgreSQL; the tests' authlib authorization server (rotating
refresh tokens, 2-second access tokens); an MCP SDK streamable-HTTP server that introspects the
bearer token on every request (401 otherwise); ``orchestrator mcp login`` storing the refresh
token. The worker's manager is built by ``build_manager`` from ``ORCH_MCP__SERVERS`` (an
``auth: oauth2`` server), so the TokenManager is the one production builds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from orchestrator.keys import Keys
from tests.conftest import wait_until
from tests.e2e.conftest import ROOT, Stack, start_stack
from tests.orchestrator.mcp.oauth.servers import (
    AuthlibServer,
    McpServer,
    authlib_server,
    mcp_server,
)

pytestmark = pytest.mark.e2e

TOKEN_LIFETIME_SECONDS = 2  # due for refresh after 1 s (half its life)
SERVER = "secure"


@pytest.fixture
def idp() -> Iterator[AuthlibServer]:
    with authlib_server(token_lifetime_seconds=TOKEN_LIFETIME_SECONDS) as server:
        yield server


@pytest.fixture
def protected(idp: AuthlibServer) -> Iterator[McpServer]:
    with mcp_server(idp.verify) as server:
        yield server


@pytest.fixture
def oauth_stack(
    redis_url: str, pg_url: str, tmp_path: Path, idp: AuthlibServer, protected: McpServer
) -> Iterator[Stack]:
    server = {"name": SERVER, "transport": "http", "url": protected.url, "auth": {
        "type": "oauth2", "token_url": idp.token_url, "client_id": idp.client_id,
        "client_secret": {"env": "E2E_SECURE_CLIENT_SECRET"}, "grant": "refresh_token"}}  # fmt: skip
    env = {
        "ORCH_MCP__SERVERS": json.dumps([server]),
        "ORCH_MCP__TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "E2E_SECURE_CLIENT_SECRET": idp.client_secret,
    }
    with start_stack(redis_url, pg_url, tmp_path, workflows="tests.e2e.seams_flows",
                     extra_env=env) as s:  # fmt: skip
        login = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", "mcp", "login", SERVER], cwd=ROOT,
            env=s.env, input=idp.issue_refresh_token("ops") + "\n", capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert login.returncode == 0, login.stderr
        yield s


async def submit(client: httpx.AsyncClient, workflow: str, inputs: dict[str, Any]) -> str:
    r = await client.post("/v1/jobs", json={"workflow": workflow, "inputs": inputs})
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


async def ended(client: httpx.AsyncClient, job_id: str) -> tuple[dict[str, Any], str]:
    """The finished job and its event stream's raw text."""

    async def done() -> bool:
        job = (await client.get(f"/v1/jobs/{job_id}")).json()
        return job["status"] in ("succeeded", "failed", "cancelled")

    await wait_until(done, timeout_seconds=60, interval_seconds=0.05, what=f"job {job_id}")
    job: dict[str, Any] = (await client.get(f"/v1/jobs/{job_id}")).json()
    return job, (await client.get(f"/v1/jobs/{job_id}/events")).text


def events_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


async def test_a_step_in_a_worker_calls_an_oauth2_server_across_expiry_then_needs_a_login(
    oauth_stack: Stack, idp: AuthlibServer, protected: McpServer, redis: Redis, tmp_path: Path
) -> None:
    cached_token = Keys(oauth_stack.prefix).mcp_token(SERVER, "")

    async def token_due() -> bool:
        return not await redis.exists(cached_token)

    gate = tmp_path / "gate"
    async with httpx.AsyncClient(base_url=oauth_stack.url, headers=oauth_stack.headers,
                                 timeout=30) as client:  # fmt: skip
        # 1. Across an expiry: the second call's token is refreshed ahead of expiry (no 401).
        job_id = await submit(client, "e2e_oauth_twice", {"gate": str(gate)})
        await wait_until(lambda: _true(protected.calls == 1), timeout_seconds=60,
                         what="the first call")  # fmt: skip
        await wait_until(token_due, timeout_seconds=30, what="the token to fall due")
        refreshes = idp.token_requests["refresh_token"]
        gate.touch()
        first, first_events = await ended(client, job_id)
        refreshed = idp.token_requests["refresh_token"] - refreshes

        # 2. The refresh token is revoked at the server: the next refresh fails.
        for grant in idp.refresh.values():
            grant.revoked = True
        await wait_until(token_due, timeout_seconds=30, what="the token to fall due again")
        second, second_events = await ended(client, await submit(client, "e2e_oauth_once", {}))

    assert first["status"] == "succeeded", first
    assert first["result"]["ping_twice"] == ["pong", "pong"]
    assert protected.calls >= 2 and protected.rejected == 0  # refreshed before, never after a 401
    assert refreshed == 1

    assert second["status"] == "failed"
    [step] = second["steps"]
    assert step["attempts"] == 1  # retries=2: mcp_auth_required is never retried
    error = second["error"]["details"]["error"]
    assert (error["code"], error["details"]["server"]) == ("mcp_auth_required", SERVER)
    failed = [e for e in events_of(second_events) if e["type"] == "step.failed"]
    assert len(failed) == 1 and failed[0]["data"]["error"]["code"] == "mcp_auth_required", failed

    # Secrets never in the processes' logs nor in the events a client sees.
    secrets = [idp.client_secret, *idp.refresh, *idp.access]
    logs = "".join(p.read_text(errors="replace") for p in oauth_stack.logs.iterdir())
    seen = logs + first_events + second_events + json.dumps([first, second])
    assert not [s for s in secrets if s in seen]


async def _true(value: bool) -> bool:
    return value
