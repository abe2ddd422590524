"""HTTP authentication of MCP requests: an ``httpx2.Auth`` flow per server (RFC 6750 bearer).

``bearer`` servers get their token from the secret reference; ``oauth2`` servers from a
:class:`~orchestrator.mcp.tokens_base.TokenSource`. On a 401 the flow gets a new token once
(``refresh_after_rejection``; for ``bearer`` the secret reference is read again) and resends the
request once; a second 401, or no token to be had, is recorded on the call's
:class:`CallAuth` (a context variable the SDK's transport carries into its request tasks) so
the manager raises ``mcp_auth_required`` instead of the SDK's generic error. The flow never
raises into the SDK's transport: an exception there would end the connection's writer task.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextvars import ContextVar
from dataclasses import dataclass

import httpx2

from orchestrator.errors import McpAuthRequiredError, OrchestratorError
from orchestrator.mcp.config import BearerAuth, OAuth2Auth, ServerConfig, resolve_secret
from orchestrator.mcp.tokens_base import TokenSource


@dataclass(slots=True)
class CallAuth:
    """Per call (or connection): whose token to send, and why auth failed, if it did."""

    user: str | None = None
    failure: McpAuthRequiredError | None = None


CALL_AUTH: ContextVar[CallAuth | None] = ContextVar("orchestrator_mcp_call_auth", default=None)
"""Set by the manager around each call; read by :class:`ServerAuth` in the transport's tasks."""


class ServerAuth(httpx2.Auth):
    """Authorization headers for one HTTP MCP server (``bearer`` or ``oauth2``).

    Args:
        server: The server's configuration (its ``auth`` is bearer or oauth2).
        tokens: The token source for ``oauth2`` servers.
    """

    requires_request_body = True  # the request is sent again after a refresh

    def __init__(self, server: ServerConfig, tokens: TokenSource | None) -> None:
        self.server = server
        self.tokens = tokens

    def _user(self, call: CallAuth | None) -> str | None:
        auth = self.server.auth
        return call.user if isinstance(auth, OAuth2Auth) and auth.per_user and call else None

    async def current(self, user: str | None) -> str:
        """The token to send now.

        Raises:
            McpAuthRequiredError: None can be had.
        """
        auth = self.server.auth
        if isinstance(auth, BearerAuth):
            try:
                what = f"MCP server {self.server.name!r}: auth.token"
                return resolve_secret(auth.token, what=what).get_secret_value()
            except OrchestratorError as exc:
                raise McpAuthRequiredError(
                    exc.message, details={"server": self.server.name}
                ) from None
        if self.tokens is None:
            raise McpAuthRequiredError(
                f"MCP server {self.server.name!r} uses oauth2 but no token source is configured",
                details={"server": self.server.name},
            )
        return await self.tokens.token(self.server.name, user)

    async def _refreshed(self, user: str | None, rejected: str) -> str:
        auth = self.server.auth
        if isinstance(auth, BearerAuth):
            token = await self.current(user)  # the secret may have been rotated (env, file)
            if token == rejected:
                raise McpAuthRequiredError(
                    f"MCP server {self.server.name!r} rejected its bearer token",
                    details={"server": self.server.name},
                )
            return token
        assert self.tokens is not None  # current() succeeded before
        return await self.tokens.refresh_after_rejection(self.server.name, user, rejected)

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        """Send with the current token; on a 401 refresh once and resend once."""
        call = CALL_AUTH.get()
        user = self._user(call)
        token: str | None = None
        try:
            token = await self.current(user)
            request.headers["Authorization"] = f"Bearer {token}"
        except Exception as exc:  # never into the transport (see module docstring)
            self._fail(call, exc)
        response = yield request
        if response.status_code != 401 or token is None:
            return
        try:
            token = await self._refreshed(user, token)
        except Exception as exc:
            self._fail(call, exc)
            return
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self._fail(
                call,
                McpAuthRequiredError(
                    f"MCP server {self.server.name!r} rejected a freshly refreshed token",
                    details={"server": self.server.name},
                ),
            )

    def _fail(self, call: CallAuth | None, exc: Exception) -> None:
        if call is None:
            return
        if isinstance(exc, McpAuthRequiredError):
            call.failure = exc
        else:
            call.failure = McpAuthRequiredError(
                f"no token for MCP server {self.server.name!r} ({type(exc).__name__})",
                details={"server": self.server.name},
            )


__all__ = ["CALL_AUTH", "CallAuth", "ServerAuth"]
