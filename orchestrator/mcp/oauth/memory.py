"""An in-memory :class:`~orchestrator.mcp.oauth.base.TokenStore` for unit tests and local dev."""

from __future__ import annotations

from orchestrator.mcp.oauth.tokens import TokenSet


class MemoryTokenStore:
    """Keeps token sets in a dict of this process (nothing is shared or encrypted)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[TokenSet, int]] = {}

    async def get(self, server: str, user_key: str) -> TokenSet | None:
        """Return the stored tokens, or ``None``."""
        row = self.rows.get((server, user_key))
        return row[0] if row else None

    async def put(self, server: str, user_key: str, tokens: TokenSet) -> int:
        """Store ``tokens``; return the new version."""
        version = self.rows.get((server, user_key), (None, 0))[1] + 1
        self.rows[(server, user_key)] = (tokens, version)
        return version

    async def delete(self, server: str, user_key: str) -> bool:
        """Forget the tokens; return whether there were any."""
        return self.rows.pop((server, user_key), None) is not None


__all__ = ["MemoryTokenStore"]
