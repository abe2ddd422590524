"""API keys: ``orch_<16 hex id>_<43 char secret>``, shown once, stored as a SHA-256 hash.

The secret is 256 random bits, so a fast hash is the standard practice (a password KDF guards
low-entropy secrets; it would only slow every request here). The id finds the row; the hash is
compared in constant time (:func:`hmac.compare_digest`). ``last_used_at`` is written at most once
per ``touch_interval_seconds``.

Verified keys may be cached in-process (:class:`~orchestrator.auth.keycache.VerifiedKeyCache`,
``ORCH_AUTH__API_KEY_CACHE_SECONDS``), so that most requests do not read the database. A key
revoked through this store fails on its next request; a key revoked by another process (the
CLI) is still accepted by a process that cached it for at most that many seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orchestrator.auth.keycache import CachedKey, VerifiedKeyCache
from orchestrator.auth.principal import Principal
from orchestrator.auth.roles import KEY_ROLES, Role
from orchestrator.errors import AuthenticationError, ConfigError, TraceError
from orchestrator.trace.records import from_db
from orchestrator.trace.schema import api_keys

KEY_PREFIX = "orch_"
_ID_HEX = 16


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One API key, without its secret.

    Attributes:
        id: The public part of the key (16 hex digits); audit rows name ``key:<id>``.
        tenant_id: The tenant it acts for.
        role: Its role.
        name: A label (who or what holds it).
        created_at: When it was created (UTC).
        revoked_at: When it was revoked, or ``None``.
        last_used_at: Its last use, to within the touch interval, or ``None``.
    """

    id: str
    tenant_id: str
    role: Role
    name: str | None
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


