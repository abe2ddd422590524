"""``orchestrator mcp login SERVER``: store a refresh token for a ``refresh_token``-grant server.

The refresh token (obtained by the operator from the authorization server, e.g. with its own
consent page) is given on the command line or piped on stdin, redeemed once at once (so a bad
token fails here, not in a job) and stored encrypted; workers and gateways refresh from it.
On a terminal, for a server configured with an ``authorization_url``, login instead runs the
authorization-code + PKCE flow with a loopback redirect (:mod:`orchestrator.mcp.oauth.pkce`).
No browser flow ever runs on a server: only this command starts one.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import webbrowser
from collections.abc import Callable, Mapping
from typing import IO

from redis.asyncio import Redis

from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.keys import Keys
from orchestrator.mcp.oauth.manager import TokenManager
from orchestrator.mcp.oauth.pkce import authorize_interactively
from orchestrator.mcp.oauth.spec import OAuth2Spec


def configured_specs(settings: Settings) -> dict[str, OAuth2Spec]:
    """The OAuth 2 specs of the configured MCP servers (those with ``auth: oauth2``).

    Reads the tool plane's server configuration (``orchestrator.mcp.factory.configured_servers``
    and ``orchestrator.mcp.config.resolve_secret``, built beside this module) when present;
    without it there are none.

    Raises:
        ConfigError: The configuration is invalid or a client secret cannot be resolved.
    """
    try:
        factory = importlib.import_module("orchestrator.mcp.factory")
        config = importlib.import_module("orchestrator.mcp.config")
    except ModuleNotFoundError as exc:
        if exc.name not in ("orchestrator.mcp.factory", "orchestrator.mcp.config"):
            raise
        return {}
    specs: dict[str, OAuth2Spec] = {}
    for server in factory.configured_servers(settings):
        auth = server.auth
        if getattr(auth, "type", None) != "oauth2":
            continue
        secret = None
        if auth.client_secret is not None:
            what = f"server {server.name!r}: auth.client_secret"
            secret = config.resolve_secret(auth.client_secret, what=what).get_secret_value()
        specs[server.name] = OAuth2Spec(
            token_url=auth.token_url,
            client_id=auth.client_id,
            client_secret=secret,
            scopes=tuple(auth.scopes),
            grant=auth.grant,
            per_user=auth.per_user,
            resource=auth.resource,
            authorization_url=getattr(auth, "authorization_url", None),
        )
    return specs


async def login(
    settings: Settings,
    server: str,
    *,
    refresh_token: str | None = None,
    user: str | None = None,
    specs: Mapping[str, OAuth2Spec] | None = None,
    stdin: IO[str] | None = None,
    interactive: bool | None = None,
    open_url: Callable[[str], object] | None = None,
    timeout_seconds: float = 300.0,
) -> None:
    """Redeem and store a refresh token for ``server`` (and ``user`` when it is ``per_user``).

    Args:
        settings: The process settings (Redis and database URLs, key prefix, encryption key).
        server: The MCP server's name.
        refresh_token: The refresh token; ``None`` reads one line from ``stdin``.
        user: The user the token belongs to (``per_user`` servers only).
        specs: Server name → OAuth 2 spec; defaults to :func:`configured_specs`.
        stdin: Where to read the token when ``refresh_token`` is ``None`` (default ``sys.stdin``).
        interactive: Run the browser flow instead of reading stdin; ``None``: when no token is
            given, stdin is a terminal and the server has an ``authorization_url``.
        open_url: Shows the authorization URL (default: print it to stderr and open a browser).
        timeout_seconds: How long the browser flow waits for the redirect.

    Raises:
        ConfigError: The server is not an OAuth ``refresh_token`` server, no token was given, the
            encryption key or the Redis/database URL is missing.
        McpAuthRequiredError: The authorization server refused the refresh token.
    """
    all_specs = dict(specs) if specs is not None else configured_specs(settings)
    spec = all_specs.get(server)
    if spec is None:
        raise ConfigError(f"MCP server {server!r} is not configured with auth oauth2")
    if spec.grant != "refresh_token":
        raise ConfigError(f"MCP server {server!r} uses the {spec.grant} grant: it needs no login")
    source = stdin if stdin is not None else sys.stdin
    if interactive is None:
        interactive = refresh_token is None and bool(spec.authorization_url) and source.isatty()
    if not interactive and refresh_token is None:
        refresh_token = (await asyncio.to_thread(source.readline)).strip()
        if not refresh_token:
            raise ConfigError("no refresh token given: pass it as an option or pipe it on stdin")
    if not settings.redis.url or not settings.database.url:
        raise ConfigError("set ORCH_REDIS__URL and ORCH_DATABASE__URL to store MCP tokens")
    redis = Redis.from_url(settings.redis.url)
    manager: TokenManager | None = None
    try:
        manager = TokenManager.from_settings(
            settings.mcp,
            {server: spec},
            redis=redis,
            engine=settings.database.url,
            keys=Keys(settings.state.key_prefix),
        )
        if interactive:
            tokens = await authorize_interactively(
                spec, server, open_url=open_url or _show, timeout_seconds=timeout_seconds
            )
            await manager.store_tokens(server, user, tokens)
        else:
            assert refresh_token is not None
            await manager.store_refresh_token(server, user, refresh_token)
    finally:
        if manager is not None:
            await manager.close()
        await redis.aclose()


def _show(url: str) -> None:
    print(f"Open this URL to authorize the orchestrator:\n{url}", file=sys.stderr, flush=True)
    webbrowser.open(url)


__all__ = ["configured_specs", "login"]
