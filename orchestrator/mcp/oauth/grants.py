"""Token requests through authlib's httpx OAuth 2 client (RFC 6749 §4.4 and §6, RFC 8707).

One function, :func:`request_tokens`, runs one grant with a bounded retry of transient failures
(connection errors, timeouts, 5xx and 429 answers); a refusal by the authorization server
(``invalid_grant``, ``invalid_client``, ...) is not retried.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from orchestrator.mcp.oauth.spec import OAuth2Spec
from orchestrator.mcp.oauth.tokens import TokenSet

_STATUS_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPStatusError,)
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError,)
try:  # authlib's httpx integration runs on httpx2 when installed (the mcp v2 SDK brings it)
    import httpx2

    _STATUS_ERRORS += (httpx2.HTTPStatusError,)
    _TRANSPORT_ERRORS += (httpx2.TransportError,)
except ImportError:  # pragma: no cover - depends on the installed SDK
    pass


class GrantRefused(Exception):
    """The authorization server refused the grant (RFC 6749 §5.2); ``error`` is its code."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class GrantUnavailable(Exception):
    """The token endpoint could not be reached or kept failing; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def request_tokens(
    spec: OAuth2Spec,
    *,
    refresh_token: str | None,
    previous: TokenSet | None = None,
    timeout_seconds: float = 10.0,
    attempts: int = 3,
    backoff_seconds: float = 0.2,
) -> TokenSet:
    """Run the spec's grant once (with bounded retries) and return the new tokens.

    Args:
        spec: The server's OAuth client configuration.
        refresh_token: The refresh token to redeem (``refresh_token`` grant); ignored for
            ``client_credentials``.
        previous: The tokens being refreshed (their refresh token is kept if the server does not
            rotate it).
        timeout_seconds: Timeout of each HTTP request (connect, read, write, pool).
        attempts: Requests at most, when the endpoint is unreachable or answers 5xx/429.
        backoff_seconds: Wait before the second attempt; doubled for each later one.

    Returns:
        The tokens, with an absolute ``expires_at``.

    Raises:
        GrantRefused: The server answered with an OAuth error (not retried).
        GrantUnavailable: Every attempt failed in transport or with 5xx/429, or the answer was
            not a token response.
    """
    kwargs: dict[str, Any] = {}
    if spec.resource:
        kwargs["resource"] = spec.resource
    reason = "no attempt"
    for attempt in range(max(1, attempts)):
        if attempt:
            await asyncio.sleep(backoff_seconds * 2 ** (attempt - 1))
        try:
            async with AsyncOAuth2Client(
                client_id=spec.client_id,
                client_secret=spec.client_secret,
                token_endpoint_auth_method=(
                    "client_secret_basic" if spec.client_secret is not None else "none"
                ),
                scope=" ".join(spec.scopes) or None,
                timeout=timeout_seconds,
            ) as client:
                if spec.grant == "client_credentials":
                    response = await client.fetch_token(
                        spec.token_url, grant_type="client_credentials", **kwargs
                    )
                else:
                    if not refresh_token:
                        raise GrantRefused("no_refresh_token")
                    response = await client.refresh_token(
                        spec.token_url, refresh_token=refresh_token, **kwargs
                    )
        except OAuthError as exc:
            raise GrantRefused(str(exc.error or "oauth_error")) from exc
        except _STATUS_ERRORS as exc:
            status = exc.response.status_code  # type: ignore[attr-defined]
            if status < 500 and status != 429:
                raise GrantRefused(f"http_{status}") from exc
            reason = f"HTTP {status}"
        except _TRANSPORT_ERRORS as exc:
            reason = type(exc).__name__
        except ValueError as exc:  # a body that is not a token response
            raise GrantUnavailable("the token endpoint did not answer with a token") from exc
        else:
            if "access_token" not in response:
                raise GrantUnavailable("the token response has no access_token")
            return TokenSet.from_response(dict(response), previous=previous)
    raise GrantUnavailable(f"{reason} after {max(1, attempts)} attempts")


__all__ = ["GrantRefused", "GrantUnavailable", "request_tokens"]
