"""One server's (or one user's) OAuth tokens, with an absolute expiry."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_SKEW_SECONDS = 30.0
"""Refresh this long before a token expires (clock skew and the call's own duration)."""

DEFAULT_REFRESH_FRACTION = 0.5
"""For short-lived tokens: refresh once this fraction of the lifetime is left, if that is less
than the skew (a 2-second token is refreshed after 1 s, not immediately)."""


@dataclass(frozen=True, slots=True)
class TokenSet:
    """Tokens from one token response (RFC 6749 §5.1), kept with absolute instants.

    Attributes:
        access_token: The bearer token sent to the MCP server; ``None`` until the first grant
            (``orchestrator mcp login`` stores only a refresh token).
        refresh_token: The refresh token, if the server issued one (rotated on every refresh by
            servers that rotate).
        expires_at: Epoch seconds at which ``access_token`` expires; ``None`` if the server gave
            no ``expires_in`` (then the token is used until a server rejects it).
        obtained_at: Epoch seconds at which the token response arrived.
        scope: The granted scope string, if returned.

    ``repr`` shows no secret.
    """

    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    obtained_at: float = 0.0
    scope: str | None = None

    @classmethod
    def from_response(
        cls, response: dict[str, Any], *, previous: TokenSet | None = None, now: float | None = None
    ) -> TokenSet:
        """Build from a token endpoint's JSON response.

        Args:
            response: The response (``access_token``, optional ``expires_in`` in seconds,
                ``refresh_token``, ``scope``).
            previous: The tokens refreshed; their refresh token is kept when the response
                carries none (servers that do not rotate, RFC 6749 §6).
            now: Epoch seconds of the response (tests); defaults to the clock.
        """
        at = time.time() if now is None else now
        expires_in = response.get("expires_in")
        refresh = response.get("refresh_token") or (previous.refresh_token if previous else None)
        return cls(
            access_token=str(response["access_token"]),
            refresh_token=refresh,
            expires_at=at + float(expires_in) if expires_in is not None else None,
            obtained_at=at,
            scope=response.get("scope"),
        )

    def refresh_at(self, skew_seconds: float, refresh_fraction: float) -> float | None:
        """Epoch seconds from which the access token should be refreshed (``None``: never).

        The margin before expiry is ``min(skew_seconds, lifetime * refresh_fraction)``.
        """
        if self.expires_at is None:
            return None
        lifetime = max(0.0, self.expires_at - self.obtained_at)
        return self.expires_at - min(skew_seconds, lifetime * refresh_fraction)

    def fresh(self, skew_seconds: float, refresh_fraction: float, now: float | None = None) -> bool:
        """Whether the access token exists and need not be refreshed yet."""
        if self.access_token is None:
            return False
        at = self.refresh_at(skew_seconds, refresh_fraction)
        return at is None or (time.time() if now is None else now) < at

    def usable(self, now: float | None = None) -> bool:
        """Whether the access token exists and has not expired (it may be due for refresh)."""
        if self.access_token is None:
            return False
        return self.expires_at is None or (time.time() if now is None else now) < self.expires_at

    def without_access(self) -> TokenSet:
        """The same tokens with the access token dropped (it was rejected)."""
        return replace(self, access_token=None, expires_at=None)

    def to_json(self) -> bytes:
        """Serialize (to be encrypted before it is stored anywhere)."""
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at,
                "obtained_at": self.obtained_at,
                "scope": self.scope,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> TokenSet:
        """Inverse of :meth:`to_json`."""
        raw = json.loads(data)
        return cls(
            access_token=raw.get("access_token"),
            refresh_token=raw.get("refresh_token"),
            expires_at=raw.get("expires_at"),
            obtained_at=float(raw.get("obtained_at") or 0.0),
            scope=raw.get("scope"),
        )


__all__ = ["DEFAULT_REFRESH_FRACTION", "DEFAULT_SKEW_SECONDS", "TokenSet"]
