"""Durable-call records in Redis, beside the step checkpoints (DESIGN §13)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from orchestrator.durable.base import CallRecord
from orchestrator.errors import StateError
from orchestrator.keys import Keys
from orchestrator.types import JobId, StepName


class RedisCallStore:
    """:class:`~orchestrator.durable.base.CallStore` on Redis.

    A record is a string at ``orch:state:{job_id}:{step}:call:{seq}`` with the state TTL. It is
    written without lease fencing on purpose: the call it records did happen, so even a worker
    that lost its lease should leave the result for the next one to replay rather than repeat.

    Args:
        redis: A ``redis.asyncio.Redis`` client (bytes replies); the caller owns it.
        keys: The key builder.
        ttl_seconds: The records' lifetime (``ORCH_STATE__TTL_SECONDS``, as the checkpoints).
    """

    def __init__(self, redis: Redis, *, keys: Keys, ttl_seconds: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_seconds = ttl_seconds

    async def get_call(self, job_id: JobId, step: StepName, seq: int) -> CallRecord | None:
        try:
            raw = await self.redis.get(self.keys.call(job_id, step, seq))
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        return None if raw is None else CallRecord.decode(bytes(raw))

    async def put_call(self, job_id: JobId, step: StepName, seq: int, record: CallRecord) -> None:
        try:
            await self.redis.set(
                self.keys.call(job_id, step, seq), record.encode(), ex=self.ttl_seconds
            )
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc


__all__ = ["RedisCallStore"]
