"""What the token manager needs to know about one OAuth-protected MCP server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Grant = Literal["client_credentials", "refresh_token"]
"""OAuth 2.0 grants the token manager uses (RFC 6749 §4.4 and §6)."""


@dataclass(frozen=True, slots=True)
class OAuth2Spec:
    """The OAuth 2.0 client configuration of one MCP server (its ``auth: oauth2`` block).

    Attributes:
        token_url: The authorization server's token endpoint (RFC 6749 §3.2).
        client_id: This orchestrator's client id at that server.
        client_secret: The client secret, already resolved from its secret reference; ``None``
            for a public client. Never logged (``repr`` hides it).
        scopes: Scopes requested (sent space-separated).
        grant: ``client_credentials`` (the orchestrator is the client, no user) or
            ``refresh_token`` (a refresh token stored by ``orchestrator mcp login``).
        per_user: Keep one token per (server, user) instead of one per server.
        resource: The RFC 8707 resource indicator to request tokens for (the MCP server's URL,
            as the MCP authorization spec 2025-06-18 asks), or ``None`` to send none.
        authorization_url: The authorization endpoint (RFC 6749 §3.1), used only by
            ``orchestrator mcp login`` on a terminal for the authorization-code + PKCE flow with
            a loopback redirect; ``None``: login takes a refresh token instead.
    """

    token_url: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    grant: Grant = "client_credentials"
    per_user: bool = False
    resource: str | None = None
    authorization_url: str | None = None


__all__ = ["Grant", "OAuth2Spec"]
