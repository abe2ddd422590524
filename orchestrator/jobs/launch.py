"""A new job's live state and its queue entry, in one Redis round trip when they share a client.

A submit created the job's state (the ``APPLY`` script: the hash and the ``job.queued`` event)
and then enqueued it (``ENQUEUE``): two round trips in a row on every submit. When the state
store and the queue use the same Redis client (one ``ORCH_REDIS__URL``, the usual case), both
calls go in one pipeline. Redis runs a pipeline's commands in order, so a worker woken by the
enqueue finds the state; and the enqueue is told to require the job's hash, so a creation that
failed (a script error, or ``NOSCRIPT`` after a Redis restart) never leaves a queued job without
a state: nothing is enqueued, the creation is retried once its script is loaded, then the
enqueue.

Under load the submits of one process are launched by :class:`LaunchGroupCommit`: the jobs whose
rows were committed while a launch was in flight are launched together, their states in one
``CREATE_MANY`` call and then their queue entries in one ``ENQUEUE_MANY`` call (the batch
route's scripts), two round trips for the group instead of one per submit. The enqueue is sent
only once the creation succeeded, so here too no job is queued without a state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from orchestrator.errors import QueueError, StateError
from orchestrator.jobs.grouped import GroupCommit
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


MAX_GROUP = 500
"""Jobs launched per group at most (the rest go in the next)."""


@dataclass(frozen=True, slots=True)
class Launch:
    """One new job to launch: :func:`create_and_enqueue`'s arguments (``created_at`` in epoch
    seconds, ``priority`` 0-9)."""

    job_id: JobId
    workflow: str
    version: str
    inputs: Mapping[str, JSONValue]
    created_at: float
    trace: Mapping[str, str] | None
    priority: int
    extra: Mapping[str, str | int | float] = field(default_factory=dict)


class LaunchGroupCommit:
    """Launches the new jobs of concurrent submits of one process in shared round trips (a
    :class:`~orchestrator.jobs.grouped.GroupCommit`): a lone job by :func:`create_and_enqueue`
    (one round trip), a group by :meth:`RedisStateStore.create_jobs` then
    :meth:`ArqQueue.enqueue_many`. A failed group fails each of its submits with the error
    (Redis failed: some of its jobs may have a state; none without a state is queued).

    Args:
        state: The state store.
        queue: The arq queue.
        max_group: Jobs per group at most.
    """

    def __init__(
        self, state: RedisStateStore, queue: ArqQueue, *, max_group: int = MAX_GROUP
    ) -> None:
        self._state = state
        self._queue = queue
        self._group = GroupCommit(self._one, self._many, max_group=max_group,
                                  retry_alone=False, name="job-launch-group-commit")  # fmt: skip

    async def launch(self, job: Launch) -> None:
        """Create the job's live state (``job.queued``) and enqueue it; return once both are
        done.

        Raises:
            StateError: The state could not be created (the job was not enqueued).
            QueueError: The enqueue failed.
        """
        await self._group.put(job)

    async def _one(self, job: Launch) -> None:
        await create_and_enqueue(
            self._state, self._queue, job.job_id, workflow=job.workflow, version=job.version,
            inputs=job.inputs, created_at=job.created_at, trace=job.trace,
            priority=job.priority, extra=job.extra,
        )  # fmt: skip

    async def _many(self, jobs: list[Launch]) -> None:
        await self._state.create_jobs([
            (job.job_id, {"workflow": job.workflow, "version": job.version,
                          "inputs": job.inputs, "created_at": job.created_at,
                          "arq_job_id": job.job_id, "trace": job.trace, "extra": job.extra})
            for job in jobs
        ])  # fmt: skip
        queued = await self._queue.enqueue_many([(j.job_id, j.trace, j.priority) for j in jobs])
        if not all(queued):
            ids = [j.job_id for j, ok in zip(jobs, queued, strict=True) if not ok]
            raise QueueError(f"cannot enqueue jobs {ids}: the queue already had them")


__all__ = ["MAX_GROUP", "Launch", "LaunchGroupCommit", "create_and_enqueue"]
