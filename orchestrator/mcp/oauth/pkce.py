"""The authorization-code flow with PKCE and a loopback redirect, for ``orchestrator mcp login``
on an operator's terminal (RFC 6749 §4.1, RFC 7636 S256, RFC 8252 §7.3 loopback redirect).

Never used on a server: workers and gateways only refresh. The redirect is received by a one-shot
HTTP listener on 127.0.0.1 (an ephemeral port unless given); the browser is opened by the
caller's ``open_url``; everything is bounded by ``timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from orchestrator.errors import ConfigError, McpAuthRequiredError
from orchestrator.mcp.oauth.spec import OAuth2Spec
from orchestrator.mcp.oauth.tokens import TokenSet

_PAGE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    b"AgentOrchestrator: authorization received; you may close this window.\n"
)


async def authorize_interactively(
    spec: OAuth2Spec,
    server: str,
    *,
    open_url: Callable[[str], Any],
    timeout_seconds: float = 300.0,
    port: int = 0,
) -> TokenSet:
    """Run the authorization-code + PKCE flow and return the tokens it yields.

    Args:
        spec: The server's OAuth configuration; needs ``authorization_url``.
        server: The MCP server's name (for errors).
        open_url: Called once with the authorization URL (opens a browser, prints it, ...).
        timeout_seconds: How long to wait for the redirect and for each token request.
        port: Loopback port of the redirect URI (0: any free port; some servers need a fixed one).

    Returns:
        The tokens (with the refresh token the manager will use from then on).

    Raises:
        ConfigError: ``spec`` has no ``authorization_url``.
        McpAuthRequiredError: The user denied, the state did not match, the redirect did not
            come within ``timeout_seconds``, or the code exchange was refused.
    """
    if not spec.authorization_url:
        raise ConfigError(
            f"MCP server {server!r} has no authorization_url for an interactive login"
        )
    arrived: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 10.0)
            target = request_line.decode("latin-1").split(" ")[1]
            query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
            writer.write(_PAGE)
            await writer.drain()
            if ("code" in query or "error" in query) and not arrived.done():
                arrived.set_result(query)
        except (TimeoutError, IndexError, OSError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(receive, "127.0.0.1", port)
    try:
        bound = listener.sockets[0].getsockname()[1]
        redirect_uri = f"http://127.0.0.1:{bound}/callback"
        verifier = secrets.token_urlsafe(48)  # 64 chars, within RFC 7636's 43..128
        extra = {"resource": spec.resource} if spec.resource else {}
        async with AsyncOAuth2Client(
            client_id=spec.client_id,
            client_secret=spec.client_secret,
            token_endpoint_auth_method=(
                "client_secret_basic" if spec.client_secret is not None else "none"
            ),
            scope=" ".join(spec.scopes) or None,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=timeout_seconds,
        ) as client:
            url, state = client.create_authorization_url(
                spec.authorization_url, code_verifier=verifier, **extra
            )
            open_url(url)
            try:
                query = await asyncio.wait_for(arrived, timeout_seconds)
            except TimeoutError:
                raise _denied(server, "authorization_timeout") from None
            if "error" in query:
                raise _denied(server, query["error"])
            if not secrets.compare_digest(query.get("state", ""), state):
                raise _denied(server, "state_mismatch")
            try:
                response = await client.fetch_token(
                    spec.token_url,
                    grant_type="authorization_code",
                    code=query["code"],
                    code_verifier=verifier,
                    redirect_uri=redirect_uri,
                    **extra,
                )
            except OAuthError as exc:
                raise _denied(server, str(exc.error or "oauth_error")) from None
    finally:
        listener.close()
        await listener.wait_closed()
    return TokenSet.from_response(dict(response))


def _denied(server: str, reason: str) -> McpAuthRequiredError:
    return McpAuthRequiredError(
        f"the interactive login to MCP server {server!r} failed ({reason}); run "
        f"`orchestrator mcp login {server}` again",
        details={"server": server, "reason": reason},
    )


__all__ = ["authorize_interactively"]
