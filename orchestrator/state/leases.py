"""Leases and concurrency slots of the Redis state store (DESIGN §7).

A running job's lease ``orch:lease:{job_id}`` names its worker and is indexed by deadline in
``orch:leases``; every change is one Lua script of ``scripts.py``. A reaper claims lapsed
leases (or, for a restarted worker with a stable id, its own); a concurrency slot is a member of
a sorted set that expires with its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisError

from orchestrator.errors import StateError
from orchestrator.state import scripts
from orchestrator.state.base import Lapsed
from orchestrator.state.codec import decode_job
from orchestrator.state.records import JobState
from orchestrator.state.scripted import ScriptedStore, text
from orchestrator.types import JobId


class LeaseOps(ScriptedStore):
    """The lease and slot methods of :class:`~orchestrator.state.base.StateStore`."""

    def _register_lease_scripts(self) -> None:
        self._acquire: Any = self.redis.register_script(scripts.ACQUIRE_LEASE)
        self._pickup: Any = self.redis.register_script(scripts.PICKUP)
        self._renew: Any = self.redis.register_script(scripts.RENEW_LEASE)
        self._release: Any = self.redis.register_script(scripts.RELEASE_LEASE)
        self._claim: Any = self.redis.register_script(scripts.CLAIM_LAPSED)
        self._slot: Any = self.redis.register_script(scripts.ACQUIRE_SLOT)

    def _lease_keys(self, job_id: JobId) -> list[str]:
        return [self.keys.lease(job_id), self.keys.leases(), self.keys.job(job_id)]

    async def acquire_lease(self, job_id: JobId, worker_id: str, ttl_seconds: float) -> str:
        ttl_ms = int(ttl_seconds * 1000)
        args = [worker_id, ttl_ms, int(time.time() * 1000) + ttl_ms, job_id]
        result = await self._run(self._acquire, self._lease_keys(job_id), args)
        return result.decode() if isinstance(result, bytes) else str(result)

    async def pickup(
        self, job_id: JobId, worker_id: str, ttl_seconds: float
    ) -> tuple[JobState | None, str]:
        keys, args = self.pickup_call(job_id, worker_id, ttl_seconds)
        answer, flat = await self._run(self._pickup, keys, args)
        return self.picked_up(job_id, answer, flat)

    def pickup_call(
        self, job_id: JobId, worker_id: str, ttl_seconds: float
    ) -> tuple[list[str], list[Any]]:
        """The keys and arguments of :meth:`pickup`'s script (:data:`scripts.PICKUP`), for a
        script that runs it with other work in the same call (``worker/arq_run.py``: arq's
        start check and the pickup in one round trip).

        Returns:
            ``(KEYS, ARGV)``: 3 keys (lease, lease index, job hash) and 4 arguments.
        """
        ttl_ms = int(ttl_seconds * 1000)
        return self._lease_keys(job_id), [worker_id, ttl_ms, int(time.time() * 1000) + ttl_ms,
                                          job_id]

    @staticmethod
    def picked_up(job_id: JobId, answer: Any, flat: Any) -> tuple[JobState | None, str]:
        """:meth:`pickup`'s result from its script's reply ``{answer, HGETALL reply}``."""
        raw = dict(zip(flat[::2], flat[1::2], strict=True))
        return (decode_job(job_id, raw) if raw else None), text(answer)

    async def renew_lease(
        self, job_id: JobId, worker_id: str, ttl_seconds: float, slot_key: str | None = None
    ) -> str:
        ttl_ms = int(ttl_seconds * 1000)
        args = [worker_id, ttl_ms, int(time.time() * 1000) + ttl_ms, job_id]
        keys = self._lease_keys(job_id) + ([slot_key] if slot_key else [])
        result = await self._run(self._renew, keys, args)
        return result.decode() if isinstance(result, bytes) else str(result)

    async def acquire_slot(
        self, slot_key: str, job_id: JobId, limit: int, ttl_seconds: float
    ) -> bool:
        now = int(time.time() * 1000)
        args = [job_id, now, now + int(ttl_seconds * 1000), limit]
        return bool(int(await self._run(self._slot, [slot_key], args)))

    async def release_slot(self, slot_key: str, job_id: JobId) -> None:
        try:
            await self.redis.zrem(slot_key, job_id)
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc

    async def release_lease(self, job_id: JobId, worker_id: str) -> None:
        keys = [self.keys.lease(job_id), self.keys.leases()]
        await self._run(self._release, keys, [worker_id, job_id])

    async def release_leases(self, leases: Sequence[tuple[JobId, str]]) -> None:
        calls = [[2, self.keys.lease(j), self.keys.leases(), w, j] for j, w in leases]
        try:
            results = await self._evalsha_many(self._release, calls)
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        for r in results:
            if isinstance(r, Exception):
                raise StateError(f"lease release failed: {r}")

    async def claim_lapsed(
        self,
        *,
        now_ms: int,
        claim_seconds: float,
        limit: int = 100,
        own_worker_id: str | None = None,
    ) -> list[Lapsed]:
        try:
            candidates = [
                text(raw)
                for raw in await self.redis.zrangebyscore(
                    self.keys.leases(), "-inf", now_ms, start=0, num=limit
                )
            ]
            if own_worker_id:
                candidates += await self._held_by(own_worker_id, exclude=set(candidates))
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        claimed: list[Lapsed] = []
        until = now_ms + int(claim_seconds * 1000)
        for job_id in candidates:
            kind, arq_id = await self._run(
                self._claim,
                self._lease_keys(job_id),
                [job_id, now_ms, until, own_worker_id or ""],
            )
            if int(kind):
                claimed.append(Lapsed(job_id, text(arq_id), ended=int(kind) == 2))
        return claimed

    async def _held_by(self, worker_id: str, *, exclude: set[str], page: int = 500) -> list[str]:
        """Indexed jobs whose lease names ``worker_id`` (one pass over the lease index)."""
        found: list[str] = []
        start = 0
        while True:
            ids = [text(r) for r in await self.redis.zrange(self.keys.leases(), start, start + page - 1)]
            if not ids:
                return found
            owners = await self.redis.mget([self.keys.lease(j) for j in ids])
            found += [j for j, o in zip(ids, owners, strict=True)
                      if o is not None and text(o) == worker_id and j not in exclude]
            start += page


__all__ = ["LeaseOps"]
