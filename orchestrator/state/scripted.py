"""What the Redis state store's parts share: the client, the key builder, running Lua scripts.

The store is split by concern (job state and events in ``redis.py``, leases and concurrency
slots in ``leases.py``); both run registered scripts the same way, through this base.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from orchestrator.errors import LeaseLostError, StateError
from orchestrator.keys import Keys
from orchestrator.state.turn_batch import TurnBatcher


def text(raw: bytes | str) -> str:
    """A Redis reply as text."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class ScriptedStore:
    """The Redis client and key builder, and how a registered script is run.

    Attributes:
        redis: A ``redis.asyncio.Redis`` client (bytes replies); the caller owns and closes it.
        keys: The key builder.
    """

    redis: Redis
    keys: Keys
    _batcher: TurnBatcher | None = None

    @property
    def batcher(self) -> TurnBatcher:
        """This store's :class:`~orchestrator.state.turn_batch.TurnBatcher` (made on first use)."""
        if self._batcher is None:
            self._batcher = TurnBatcher(self.redis)
        return self._batcher

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run one registered script, in the pipeline of the current loop turn's calls.

        Raises:
            LeaseLostError: The script refused with ``LEASE_LOST``.
            StateError: The script failed, or Redis is unavailable.
        """
        try:
            result = await self.batcher.call(script, [len(keys), *keys, *args])
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        if isinstance(result, ResponseError):
            if "LEASE_LOST" in str(result):
                raise LeaseLostError("this worker no longer holds the job's lease")
            raise StateError(f"state script failed: {result}") from result
        return result

    async def _evalsha_many(self, script: Any, calls: list[list[Any]]) -> list[Any]:
        """Run one registered script many times, in the pipeline of the current loop turn's
        calls (plain ``EVALSHA``; loaded again after a ``NOSCRIPT``).

        Args:
            calls: ``[numkeys, *keys, *args]`` of each call.

        Returns:
            Each call's reply, a script error as a ``ResponseError`` instance.

        Raises:
            redis.exceptions.RedisError: Redis is unavailable.
        """
        batcher = self.batcher
        return list(await asyncio.gather(*(batcher.call(script, call) for call in calls)))


__all__ = ["ScriptedStore", "text"]