def generate() -> tuple[str, str, str]:
    """A new key: ``(key id, full key to hand out, hash to store)``."""
    key_id = secrets.token_hex(_ID_HEX // 2)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{KEY_PREFIX}{key_id}_{secret}", hash_secret(secret)


def hash_secret(secret: str) -> str:
    """SHA-256 of the secret part, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a key-shaped token, or ``None`` if it is not one."""
    body = token[len(KEY_PREFIX):] if token.startswith(KEY_PREFIX) else ""
    key_id, sep, secret = body[:_ID_HEX], body[_ID_HEX:_ID_HEX + 1], body[_ID_HEX + 1:]
    if sep != "_" or not secret or len(secret) > 200:
        return None
    try:
        int(key_id, 16)
    except ValueError:
        return None
    return key_id, secret


def looks_like_key(token: str) -> bool:
    """Whether ``token`` is meant as an API key (rather than a JWT or the metrics token)."""
    return token.startswith(KEY_PREFIX)


class ApiKeyStore:
    """API keys in the trace database (table ``api_keys``, Alembic revision 0003).

    Args:
        engine: The trace store's engine (``TraceStore.engine``); not disposed of here.
        touch_interval_seconds: Minimum time between two ``last_used_at`` writes of one key.
        cache: Where verified keys are kept between requests; ``None``: every
            :meth:`authenticate` reads the row.

    Methods raise :class:`~orchestrator.errors.TraceError` when the database fails.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        touch_interval_seconds: int = 60,
        cache: VerifiedKeyCache | None = None,
    ) -> None:
        self._engine = engine
        self._touch = timedelta(seconds=touch_interval_seconds)
        self.cache = cache if cache is not None else VerifiedKeyCache(0)

    async def create(
        self, tenant_id: str, role: Role | str, name: str | None = None
    ) -> tuple[ApiKeyRecord, str]:
        """Create a key.

        Returns:
            ``(record, full key)``: the full key exists only here; store it now.

        Raises:
            ConfigError: Empty tenant or a role keys cannot have.
        """
        if not tenant_id.strip() or len(tenant_id) > 200:
            raise ConfigError("a key needs a tenant (1-200 characters)",
                              details={"tenant": tenant_id})
        if str(role) not in {r.value for r in KEY_ROLES}:
            raise ConfigError(f"unknown role {role!r}",
                              details={"role": str(role), "roles": [r.value for r in KEY_ROLES]})
        key_id, key, digest = generate()
        record = ApiKeyRecord(key_id, tenant_id, Role(str(role)), name, datetime.now(UTC))
        async with self._transaction("create") as conn:
            await conn.execute(api_keys.insert().values(
                id=key_id, tenant_id=tenant_id, role=record.role.value, name=name,
                secret_hash=digest, created_at=record.created_at,
            ))  # fmt: skip
        return record, key

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, revoked or not."""
        row = await self._row(key_id)
        return _record(row) if row is not None else None

    async def list(self, tenant_id: str | None = None) -> list[ApiKeyRecord]:
        """Keys, oldest first, of one tenant or of all."""
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if tenant_id is not None:
            query = query.where(api_keys.c.tenant_id == tenant_id)
        async with self._transaction("list") as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key; its next request to this store is refused (another process that cached
        it accepts it for at most its cache TTL, ``ORCH_AUTH__API_KEY_CACHE_SECONDS``).

        Returns:
            Whether a live key was revoked.
        """
        query = (
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        try:
            async with self._transaction("revoke") as conn:
                result = await conn.execute(query)
        finally:
            self.cache.evict(key_id)  # also when the outcome is unknown
        return bool(result.rowcount)

    async def authenticate(self, token: str) -> Principal:
        """Check a full key and return its principal.

        A key found in the cache (same id, same secret hash, entry younger than its TTL) is not
        read again; anything else is checked against its row, and only a success is cached.

        Raises:
            AuthenticationError: Malformed, unknown, wrong secret, or revoked.
        """
        parsed = parse(token)
        given = hash_secret(parsed[1]) if parsed is not None else ""
        if parsed is not None and (cached := self.cache.get(parsed[0], given)) is not None:
            await self._touch_cached(parsed[0], cached)
            return cached.principal
        generation = self.cache.generation
        row = await self._row(parsed[0]) if parsed is not None else None
        # Compare against a dummy hash when the id is unknown, so timing does not tell.
        stored = row.secret_hash if row is not None else "0" * 64
        if row is None or not hmac.compare_digest(stored, given):
            raise AuthenticationError("the API key is not valid", details={"reason": "key_invalid"})
        if row.revoked_at is not None:
            raise AuthenticationError("the API key has been revoked",
                                      details={"reason": "key_revoked"})
        now = datetime.now(UTC)
        last = from_db(row.last_used_at)
        if last is None or now - last >= self._touch:
            await self._touch_used(row.id, now)
            last = now
        principal = Principal(subject=f"key:{row.id}", tenant_id=row.tenant_id,
                              role=Role(row.role), method="api_key")
        self.cache.put(row.id, row.secret_hash, principal, last, generation=generation)
        return principal

    async def _touch_cached(self, key_id: str, cached: CachedKey) -> None:
        now = datetime.now(UTC)
        if cached.last_used_at is None or now - cached.last_used_at >= self._touch:
            cached.last_used_at = now  # first: concurrent hits must not all write
            await self._touch_used(key_id, now)

    async def _touch_used(self, key_id: str, now: datetime) -> None:
        query = (
            update(api_keys)
            .where(api_keys.c.id == key_id,
                   or_(api_keys.c.last_used_at.is_(None),
                       api_keys.c.last_used_at < now - self._touch))
            .values(last_used_at=now)
        )  # fmt: skip
        async with self._transaction("touch") as conn:
            await conn.execute(query)

    async def _row(self, key_id: str) -> Any:
        async with self._transaction("get") as conn:
            return (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()

    @asynccontextmanager
    async def _transaction(self, operation: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.begin() as conn:
                yield conn
        except (SQLAlchemyError, OSError) as exc:
            raise TraceError(
                f"api key {operation} failed",
                details={"operation": f"api_keys.{operation}", "error": type(exc).__name__},
            ) from exc


def _record(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id, tenant_id=row.tenant_id, role=Role(row.role), name=row.name,
        created_at=from_db(row.created_at) or row.created_at,
        revoked_at=from_db(row.revoked_at), last_used_at=from_db(row.last_used_at),
    )  # fmt: skip


__all__ = ["KEY_PREFIX", "ApiKeyRecord", "ApiKeyStore", "generate", "hash_secret",
           "looks_like_key", "parse"]
