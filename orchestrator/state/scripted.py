"""What the Redis state store's parts share: the client, the key builder, running Lua scripts.

The store is split by concern (job state and events in ``redis.py``, leases and concurrency
slots in ``leases.py``); both run registered scripts the same way, through this base.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError, ResponseError

from orchestrator.errors import LeaseLostError, StateError
from orchestrator.keys import Keys


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

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except ResponseError as exc:
            if "LEASE_LOST" in str(exc):
                raise LeaseLostError("this worker no longer holds the job's lease") from None
            raise StateError(f"state script failed: {exc}") from exc
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc

    async def _evalsha_many(self, script: Any, calls: list[list[Any]]) -> list[Any]:
        """Run one registered script many times in one pipeline, with plain EVALSHA.

        redis-py's ``Script`` in a pipeline sends ``SCRIPT EXISTS`` before every pipeline: one
        more round trip per batch. Here the script is loaded once and again only after a
        ``NOSCRIPT`` (a restarted Redis); every call of a batch then failed, so it is re-run.
        """
        for _ in range(2):
            async with self.redis.pipeline(transaction=False) as pipe:
                for call in calls:
                    pipe.evalsha(script.sha, *call)
                results = await pipe.execute(raise_on_error=False)
            if not any(isinstance(r, NoScriptError) for r in results):
                return list(results)
            await self.redis.script_load(script.script)
        return list(results)


__all__ = ["ScriptedStore", "text"]
