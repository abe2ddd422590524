"""The token-source seam: where the manager gets OAuth 2 access tokens for ``oauth2`` servers.

The real source is the token manager (``orchestrator/mcp/oauth``: grants through authlib,
tokens encrypted in PostgreSQL, cached in Redis, refreshed under a cross-process lock).
:class:`StaticTokenSource` (``tokens_static.py``) serves fixed tokens for tests and local use.
The manager takes any :class:`TokenSource` as its ``tokens`` constructor argument.
"""

from __future__ import annotations

from typing import Protocol


class TokenSource(Protocol):
    """Access tokens per (server, user).

    ``user`` is ``None`` for a server-wide token, else the end user's id (servers configured
    ``per_user: true``). Both methods raise
    :class:`~orchestrator.errors.McpAuthRequiredError` (code ``mcp_auth_required``) when no
    token can be had; they never start an interactive flow and never hang past their own
    bounded waits.
    """

    async def token(self, server: str, user: str | None) -> str:
        """A valid access token (refreshed ahead of its expiry by the source).

        Raises:
            McpAuthRequiredError: No token is stored, or the refresh failed.
        """
        ...

    async def refresh_after_rejection(self, server: str, user: str | None, rejected: str) -> str:
        """A new token after the server answered 401 to ``rejected`` (called once per call).

        A source shared by many calls refreshes once: when the current token already differs
        from ``rejected``, another caller refreshed and that token is returned.

        Raises:
            McpAuthRequiredError: The refresh failed (revoked grant, bad client credentials).
        """
        ...


__all__ = ["TokenSource"]
