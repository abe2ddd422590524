"""A new job's live state and its queue entry, in one Redis round trip when they share a client.

A submit created the job's state (the ``APPLY`` script: the hash and the ``job.queued`` event)
and then enqueued it (``ENQUEUE``): two round trips in a row on every submit. When the state
store and the queue use the same Redis client (one ``ORCH_REDIS__URL``, the usual case), both
calls go in one pipeline. Redis runs a pipeline's commands in order, so a worker woken by the
enqueue finds the state; and the enqueue is told to require the job's hash, so a creation that
failed (a script error, or ``NOSCRIPT`` after a Redis restart) never leaves a queued job without
a state: nothing is enqueued, the creation is retried once its script is loaded, then the
enqueue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from orchestrator.errors import QueueError, StateError
from orchestrator.queue.arq import ArqQueue
from orchestrator.state.base import StateStore
from orchestrator.state.redis import RedisStateStore
from orchestrator.types import JobId, JSONValue

_Call = tuple[Any, list[str], list[Any]]

ATTEMPTS = 3
"""Pipelines sent at most: a ``NOSCRIPT`` costs one more per script to load."""


async def create_and_enqueue(
    state: StateStore,
    queue: ArqQueue,
    job_id: JobId,
    *,
    workflow: str,
    version: str,
    inputs: Mapping[str, JSONValue],
    created_at: float,
    trace: Mapping[str, str] | None,
    priority: int,
    extra: Mapping[str, str | int | float],
) -> None:
    """Create the job's live state (``job.queued``) and enqueue ``run_job(job_id)``.

    Args:
        state: The state store; a :class:`RedisStateStore` on ``queue``'s client takes the
            one-round-trip path, any other store the two calls in a row.
        queue: The arq queue (arq id = job id, due now).
        job_id: The new job.
        workflow, version, inputs, created_at, extra: As :meth:`StateStore.create_job`
            (``created_at`` in epoch seconds).
        trace: W3C trace context carried to the worker.
        priority: 0-9 (:meth:`ArqQueue.enqueue`).

    Raises:
        StateError: The state could not be created (nothing was enqueued).
        QueueError: The state exists but the enqueue failed.
    """
    spec: dict[str, Any] = {"workflow": workflow, "version": version, "inputs": inputs,
                            "created_at": created_at, "arq_job_id": job_id, "trace": trace,
                            "extra": extra}  # fmt: skip
    if not isinstance(state, RedisStateStore) or state.redis is not queue.redis:
        await state.create_job(job_id, **spec)
        await queue.enqueue(job_id, trace=trace, priority=priority)
        return
    create = state.create_job_script(job_id, **spec)
    enqueue = queue.enqueue_script(job_id, trace=trace, priority=priority,
                                   requires_key=create[1][0])  # fmt: skip
    pending = [create, enqueue]
    for _ in range(ATTEMPTS):
        results = await _send(state, pending)
        if pending[0] is create:
            created = results.pop(0)
            if isinstance(created, NoScriptError):
                await _load(state, create)
                if isinstance(results[0], NoScriptError):
                    await _load(state, enqueue)
                continue  # the enqueue found no state (-1) or no script: both again
            if isinstance(created, Exception):
                raise StateError(f"state script failed: {created}") from created
            pending = [enqueue]
        enqueued = results[0]
        if isinstance(enqueued, NoScriptError):
            await _load(state, enqueue)
            continue
        if isinstance(enqueued, Exception):
            raise QueueError(f"cannot enqueue job {job_id}: {enqueued}") from enqueued
        if int(enqueued) == -1:
            raise QueueError(f"cannot enqueue job {job_id}: its state is gone")
        return
    if pending[0] is create:
        raise StateError("state script could not be loaded", details={"job_id": job_id})
    raise QueueError(f"cannot enqueue job {job_id}: the queue script could not be loaded")


async def _send(state: RedisStateStore, calls: list[_Call]) -> list[Any]:
    """One pipeline of plain ``EVALSHA`` calls (redis-py's ``Script`` in a pipeline would send
    ``SCRIPT EXISTS`` first: one more round trip). Errors come back in the results.

    Raises:
        StateError: Redis is unreachable (the calls may or may not have run: the job's row
            exists, its state may not; the caller's submit fails).
    """
    try:
        async with state.redis.pipeline(transaction=False) as pipe:
            for script, keys, args in calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))
    except RedisError as exc:
        raise StateError(f"Redis is unavailable: {exc}") from exc


async def _load(state: RedisStateStore, call: _Call) -> None:
    try:
        await state.redis.script_load(call[0].script)
    except RedisError as exc:
        raise StateError(f"Redis is unavailable: {exc}") from exc


__all__ = ["create_and_enqueue"]
