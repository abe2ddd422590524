"""Turn a bearer credential into a :class:`Principal`: API key, JWT, or the metrics token."""

from __future__ import annotations

import hmac

from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.auth.apikeys import ApiKeyStore, looks_like_key
from orchestrator.auth.keycache import VerifiedKeyCache
from orchestrator.auth.principal import ANONYMOUS, Principal
from orchestrator.auth.roles import Role
from orchestrator.auth.tokens import JwtVerifier
from orchestrator.config import Settings
from orchestrator.errors import AuthenticationError

MAX_TOKEN_CHARS = 8192
"""Longer credentials are refused unread (JWTs with huge claims are an attack, not a user)."""


class Authenticator:
    """Checks credentials for the gateway.

    Args:
        settings: The process's settings (``auth`` section; ``gateway.api_key`` is the metrics
            token when ``auth.metrics_token`` is unset).
        engine: The trace store's engine, where API keys live.
    """

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.enabled = settings.auth.enabled
        self.keys = ApiKeyStore(
            engine,
            touch_interval_seconds=settings.auth.key_touch_interval_seconds,
            cache=VerifiedKeyCache(settings.auth.api_key_cache_seconds),
        )
        self.jwt = JwtVerifier(settings.auth)
        token = settings.auth.metrics_token or settings.gateway.api_key
        self._metrics_token = token.get_secret_value() if token else None

    async def authenticate(self, credential: str | None) -> Principal:
        """The principal of ``credential`` (the bearer token), or the anonymous one if disabled.

        Raises:
            AuthenticationError: Missing or invalid credentials (``details["reason"]``).
        """
        if not self.enabled:
            return ANONYMOUS
        if not credential:
            raise AuthenticationError("credentials are required",
                                      details={"reason": "credentials_missing"})
        if len(credential) > MAX_TOKEN_CHARS:
            raise AuthenticationError("the credential is too long",
                                      details={"reason": "credentials_invalid"})
        if looks_like_key(credential):
            return await self.keys.authenticate(credential)
        if self._metrics_token is not None and hmac.compare_digest(
            credential.encode(), self._metrics_token.encode()
        ):
            return Principal(subject="metrics", tenant_id=None, role=Role.METRICS,
                             method="metrics_token")
        if credential.count(".") == 2:
            return await self.jwt.authenticate(credential)
        raise AuthenticationError("the credential is not valid",
                                  details={"reason": "credentials_invalid"})


__all__ = ["MAX_TOKEN_CHARS", "Authenticator"]
