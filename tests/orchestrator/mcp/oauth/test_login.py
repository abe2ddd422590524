"""``orchestrator mcp login`` refuses what it cannot do with a one-line ``config_invalid``."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.mcp.login import login
from orchestrator.mcp.oauth import OAuth2Spec

CREDENTIALS = OAuth2Spec(token_url="http://127.0.0.1:9/token", client_id="c")
REFRESH = OAuth2Spec(token_url="http://127.0.0.1:9/token", client_id="c", grant="refresh_token")


@pytest.mark.parametrize(
    ("server", "kwargs"),
    [
        ("unknown", {}),  # not configured with oauth2
        ("cc", {"refresh_token": "r"}),  # client_credentials needs no login
        ("rt", {"stdin": io.StringIO("\n")}),  # nothing piped in
        ("rt", {"refresh_token": "r", "key": None}),  # no encryption key
    ],
)
async def test_login_refuses_with_config_invalid(
    server: str, kwargs: dict[str, object], isolated_settings: Callable[..., Settings]
) -> None:
    key = kwargs.pop("key", "A" * 43 + "=")
    settings = isolated_settings(mcp={"token_encryption_key": key})
    with pytest.raises(ConfigError) as caught:
        await login(settings, server, specs={"cc": CREDENTIALS, "rt": REFRESH},  # type: ignore[arg-type]
                    interactive=False, **kwargs)  # fmt: skip
    assert caught.value.code == "config_invalid"
    assert "\n" not in caught.value.message


async def test_login_is_callable_as_the_cli_calls_it(
    isolated_settings: Callable[..., Settings],
) -> None:
    # `orchestrator mcp login SERVER` calls login(settings=..., server=...); on this branch no
    # server configuration exists, so the server is unknown.
    with pytest.raises(ConfigError):
        await login(settings=isolated_settings(), server="nowhere")
