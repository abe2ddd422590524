"""The effective-policy cache: Redis ``orch:tagcache:{tenant}:{user}:{intent}`` (30 min) under a
per-tenant generation counter, and an in-process memo in front of it.

Invalidation across processes (gateway and workers): every change of a tenant's tags increments
``orch:taggen:{tenant}`` (:meth:`TagCache.invalidate`). A cached policy carries the generation it
was resolved at and counts only while that is still the tenant's. Each process reads a tenant's
generation at most once per ``check_interval_seconds`` (0.25 s by default), so a running worker
sees a change made through the gateway within that interval plus one read, without restart; the
process that made the change sees it at once. Between two reads a decision costs no I/O: the memo
is a dict keyed by (tenant, user, role, intent).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from orchestrator.errors import StateError
from orchestrator.keys import Keys
from orchestrator.tags.base import StoredTag
from orchestrator.tags.effective import EffectivePolicy, PolicyPrincipal

CACHE_TTL_SECONDS = 1800
"""Default lifetime of a cached policy in Redis (DESIGN §15: 30 min)."""

GENERATION_CHECK_SECONDS = 0.25
"""Default bound on how stale a process's view of a tenant's generation may be."""

_MemoKey = tuple[str, str | None, str | None, str | None]


class TagCache:
    """Effective policies cached in Redis and in this process, per tenant generation.

    Args:
        redis: The state Redis (``Services.redis``).
        keys: The key builder (``tag_cache``, ``tag_generation``).
        ttl_seconds: Lifetime of a Redis entry (``ORCH_TAGS__CACHE_TTL_SECONDS``).
        check_interval_seconds: How long a tenant's generation is trusted in-process before it
            is read again (``ORCH_TAGS__GENERATION_CHECK_SECONDS``).
        max_entries: Memo size bound; the oldest entries go first.
        clock: Monotonic seconds (tests may pass their own).

    Methods raise :class:`~orchestrator.errors.StateError` when Redis fails.
    """

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        ttl_seconds: int = CACHE_TTL_SECONDS,
        check_interval_seconds: float = GENERATION_CHECK_SECONDS,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds
        self._interval = check_interval_seconds
        self._max = max_entries
        self._clock = clock
        self._generations: dict[str, tuple[int, float]] = {}
        self._policies: dict[_MemoKey, EffectivePolicy] = {}
        self._tags: dict[str, tuple[int, list[StoredTag]]] = {}

    async def generation(self, tenant_id: str) -> int:
        """The tenant's tag generation, read from Redis at most once per check interval."""
        now = self._clock()
        known = self._generations.get(tenant_id)
        if known is not None and now - known[1] < self._interval:
            return known[0]
        try:
            raw = await self._redis.get(self._keys.tag_generation(tenant_id))
        except RedisError as exc:
            raise _state_error("generation", exc) from exc
        value = int(raw) if raw is not None else 0
        self._generations[tenant_id] = (value, now)
        return value

    async def get(self, principal: PolicyPrincipal, intent: str | None) -> EffectivePolicy | None:
        """The cached policy of ``principal`` for ``intent`` at the tenant's current generation.

        Returns:
            The policy from the memo or Redis, or ``None`` (miss, stale, or another role).
        """
        generation = await self.generation(principal.tenant_id)
        key = (principal.tenant_id, principal.user_id, principal.role, intent)
        memo = self._policies.get(key)
        if memo is not None and memo.generation == generation:
            return memo
        try:
            raw = await self._redis.get(self._redis_key(principal, intent))
        except RedisError as exc:
            raise _state_error("get", exc) from exc
        policy = _parse(raw)
        if (policy is None or policy.generation != generation
                or policy.principal != principal or policy.intent != intent):  # fmt: skip
            return None
        self._remember(key, policy)
        return policy

    async def put(self, policy: EffectivePolicy) -> None:
        """Cache ``policy`` in this process and in Redis (``ttl_seconds``)."""
        p = policy.principal
        self._remember((p.tenant_id, p.user_id, p.role, policy.intent), policy)
        try:
            await self._redis.set(self._redis_key(p, policy.intent),
                                  json.dumps(policy.to_json()), ex=self._ttl)  # fmt: skip
        except RedisError as exc:
            raise _state_error("put", exc) from exc

    async def invalidate(self, tenants: Iterable[str]) -> None:
        """Start a new generation for each tenant: every cached policy of theirs is stale, here
        at once and in other processes within their check interval."""
        names = sorted(set(tenants))
        if not names:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for tenant in names:
                    pipe.incr(self._keys.tag_generation(tenant))
                values = await pipe.execute()
        except RedisError as exc:
            raise _state_error("invalidate", exc) from exc
        now = self._clock()
        for tenant, value in zip(names, values, strict=True):
            self._generations[tenant] = (int(value), now)
            self._tags.pop(tenant, None)

    def tags_of(self, tenant_id: str, generation: int) -> list[StoredTag] | None:
        """The tenant's candidate tags memoized at ``generation``, if any."""
        kept = self._tags.get(tenant_id)
        return kept[1] if kept is not None and kept[0] == generation else None

    def keep_tags(self, tenant_id: str, generation: int, tags: list[StoredTag]) -> None:
        """Memoize the tenant's candidate tags read at ``generation`` (one cold read per
        generation serves every user of the tenant)."""
        self._tags[tenant_id] = (generation, tags)

    def _remember(self, key: _MemoKey, policy: EffectivePolicy) -> None:
        if key not in self._policies and len(self._policies) >= self._max:
            self._policies.pop(next(iter(self._policies)))
        self._policies[key] = policy

    def _redis_key(self, principal: PolicyPrincipal, intent: str | None) -> str:
        return self._keys.tag_cache(principal.tenant_id, principal.user_id, intent)


def _parse(raw: Any) -> EffectivePolicy | None:
    if raw is None:
        return None
    try:
        return EffectivePolicy.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        return None  # an entry of another version of this code: a miss


def _state_error(operation: str, exc: Exception) -> StateError:
    return StateError(
        f"tag cache {operation} failed",
        details={"operation": f"tagcache.{operation}", "error": type(exc).__name__},
    )


__all__ = ["CACHE_TTL_SECONDS", "GENERATION_CHECK_SECONDS", "TagCache"]
