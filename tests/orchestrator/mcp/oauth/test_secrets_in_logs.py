"""Secrets never reach logs or errors: a refresh and a refused refresh, logged at DEBUG."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import pytest
import structlog

from orchestrator.errors import McpAuthRequiredError
from orchestrator.logs import Redactor, configure_logging
from orchestrator.mcp.oauth import OAuth2Spec, TokenManager
from tests.orchestrator.mcp.oauth.conftest import server_name
from tests.orchestrator.mcp.oauth.servers import authlib_server


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    """JSON logging at DEBUG into a buffer; structlog and the root logger restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging("DEBUG", json=True, stream=buffer)
    try:
        yield buffer
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


async def test_a_logged_refresh_and_a_refused_one_carry_no_token_or_secret(
    log_buffer: io.StringIO, managers: Callable[..., TokenManager]
) -> None:
    with authlib_server(token_lifetime_seconds=600) as idp:
        name = server_name()
        spec = OAuth2Spec(token_url=idp.token_url, client_id=idp.client_id,
                          client_secret=idp.client_secret, grant="refresh_token")  # fmt: skip
        manager = managers({name: spec})
        refresh = idp.issue_refresh_token("eve")
        await manager.store_refresh_token(name, None, refresh)
        access = await manager.token(name, None)
        stored = await manager.store.get(name, "")
        assert stored is not None and stored.refresh_token
        idp.refresh[stored.refresh_token].revoked = True
        with pytest.raises(McpAuthRequiredError) as caught:
            await manager.refresh_after_rejection(name, None, access)

    text = log_buffer.getvalue()
    assert "mcp.token.refreshed" in text and "mcp.token.refresh_failed" in text
    for secret in (access, refresh, stored.refresh_token, idp.client_secret):
        assert secret not in text
        assert secret not in str(caught.value.to_dict())


@pytest.mark.parametrize(
    "key", ["access_token", "refresh_token", "id_token", "client_secret", "code_verifier",
            "token_encryption_key"],
)  # fmt: skip
def test_oauth_fields_are_redacted(key: str) -> None:
    assert Redactor().secret(key)
