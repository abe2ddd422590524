"""Lua script calls issued in the same event-loop turn leave in one Redis pipeline.

A worker runs many jobs at once, and their writes come in waves: every job whose step just
ended publishes in the same turn of the loop. Sent one by one, each call is a round trip with
its own socket write and read; here a call is queued, and the first call of a turn schedules a
flush with ``loop.call_soon``, which runs after every callback already ready in this turn (asyncio
runs the ready queue as it stood when the turn began). The flush sends the queued calls as one
non-transactional pipeline of plain ``EVALSHA``: one write, one read, whatever the number of calls.

Order is kept: calls leave in the order they were made, on one connection, and Redis runs a
pipeline's commands in order. Each call still runs atomically on its own (it is one script); a
pipeline only shares the trip. A call refused with ``NOSCRIPT`` (a restarted Redis, ``SCRIPT
FLUSH``) did not run: its script is loaded and only the refused calls are sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError


@dataclass
class _Call:
    script: Any  # a registered ``AsyncScript``: ``.sha`` and ``.script``
    args: Sequence[Any]  # numkeys, keys..., args...
    done: asyncio.Future[Any]


@dataclass
class _Batch:
    loop: asyncio.AbstractEventLoop
    calls: list[_Call] = field(default_factory=list)


class TurnBatcher:
    """Sends the script calls made in one event-loop turn as one pipeline.

    Args:
        redis: The client (``redis.asyncio.Redis``); its pool gives each flush a connection.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._batch: _Batch | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    def call(self, script: Any, args: Sequence[Any]) -> asyncio.Future[Any]:
        """Queue one ``EVALSHA`` of ``script``; it leaves with the turn's other calls.

        Args:
            script: A script registered with ``redis.register_script`` (its ``sha`` and text).
            args: ``[numkeys, *keys, *args]``, as ``EVALSHA`` takes them after the sha.

        Returns:
            A future of the reply. A script's own error (``redis.error_reply``, a failed
            command) is its result as a ``ResponseError`` instance, not raised, so that callers
            map it; a failed connection is raised (``redis.exceptions.RedisError``).
        """
        loop = asyncio.get_running_loop()
        batch = self._batch
        if batch is None or batch.loop is not loop:
            batch = self._batch = _Batch(loop)
            loop.call_soon(self._flush, batch)
        done: asyncio.Future[Any] = loop.create_future()
        batch.calls.append(_Call(script, args, done))
        return done

    def _flush(self, batch: _Batch) -> None:
        if self._batch is batch:
            self._batch = None
        task = batch.loop.create_task(self._send(batch.calls))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _send(self, calls: list[_Call]) -> None:
        try:
            todo = calls
            for _ in range(2):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for call in todo:
                        pipe.evalsha(call.script.sha, *call.args)
                    results = await pipe.execute(raise_on_error=False)
                refused: list[_Call] = []
                for call, result in zip(todo, results, strict=True):
                    if isinstance(result, NoScriptError):
                        refused.append(call)
                    elif not call.done.done():
                        call.done.set_result(result)
                if not refused:
                    return
                for script in {id(c.script): c.script for c in refused}.values():
                    await self._redis.script_load(script.script)
                todo = refused
            for call in todo:  # refused twice: the script cannot be loaded
                if not call.done.done():
                    call.done.set_result(NoScriptError("NOSCRIPT after SCRIPT LOAD"))
        except BaseException as exc:
            for call in calls:
                if call.done.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    call.done.cancel()
                else:
                    call.done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise


__all__ = ["TurnBatcher"]
