"""A :class:`~orchestrator.mcp.tokens_base.TokenSource` over fixed tokens (tests, local use)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.errors import McpAuthRequiredError


class StaticTokenSource:
    """Hands out tokens from fixed lists, the next one of the list after each rejection.

    Args:
        tokens: Per server (or ``"server:user"`` for a per-user token), the tokens to hand out
            in order: the first is current; each :meth:`refresh_after_rejection` moves to the
            next; past the end a refresh is ``mcp_auth_required``.

    Attributes:
        refreshes: How many refreshes were asked for, per key (tests read it).
    """

    def __init__(self, tokens: Mapping[str, Sequence[str]]) -> None:
        self._tokens = {key: list(values) for key, values in tokens.items()}
        self._index: dict[str, int] = {}
        self.refreshes: dict[str, int] = {}

    @staticmethod
    def _key(server: str, user: str | None) -> str:
        return server if user is None else f"{server}:{user}"

    def _lookup(self, server: str, user: str | None) -> tuple[str, list[str]]:
        key = self._key(server, user)
        if key not in self._tokens and user is not None:
            key = server  # a server-wide token serves every user
        tokens = self._tokens.get(key)
        if not tokens:
            raise McpAuthRequiredError(
                f"no token for MCP server {server!r}; run `orchestrator mcp login {server}`",
                details={"server": server},
            )
        return key, tokens

    async def token(self, server: str, user: str | None) -> str:
        """The current token of ``server`` (or of ``user`` on it).

        Raises:
            McpAuthRequiredError: No tokens configured, or all were rejected.
        """
        key, tokens = self._lookup(server, user)
        index = self._index.get(key, 0)
        if index >= len(tokens):
            raise McpAuthRequiredError(
                f"every token of MCP server {server!r} was rejected", details={"server": server}
            )
        return tokens[index]

    async def refresh_after_rejection(self, server: str, user: str | None, rejected: str) -> str:
        """Move past ``rejected`` to the next token (once, however many callers saw it).

        Raises:
            McpAuthRequiredError: No token left.
        """
        key, tokens = self._lookup(server, user)
        self.refreshes[key] = self.refreshes.get(key, 0) + 1
        index = self._index.get(key, 0)
        if index < len(tokens) and tokens[index] == rejected:
            index += 1
            self._index[key] = index
        if index >= len(tokens):
            raise McpAuthRequiredError(
                f"the token of MCP server {server!r} was rejected and no other is left; run "
                f"`orchestrator mcp login {server}`",
                details={"server": server},
            )
        return tokens[index]


__all__ = ["StaticTokenSource"]
