"""The token store seam: where the token manager keeps tokens between processes and restarts."""

from __future__ import annotations

from typing import Protocol

from orchestrator.mcp.oauth.tokens import TokenSet


class TokenStore(Protocol):
    """Durable storage of token sets per (server, user key).

    ``user_key`` is the user's id for ``per_user`` servers and ``""`` otherwise. Implementations:
    :class:`~orchestrator.mcp.oauth.store.SqlTokenStore` (PostgreSQL/SQLite, encrypted) and
    :class:`~orchestrator.mcp.oauth.memory.MemoryTokenStore` (unit tests).
    """

    async def get(self, server: str, user_key: str) -> TokenSet | None:
        """Return the stored tokens, or ``None`` if there are none.

        Raises:
            ConfigError: The stored tokens cannot be decrypted with the configured key.
            TraceError: The database failed.
        """
        ...

    async def put(self, server: str, user_key: str, tokens: TokenSet) -> int:
        """Store ``tokens`` (insert or replace); return the row's new version (1, 2, ...)."""
        ...

    async def delete(self, server: str, user_key: str) -> bool:
        """Forget the tokens; return whether there were any."""
        ...


__all__ = ["TokenStore"]
