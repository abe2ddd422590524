"""The token manager against the tests' authlib authorization server (client_credentials, and
refresh_token with rotation), protecting a streamable-HTTP MCP server of the official SDK that
introspects the token on every request: refresh ahead of expiry, one refresh and a retry after a
revocation, ``mcp_auth_required`` when the token endpoint is down, tokens per user."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from redis.asyncio import Redis

from orchestrator.errors import McpAuthRequiredError
from orchestrator.keys import Keys
from orchestrator.mcp.oauth import OAuth2Spec, TokenManager
from tests.orchestrator.mcp.oauth.client import call_ping
from tests.orchestrator.mcp.oauth.conftest import server_name
from tests.orchestrator.mcp.oauth.servers import (
    AuthlibServer,
    McpServer,
    authlib_server,
    mcp_server,
)


@pytest.fixture
def idp() -> Iterator[AuthlibServer]:
    with authlib_server(token_lifetime_seconds=2) as running:
        yield running


@pytest.fixture
def protected(idp: AuthlibServer) -> Iterator[McpServer]:
    with mcp_server(idp.verify) as running:
        yield running


def _spec(idp: AuthlibServer, grant: str, *, per_user: bool = False) -> OAuth2Spec:
    return OAuth2Spec(token_url=idp.token_url, client_id=idp.client_id,
                      client_secret=idp.client_secret, grant=grant,  # type: ignore[arg-type]
                      per_user=per_user)  # fmt: skip


async def _logged_in(
    manager: TokenManager, idp: AuthlibServer, name: str, user: str | None
) -> None:
    spec = manager.specs[name]
    if spec.grant == "refresh_token":
        await manager.store_refresh_token(name, user, idp.issue_refresh_token(user or "svc"))


@pytest.mark.parametrize("grant", ["client_credentials", "refresh_token"])
async def test_two_second_tokens_are_refreshed_ahead_of_expiry_and_no_call_sees_a_401(
    grant: str, idp: AuthlibServer, protected: McpServer, managers: Callable[..., TokenManager]
) -> None:
    name = server_name()
    manager = managers({name: _spec(idp, grant)})
    await _logged_in(manager, idp, name, None)

    loop = asyncio.get_running_loop()
    end = loop.time() + 5.0  # two and a half token lifetimes
    calls = 0
    while loop.time() < end:
        assert await call_ping(protected.url, manager, name) == "pong"
        calls += 1
        await asyncio.sleep(0.05)  # pacing of the workload, not synchronization

    assert protected.rejected == 0
    assert protected.calls == calls
    # a new token every half lifetime (1 s): about 5 in 5 s, however many calls were made
    assert 3 <= idp.token_requests[grant] <= 7


@pytest.mark.parametrize("grant", ["client_credentials", "refresh_token"])
async def test_a_token_revoked_at_the_server_gets_one_refresh_and_a_retry(
    grant: str, managers: Callable[..., TokenManager]
) -> None:
    with authlib_server(token_lifetime_seconds=600) as idp, mcp_server(idp.verify) as protected:
        name = server_name()
        manager = managers({name: _spec(idp, grant)})
        await _logged_in(manager, idp, name, None)
        assert await call_ping(protected.url, manager, name) == "pong"
        before = idp.token_requests[grant]

        idp.revoke_access(await manager.token(name, None))
        assert await call_ping(protected.url, manager, name) == "pong"

        assert protected.rejected == 1
        assert idp.token_requests[grant] == before + 1
        assert await call_ping(protected.url, manager, name) == "pong"
        assert protected.rejected == 1


async def test_a_rejection_another_process_already_repaired_costs_no_refresh(
    idp: AuthlibServer, managers: Callable[..., TokenManager]
) -> None:
    name = server_name()
    spec = _spec(idp, "client_credentials")
    first, second = managers({name: spec}), managers({name: spec})
    old = await first.token(name, None)
    new = await first.refresh_after_rejection(name, None, old)
    assert new != old
    requests = idp.token_requests["client_credentials"]

    # the second manager saw the old token rejected too: it gets the new one, no request
    assert await second.refresh_after_rejection(name, None, old) == new
    assert idp.token_requests["client_credentials"] == requests


async def test_a_token_endpoint_that_stays_down_is_mcp_auth_required_after_bounded_retries(
    idp: AuthlibServer, managers: Callable[..., TokenManager]
) -> None:
    name = server_name()
    manager = managers({name: _spec(idp, "client_credentials")}, attempts=3)
    idp.down = True

    with pytest.raises(McpAuthRequiredError) as caught:
        await manager.token(name, None)

    assert caught.value.code == "mcp_auth_required"
    assert caught.value.details["reason"] == "token_endpoint_unavailable"
    assert idp.token_requests["client_credentials"] == 3


async def test_an_unreachable_token_endpoint_is_mcp_auth_required_not_a_hang(
    managers: Callable[..., TokenManager],
) -> None:
    with authlib_server(token_lifetime_seconds=60) as idp:
        spec = _spec(idp, "client_credentials")
    name = server_name()  # the server is stopped: its port refuses connections
    manager = managers({name: spec}, attempts=2)
    with pytest.raises(McpAuthRequiredError) as caught:
        await asyncio.wait_for(manager.token(name, None), timeout=30)
    assert caught.value.details["reason"] == "token_endpoint_unavailable"


async def test_per_user_servers_keep_one_token_per_user(
    idp: AuthlibServer, protected: McpServer, managers: Callable[..., TokenManager]
) -> None:
    name = server_name()
    manager = managers({name: _spec(idp, "refresh_token", per_user=True)})
    await _logged_in(manager, idp, name, "ann")
    await _logged_in(manager, idp, name, "ben")

    ann, ben = await manager.token(name, "ann"), await manager.token(name, "ben")
    assert ann != ben
    assert await call_ping(protected.url, manager, name, "ann") == "pong"
    with pytest.raises(McpAuthRequiredError):
        await manager.token(name, "cid")  # never logged in
    with pytest.raises(McpAuthRequiredError):
        await manager.token(name, None)  # a per-user server needs a user


async def test_many_concurrent_rejections_of_one_token_cause_one_refresh(
    idp: AuthlibServer, managers: Callable[..., TokenManager]
) -> None:
    name = server_name()
    manager = managers({name: _spec(idp, "refresh_token")})
    await _logged_in(manager, idp, name, None)
    old = await manager.token(name, None)
    before = idp.token_requests["refresh_token"]

    new = await asyncio.gather(
        *(manager.refresh_after_rejection(name, None, old) for _ in range(10))
    )

    assert len(set(new)) == 1 and new[0] != old
    assert idp.token_requests["refresh_token"] == before + 1


async def test_a_refresh_lock_held_elsewhere_ends_in_mcp_auth_required_within_the_wait(
    idp: AuthlibServer, managers: Callable[..., TokenManager], redis: Redis, keys: Keys
) -> None:
    name = server_name()
    manager = managers({name: _spec(idp, "client_credentials")}, lock_wait_seconds=0.5)
    held = redis.lock(keys.mcp_token_lock(name, ""), timeout=30)
    assert await held.acquire()  # another process, stuck mid-refresh
    try:
        with pytest.raises(McpAuthRequiredError) as caught:
            await asyncio.wait_for(manager.token(name, None), timeout=10)
    finally:
        await held.release()

    assert caught.value.details["reason"] == "refresh_lock_timeout"
    assert idp.token_requests["client_credentials"] == 0
    assert await manager.token(name, None)  # the lock is free again
