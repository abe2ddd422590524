"""The token manager and ``mcp login`` against oidc-provider-mock (a real authorization server:
authorization code + refresh_token grants), protecting a streamable-HTTP MCP server of the
official SDK that checks the token at ``/userinfo`` on every request.

oidc-provider-mock gives its 2-second lifetime only to tokens of the code exchange (refreshed
ones live an hour), so refresh-ahead-of-expiry is shown with the tests' authlib server
(test_lifetimes.py)."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from orchestrator.errors import McpAuthRequiredError
from orchestrator.mcp.login import login
from orchestrator.mcp.oauth import OAuth2Spec, TokenManager
from tests.orchestrator.mcp.oauth.client import call_ping
from tests.orchestrator.mcp.oauth.conftest import server_name
from tests.orchestrator.mcp.oauth.servers import McpServer, OidcMock, mcp_server, oidc_mock


@pytest.fixture
def idp() -> Iterator[OidcMock]:
    with oidc_mock(access_token_max_age_seconds=2) as running:
        yield running


@pytest.fixture
def protected(idp: OidcMock) -> Iterator[McpServer]:
    with mcp_server(idp.verify) as running:
        yield running


def _spec(idp: OidcMock) -> tuple[OAuth2Spec, str]:
    client_id, secret = idp.register_client()
    spec = OAuth2Spec(token_url=idp.token_url, client_id=client_id, client_secret=secret,
                      scopes=("openid",), grant="refresh_token")  # fmt: skip
    return spec, secret


async def test_a_refresh_the_server_refuses_is_mcp_auth_required(
    idp: OidcMock, protected: McpServer, managers: Callable[..., TokenManager]
) -> None:
    spec, secret = _spec(idp)
    name = server_name()
    manager = managers({name: spec})
    refresh_token = await asyncio.to_thread(idp.refresh_token_for, spec.client_id, secret, "bob")
    await manager.store_refresh_token(name, None, refresh_token)
    assert await call_ping(protected.url, manager, name) == "pong"

    await asyncio.to_thread(idp.revoke_user, "bob")
    with pytest.raises(McpAuthRequiredError) as caught:
        await call_ping(protected.url, manager, name)

    assert caught.value.code == "mcp_auth_required"
    assert caught.value.details["server"] == name
    assert caught.value.details["reason"] == "invalid_grant"
    assert f"orchestrator mcp login {name}" in caught.value.message
    # later calls fail at once: no token request, the rejected token is not sent again
    rejected, requests = protected.rejected, idp.token_requests["refresh_token"]
    with pytest.raises(McpAuthRequiredError) as again:
        await call_ping(protected.url, manager, name)
    assert again.value.details["reason"] == "not_logged_in"
    assert protected.rejected == rejected
    assert idp.token_requests["refresh_token"] == requests


async def test_login_redeems_the_refresh_token_and_stores_it_for_other_processes(
    idp: OidcMock, protected: McpServer, managers: Callable[..., TokenManager],
    isolated_settings: Callable[..., object], fernet_key: str
) -> None:  # fmt: skip
    spec, secret = _spec(idp)
    name = server_name()
    manager = managers({name: spec})
    settings = isolated_settings(
        state={"key_prefix": manager.keys.prefix}, mcp={"token_encryption_key": fernet_key}
    )
    refresh_token = await asyncio.to_thread(idp.refresh_token_for, spec.client_id, secret, "carol")

    await login(settings, name, refresh_token=refresh_token, user=None, specs={name: spec})  # type: ignore[arg-type]

    assert idp.token_requests["refresh_token"] == 1
    assert await call_ping(protected.url, manager, name) == "pong"
    assert idp.token_requests["refresh_token"] == 1  # the stored token was used as it is


async def test_login_reads_the_refresh_token_from_stdin(
    idp: OidcMock, managers: Callable[..., TokenManager],
    isolated_settings: Callable[..., object], fernet_key: str
) -> None:  # fmt: skip
    import io

    spec, secret = _spec(idp)
    name = server_name()
    manager = managers({name: spec})
    settings = isolated_settings(
        state={"key_prefix": manager.keys.prefix}, mcp={"token_encryption_key": fernet_key}
    )
    refresh_token = await asyncio.to_thread(idp.refresh_token_for, spec.client_id, secret, "dan")

    await login(settings, name, refresh_token=None, user=None, specs={name: spec},  # type: ignore[arg-type]
                stdin=io.StringIO(refresh_token + "\n"))  # fmt: skip

    assert await manager.token(name, None)


async def test_login_with_a_bad_refresh_token_is_mcp_auth_required_and_stores_nothing(
    idp: OidcMock, managers: Callable[..., TokenManager],
    isolated_settings: Callable[..., object], fernet_key: str
) -> None:  # fmt: skip
    spec, _secret = _spec(idp)
    name = server_name()
    manager = managers({name: spec})
    settings = isolated_settings(
        state={"key_prefix": manager.keys.prefix}, mcp={"token_encryption_key": fernet_key}
    )

    with pytest.raises(McpAuthRequiredError) as caught:
        await login(settings, name, refresh_token="not-a-token", user=None, specs={name: spec})  # type: ignore[arg-type]

    assert caught.value.code == "mcp_auth_required"
    assert await manager.store.get(name, "") is None


async def test_a_server_never_logged_in_is_mcp_auth_required_naming_the_login_command(
    idp: OidcMock, managers: Callable[..., TokenManager]
) -> None:
    spec, _secret = _spec(idp)
    name = server_name()
    with pytest.raises(McpAuthRequiredError) as caught:
        await managers({name: spec}).token(name, None)
    assert caught.value.details["reason"] == "not_logged_in"
    assert idp.token_requests["refresh_token"] == 0


def _browser(decision: dict[str, str], *, forge_state: bool = False) -> Callable[[str], None]:
    """Stand in for the operator's browser: post the consent form, follow the redirect to the
    loopback listener (in a thread, so the event loop keeps serving the listener); with
    ``forge_state`` the redirect arrives with another ``state`` (a forged callback)."""

    def open_url(url: str) -> None:
        def run() -> None:
            with httpx.Client(timeout=10.0) as browser:
                location = browser.post(url, data=decision).headers["location"]
                if forge_state:
                    location = re.sub(r"state=[^&]+", "state=forged", location)
                browser.get(location)

        threading.Thread(target=run, daemon=True).start()

    return open_url


async def test_an_interactive_login_runs_the_code_flow_with_pkce_and_a_loopback_redirect(
    idp: OidcMock, protected: McpServer, managers: Callable[..., TokenManager],
    isolated_settings: Callable[..., object], fernet_key: str
) -> None:  # fmt: skip
    name = server_name()
    spec = OAuth2Spec(token_url=idp.token_url, client_id=f"cli-{name}", client_secret="s",
                      scopes=("openid",), grant="refresh_token",
                      authorization_url=f"{idp.url}/oauth2/authorize")  # fmt: skip
    manager = managers({name: spec})
    settings = isolated_settings(
        state={"key_prefix": manager.keys.prefix}, mcp={"token_encryption_key": fernet_key}
    )

    await login(settings, name, refresh_token=None, user=None, specs={name: spec},  # type: ignore[arg-type]
                interactive=True, open_url=_browser({"sub": "erin"}), timeout_seconds=20)  # fmt: skip

    assert idp.token_requests["authorization_code"] == 1
    assert await call_ping(protected.url, manager, name) == "pong"
    stored = await manager.store.get(name, "")
    assert stored is not None and stored.refresh_token


async def test_an_interactive_login_with_a_forged_callback_is_refused_and_stores_nothing(
    idp: OidcMock, managers: Callable[..., TokenManager],
    isolated_settings: Callable[..., object], fernet_key: str
) -> None:  # fmt: skip
    name = server_name()
    spec = OAuth2Spec(token_url=idp.token_url, client_id=f"cli-{name}", client_secret="s",
                      scopes=("openid",), grant="refresh_token",
                      authorization_url=f"{idp.url}/oauth2/authorize")  # fmt: skip
    manager = managers({name: spec})
    settings = isolated_settings(
        state={"key_prefix": manager.keys.prefix}, mcp={"token_encryption_key": fernet_key}
    )

    with pytest.raises(McpAuthRequiredError) as caught:
        await login(settings, name, refresh_token=None, user=None, specs={name: spec},  # type: ignore[arg-type]
                    interactive=True, open_url=_browser({"sub": "eve"}, forge_state=True), timeout_seconds=20)  # fmt: skip

    assert caught.value.code == "mcp_auth_required"
    assert caught.value.details["reason"] == "state_mismatch"
    assert await manager.store.get(name, "") is None


async def test_an_interactive_login_nobody_completes_ends_within_its_timeout(
    idp: OidcMock, isolated_settings: Callable[..., object], fernet_key: str
) -> None:
    name = server_name()
    spec = OAuth2Spec(token_url=idp.token_url, client_id="cli", grant="refresh_token",
                      authorization_url=f"{idp.url}/oauth2/authorize")  # fmt: skip
    settings = isolated_settings(mcp={"token_encryption_key": fernet_key})
    shown: list[str] = []

    with pytest.raises(McpAuthRequiredError) as caught:
        await login(settings, name, refresh_token=None, user=None, specs={name: spec},  # type: ignore[arg-type]
                    interactive=True, open_url=shown.append, timeout_seconds=0.5)  # fmt: skip

    assert caught.value.details["reason"] == "authorization_timeout"
    assert "code_challenge_method=S256" in shown[0] and "127.0.0.1" in shown[0]
