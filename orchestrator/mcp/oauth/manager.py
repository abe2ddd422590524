"""The token manager: a valid access token per MCP server (or per server and user), refreshed
ahead of expiry with one refresh for all processes (DESIGN §14).

Where tokens live:

- PostgreSQL (:class:`~orchestrator.mcp.oauth.store.SqlTokenStore`), Fernet-encrypted: the source
  of truth, surviving restarts (``orchestrator mcp login`` writes the first refresh token there).
- Redis (``Keys.mcp_token``), encrypted with the same key, until the token is due for refresh:
  the hot path is one Redis GET and a decryption.

A refresh takes an in-process lock, then a redis-py :class:`~redis.asyncio.lock.Lock` per
(server, user) with a timeout and a bounded wait, then **re-reads storage**: if another process
refreshed meanwhile its token is used, so N workers cause one token request and a rotating
refresh token is redeemed exactly once. The MCP SDK's own ``OAuthClientProvider`` only guards
refreshes with an in-process lock and may start a browser flow; this manager never does: when no
token can be had it raises :class:`~orchestrator.errors.McpAuthRequiredError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import LockError

from orchestrator.errors import ConfigError, McpAuthRequiredError
from orchestrator.keys import Keys
from orchestrator.mcp.oauth.base import TokenStore
from orchestrator.mcp.oauth.crypto import TokenCipher
from orchestrator.mcp.oauth.grants import GrantRefused, GrantUnavailable, request_tokens
from orchestrator.mcp.oauth.spec import OAuth2Spec
from orchestrator.mcp.oauth.store import SqlTokenStore
from orchestrator.mcp.oauth.tokens import DEFAULT_REFRESH_FRACTION, DEFAULT_SKEW_SECONDS, TokenSet

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from orchestrator.mcp.oauth.settings import McpTokenSettings

_log = structlog.get_logger("orchestrator.mcp.oauth")
_UNAVAILABLE = "token_endpoint_unavailable"

MCP_TOKEN_CACHE_MAX_SECONDS = 300
"""Redis keeps a token without an expiry this long (it is re-read from PostgreSQL after)."""


class TokenManager:
    """Hands out valid OAuth access tokens for MCP servers; satisfies ``TokenSource``.

    Args:
        specs: Server name → its OAuth 2 configuration (only servers with ``auth: oauth2``).
        redis: An async Redis client (``decode_responses=False``): the cache and the locks.
        store: Durable token storage (:class:`SqlTokenStore` in production).
        cipher: Encrypts the Redis copy of tokens.
        keys: Redis key builder (the deployment's key prefix).
        skew_seconds: Refresh this long before expiry at most.
        refresh_fraction: ... or once this fraction of a short token's lifetime is left.
        http_timeout_seconds: Timeout of each token endpoint request.
        attempts: Token endpoint requests per refresh at most (transient failures only).
        lock_wait_seconds: How long a caller waits for another process's refresh; defaults to
            the worst case of one refresh plus a margin.
        lock_timeout_seconds: When a lock held by a dead process lapses; defaults likewise.
    """

    def __init__(
        self,
        specs: Mapping[str, OAuth2Spec],
        *,
        redis: Redis,
        store: TokenStore,
        cipher: TokenCipher,
        keys: Keys | None = None,
        skew_seconds: float = DEFAULT_SKEW_SECONDS,
        refresh_fraction: float = DEFAULT_REFRESH_FRACTION,
        http_timeout_seconds: float = 10.0,
        attempts: int = 3,
        lock_wait_seconds: float | None = None,
        lock_timeout_seconds: float | None = None,
    ) -> None:
        self.specs = dict(specs)
        self.redis = redis
        self.store = store
        self.cipher = cipher
        self.keys = keys or Keys()
        self.skew_seconds = skew_seconds
        self.refresh_fraction = refresh_fraction
        self.http_timeout_seconds = http_timeout_seconds
        self.attempts = max(1, attempts)
        worst_refresh = self.attempts * http_timeout_seconds + 0.2 * 2**self.attempts
        self.lock_wait_seconds = lock_wait_seconds or worst_refresh + 5.0
        self.lock_timeout_seconds = lock_timeout_seconds or worst_refresh + 5.0
        self._local: dict[tuple[str, str], asyncio.Lock] = {}
        self._owned_engine: AsyncEngine | None = None

    @classmethod
    def from_settings(
        cls,
        settings: McpTokenSettings,
        specs: Mapping[str, OAuth2Spec],
        *,
        redis: Redis,
        engine: AsyncEngine | str,
        keys: Keys | None = None,
        **options: Any,
    ) -> TokenManager:
        """Build the production manager: tokens in the trace database, cached in Redis.

        Args:
            settings: The ``mcp`` settings section (its ``token_encryption_key``).
            specs: Server name → OAuth 2 configuration.
            redis: The process's async Redis client (bytes responses).
            engine: The trace database's SQLAlchemy async engine (migrated to ``0004`` or
                later), or its URL: the manager then opens a small engine of its own (2
                connections) and :meth:`close` disposes of it.
            keys: The deployment's key builder (``Keys(settings.state.key_prefix)``).
            **options: Tuning passed to the constructor (``skew_seconds``, ...).

        Raises:
            ConfigError: ``ORCH_MCP__TOKEN_ENCRYPTION_KEY`` is unset or not a Fernet key.
        """
        cipher = TokenCipher.from_setting(settings.token_encryption_key)
        owned = None
        if isinstance(engine, str):
            from orchestrator.trace.engine import create_engine

            engine = owned = create_engine(engine, pool_size=2)
        store = SqlTokenStore(engine, cipher)
        manager = cls(specs, redis=redis, store=store, cipher=cipher, keys=keys, **options)
        manager._owned_engine = owned
        return manager

    async def close(self) -> None:
        """Dispose of the engine :meth:`from_settings` opened from a URL (the Redis client and
        a given engine belong to the caller)."""
        if self._owned_engine is not None:
            await self._owned_engine.dispose()
            self._owned_engine = None

    async def token(self, server: str, user: str | None) -> str:
        """Return an access token for ``server`` (and ``user`` when the server is ``per_user``).

        Served from Redis while fresh; else refreshed (once across all processes) first.

        Raises:
            McpAuthRequiredError: No token can be had: never logged in, refresh refused (revoked,
                expired) or the token endpoint down after bounded retries.
            ConfigError: ``server`` has no OAuth configuration, or a stored token cannot be
                decrypted with the configured key.
        """
        spec, user_key = self._resolve(server, user)
        cached = await self._cached(server, user_key)
        if cached is not None and self._good(cached, None):
            return str(cached.access_token)
        return await self._refresh(server, user_key, spec, rejected=None)

    async def refresh_after_rejection(self, server: str, user: str | None, rejected: str) -> str:
        """Return a new access token after the MCP server answered 401 to ``rejected``.

        Refreshes once, unless another process already replaced the rejected token (then that
        token is returned). The caller retries its request once with the result.

        Raises:
            McpAuthRequiredError: The refresh failed; later calls fail fast with the same error
                until the server can issue tokens again (or ``orchestrator mcp login``).
        """
        spec, user_key = self._resolve(server, user)
        return await self._refresh(server, user_key, spec, rejected=rejected)

    async def store_refresh_token(self, server: str, user: str | None, refresh_token: str) -> None:
        """Redeem ``refresh_token`` at once and store the result (``orchestrator mcp login``).

        Raises:
            McpAuthRequiredError: The authorization server refused the refresh token.
            ConfigError: ``server`` is unknown or does not use the ``refresh_token`` grant.
        """
        spec, user_key = self._resolve(server, user)
        if spec.grant != "refresh_token":
            raise ConfigError(
                f"MCP server {server!r} uses the {spec.grant} grant: it needs no login"
            )
        async with self._exclusive(server, user_key):
            tokens = await self._grant(
                server, user_key, spec, TokenSet(refresh_token=refresh_token)
            )
            version = await self._save(server, user_key, tokens)
            _logged_refresh(server, user_key, spec, tokens, version, False)

    async def store_tokens(self, server: str, user: str | None, tokens: TokenSet) -> None:
        """Store tokens obtained outside the manager (the interactive ``mcp login``).

        Raises:
            ConfigError: ``server`` is unknown.
            McpAuthRequiredError: Another refresh held the lock for longer than the wait.
        """
        spec, user_key = self._resolve(server, user)
        async with self._exclusive(server, user_key):
            version = await self._save(server, user_key, tokens)
            _logged_refresh(server, user_key, spec, tokens, version, False)

    async def forget(self, server: str, user: str | None) -> bool:
        """Delete the stored and cached tokens; return whether any were stored."""
        _spec, user_key = self._resolve(server, user)
        await self.redis.delete(self.keys.mcp_token(server, user_key))
        return await self.store.delete(server, user_key)

    def _resolve(self, server: str, user: str | None) -> tuple[OAuth2Spec, str]:
        spec = self.specs.get(server)
        if spec is None:
            raise ConfigError(f"MCP server {server!r} has no oauth2 configuration")
        if not spec.per_user:
            return spec, ""
        if not user:
            raise McpAuthRequiredError(
                f"MCP server {server!r} keeps tokens per user and this call has no user",
                details={"server": server},
            )
        return spec, user

    def _good(self, tokens: TokenSet, rejected: str | None) -> bool:
        return tokens.fresh(self.skew_seconds, self.refresh_fraction) and (
            rejected is None or tokens.access_token != rejected
        )

    async def _cached(self, server: str, user_key: str) -> TokenSet | None:
        key = self.keys.mcp_token(server, user_key)
        blob = await self.redis.get(key)
        if blob is None:
            return None
        try:
            return self.cipher.decrypt(blob)
        except ConfigError:
            # Written under a key rotated out since: a miss; PostgreSQL decides (and says so).
            await self.redis.delete(key)
            return None

    async def _cache(self, server: str, user_key: str, tokens: TokenSet) -> None:
        key = self.keys.mcp_token(server, user_key)
        due = tokens.refresh_at(self.skew_seconds, self.refresh_fraction)
        ttl_ms = int(
            (due - time.time()) * 1000 if due is not None else MCP_TOKEN_CACHE_MAX_SECONDS * 1000
        )
        if tokens.access_token is None or ttl_ms <= 0:
            await self.redis.delete(key)
        else:
            await self.redis.set(key, self.cipher.encrypt(tokens), px=ttl_ms)

    async def _save(self, server: str, user_key: str, tokens: TokenSet) -> int:
        version = await self.store.put(server, user_key, tokens)
        await self._cache(server, user_key, tokens)
        return version

    def _local_lock(self, server: str, user_key: str) -> asyncio.Lock:
        return self._local.setdefault((server, user_key), asyncio.Lock())

    @contextlib.asynccontextmanager
    async def _exclusive(self, server: str, user_key: str) -> AsyncIterator[None]:
        # Both locks, for writers that must not race a refresh (login); bounded waits.
        local = self._local_lock(server, user_key)
        try:
            await asyncio.wait_for(local.acquire(), self.lock_wait_seconds)
        except TimeoutError:
            raise self._auth_required(server, user_key, "refresh_lock_timeout") from None
        try:
            async with self._remote_lock(server, user_key):
                yield
        except LockError:
            raise self._auth_required(server, user_key, "refresh_lock_timeout") from None
        finally:
            local.release()

    def _remote_lock(self, server: str, user_key: str) -> _RemoteLock:
        lock = self.redis.lock(
            self.keys.mcp_token_lock(server, user_key),
            timeout=self.lock_timeout_seconds,
            blocking_timeout=self.lock_wait_seconds,
            sleep=0.05,
        )
        return _RemoteLock(lock)

    async def _refresh(
        self, server: str, user_key: str, spec: OAuth2Spec, *, rejected: str | None
    ) -> str:
        local = self._local_lock(server, user_key)
        try:
            await asyncio.wait_for(local.acquire(), self.lock_wait_seconds)
        except TimeoutError:
            return await self._after_lock_timeout(server, user_key, rejected)
        try:
            # Another coroutine of this process may have refreshed while we waited.
            cached = await self._cached(server, user_key)
            if cached is not None and self._good(cached, rejected):
                return str(cached.access_token)
            async with self._remote_lock(server, user_key):
                return await self._refresh_locked(server, user_key, spec, rejected)
        except LockError:
            return await self._after_lock_timeout(server, user_key, rejected)
        finally:
            local.release()

    async def _refresh_locked(
        self, server: str, user_key: str, spec: OAuth2Spec, rejected: str | None
    ) -> str:
        # Re-read under the lock: another process may have refreshed (and rotated the refresh
        # token) while we waited; redeeming our stale copy would fail or fork the token chain.
        stored = await self.store.get(server, user_key)
        if stored is not None and self._good(stored, rejected):
            await self._cache(server, user_key, stored)
            return str(stored.access_token)
        if spec.grant == "refresh_token" and (stored is None or not stored.refresh_token):
            raise self._auth_required(server, user_key, "not_logged_in")
        try:
            tokens = await self._grant(server, user_key, spec, stored)
        except McpAuthRequiredError as exc:
            if spec.grant == "refresh_token" and exc.details["reason"] != _UNAVAILABLE:
                # The refresh token is dead (revoked, expired): forget it, so later calls fail
                # at once without a token request, until `mcp login` stores a new one.
                await self._save(server, user_key, TokenSet(obtained_at=time.time()))
            elif rejected is not None and stored is not None:
                # The rejected token is dead: later calls do not send it again.
                await self._save(server, user_key, stored.without_access())
            raise
        version = await self._save(server, user_key, tokens)
        _logged_refresh(server, user_key, spec, tokens, version, rejected is not None)
        return str(tokens.access_token)

    async def _after_lock_timeout(self, server: str, user_key: str, rejected: str | None) -> str:
        # Another refresh took longer than our wait: use its result if it landed, else give up
        # (bounded) rather than queue behind it.
        stored = await self.store.get(server, user_key)
        if stored is not None and stored.usable() and stored.access_token != rejected:
            return str(stored.access_token)
        raise self._auth_required(server, user_key, "refresh_lock_timeout")

    async def _grant(
        self, server: str, user_key: str, spec: OAuth2Spec, stored: TokenSet | None
    ) -> TokenSet:
        try:
            return await request_tokens(
                spec,
                refresh_token=stored.refresh_token if stored else None,
                previous=stored,
                timeout_seconds=self.http_timeout_seconds,
                attempts=self.attempts,
            )
        except GrantRefused as exc:
            _log.warning("mcp.token.refresh_failed", server=server, user=user_key or None,
                         grant=spec.grant, error=exc.error)  # fmt: skip
            raise self._auth_required(server, user_key, exc.error) from None
        except GrantUnavailable as exc:
            _log.warning("mcp.token.refresh_failed", server=server, user=user_key or None,
                         grant=spec.grant, error=_UNAVAILABLE, reason=exc.reason)  # fmt: skip
            raise self._auth_required(server, user_key, _UNAVAILABLE) from None

    def _auth_required(self, server: str, user_key: str, reason: str) -> McpAuthRequiredError:
        spec = self.specs[server]
        if spec.grant == "refresh_token":
            fix = f"run `orchestrator mcp login {server}`"
            if user_key:
                fix += f" --user {user_key}"
        else:
            fix = "check the server's OAuth client credentials and token URL"
        if reason == _UNAVAILABLE:
            fix = "the token endpoint is unreachable; retry later or " + fix
        return McpAuthRequiredError(
            f"MCP server {server!r} needs authorization ({reason}): {fix}",
            details={"server": server, "user": user_key or None, "reason": reason},
        )


def _logged_refresh(
    server: str, user_key: str, spec: OAuth2Spec, tokens: TokenSet, version: int, rejected: bool
) -> None:
    # Names and numbers only: token values never reach a log line (the Redactor is a backstop).
    lifetime = tokens.expires_at - tokens.obtained_at if tokens.expires_at is not None else None
    _log.info(
        "mcp.token.refreshed",
        server=server,
        user=user_key or None,
        grant=spec.grant,
        after_rejection=rejected,
        expires_in_seconds=round(lifetime, 3) if lifetime is not None else None,
        version=version,
    )


class _RemoteLock:
    """redis-py's lock as a context manager whose acquisition is bounded (``LockError`` when the
    wait runs out) and whose release tolerates a lock that lapsed meanwhile."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock

    async def __aenter__(self) -> None:
        if not await self.lock.acquire():
            raise LockError("timed out waiting for another process's token refresh")  # type: ignore[no-untyped-call]

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(LockError):
            await self.lock.release()


__all__ = ["MCP_TOKEN_CACHE_MAX_SECONDS", "TokenManager"]
