"""The Redis state store: job hash, checkpoints and event stream (DESIGN §4); its leases and
concurrency slots are :class:`~orchestrator.state.leases.LeaseOps`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from orchestrator.errors import StateError
from orchestrator.events import Event
from orchestrator.keys import Keys
from orchestrator.serialization import dumps
from orchestrator.state import scripts
from orchestrator.state.base import Checkpoint, NewEvent, Write
from orchestrator.state.blob import pack, unpack
from orchestrator.state.codec import answer_field, decode_job, question_field, step_field
from orchestrator.state.leases import LeaseOps
from orchestrator.state.records import JobState
from orchestrator.types import JobId, JobStatus, JSONValue, StepName


def _flat(fields: Mapping[str, str | int | float]) -> list[str]:
    out: list[str] = []
    for k, v in fields.items():
        out.append(k)
        out.append(str(v))
    return out


_QUEUED = JobStatus.QUEUED.value  # an Enum member's ``.value`` is a slow descriptor


def _created(
    workflow: str,
    version: str,
    inputs: Mapping[str, JSONValue],
    created_at: float,
    arq_job_id: str,
    trace: Mapping[str, str] | None,
    extra: Mapping[str, str | int | float] | None,
) -> tuple[dict[str, str | int | float], NewEvent]:
    """A new job's hash fields and its ``job.queued`` event."""
    fields: dict[str, str | int | float] = {
        "status": _QUEUED,
        "workflow": workflow,
        "version": version,
        "inputs": dumps(dict(inputs)).decode(),
        "created_at": repr(created_at),
        "arq_job_id": arq_job_id,
        "trace": dumps(dict(trace or {})).decode(),
        **(extra or {}),
    }
    return fields, NewEvent("job.queued", data={"workflow": workflow})


def _event_args(event: NewEvent | None) -> list[str]:
    if event is None:
        return ["", "", "", str(time.time()), ""]
    return [
        event.type,
        event.step or "",
        "" if event.attempt is None else str(event.attempt),
        repr(event.ts),
        dumps(event.data).decode(),
    ]


CREATE_CHUNK = 1000
"""Jobs per ``CREATE_MANY`` call (a batch's most): one script call blocks Redis while it runs,
about a millisecond per thousand jobs."""


class RedisStateStore(LeaseOps):
    """:class:`~orchestrator.state.base.StateStore` on Redis ≥ 6.2 (streams, Lua).

    Args:
        redis: A ``redis.asyncio.Redis`` client (bytes replies); the caller owns and closes it.
        keys: The key builder.
        ttl_seconds: Post-job lifetime of the job's keys (also set on every write).
        events_maxlen: Approximate cap on a job's stream length.
        compress_threshold_bytes: Outputs above this size are stored zlib-compressed.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        keys: Keys,
        ttl_seconds: int,
        events_maxlen: int,
        compress_threshold_bytes: int = 64 * 1024,
    ) -> None:
        self.redis = redis
        self.compress_threshold_bytes = compress_threshold_bytes
        self.keys = keys
        self.ttl_seconds = ttl_seconds
        self.events_maxlen = events_maxlen
        self._apply = redis.register_script(scripts.APPLY)
        self._apply_batch = redis.register_script(scripts.APPLY_BATCH)
        self._create_many = redis.register_script(scripts.CREATE_MANY)
        self._finish = redis.register_script(scripts.FINISH)
        self._cancel = redis.register_script(scripts.REQUEST_CANCEL)
        self._answer = redis.register_script(scripts.ANSWER)
        self._retry = redis.register_script(scripts.RETRY)
        self._register_lease_scripts()

    def _job_keys(self, job_id: JobId) -> list[str]:
        return [self.keys.job(job_id), self.keys.events(job_id), self.keys.lease(job_id)]

    def _head(self, worker_id: str | None) -> list[Any]:
        return [self.events_maxlen, self.ttl_seconds, worker_id or ""]

    async def create_job(
        self,
        job_id: JobId,
        *,
        workflow: str,
        version: str,
        inputs: Mapping[str, JSONValue],
        created_at: float,
        arq_job_id: str,
        trace: Mapping[str, str] | None = None,
        extra: Mapping[str, str | int | float] | None = None,
    ) -> str:
        fields, event = _created(workflow, version, inputs, created_at, arq_job_id, trace, extra)
        return str(await self.update(job_id, fields, event))

    def create_job_script(
        self,
        job_id: JobId,
        *,
        workflow: str,
        version: str,
        inputs: Mapping[str, JSONValue],
        created_at: float,
        arq_job_id: str,
        trace: Mapping[str, str] | None = None,
        extra: Mapping[str, str | int | float] | None = None,
    ) -> tuple[Any, list[str], list[Any]]:
        """The ``APPLY`` call of :meth:`create_job`, to be sent with other calls in one pipeline
        (``orchestrator/jobs/launch.py``); the job's hash, :meth:`Keys.job`, is its first key.

        Returns:
            ``(registered script, keys, args)``; the reply is the ``job.queued`` event's id.
        """
        fields, event = _created(workflow, version, inputs, created_at, arq_job_id, trace, extra)
        args = [*self._head(None), "", *_event_args(event), *_flat(fields)]
        return self._apply, self._job_keys(job_id), args

    async def create_jobs(self, jobs: Sequence[tuple[JobId, Mapping[str, Any]]]) -> None:
        """:meth:`create_job` for many jobs in one round trip (a batch submit): one
        ``CREATE_MANY`` call per :data:`CREATE_CHUNK` jobs, their fields as one JSON argument
        (redis-py packs each argument in Python: per-job arguments were most of a batch's
        cost).

        Args:
            jobs: ``(job_id, create_job's keyword arguments)`` of each job.

        Raises:
            StateError: Redis failed (some of the jobs may have been created).
        """
        try:
            for at in range(0, len(jobs), CREATE_CHUNK):
                chunk = jobs[at : at + CREATE_CHUNK]
                keys: list[str] = []
                specs: list[list[Any]] = []
                for job_id, spec in chunk:
                    fields, event = _created(
                        spec["workflow"], spec["version"], spec["inputs"], spec["created_at"],
                        spec["arq_job_id"], spec.get("trace"), spec.get("extra"),
                    )  # fmt: skip
                    keys += (self.keys.job(job_id), self.keys.events(job_id))
                    specs.append([_flat(fields), dumps(event.data).decode()])
                args: list[str | int | bytes] = [self.events_maxlen, self.ttl_seconds,
                                                 repr(time.time()), dumps(specs)]  # fmt: skip
                await self._create_many(keys=keys, args=args)
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc

    async def delete_jobs(self, job_ids: Sequence[JobId]) -> None:
        """Undo :meth:`create_jobs` for jobs that will never run (their rows were refused):
        delete their hashes and event streams, :data:`CREATE_CHUNK` jobs per ``DEL``.

        Raises:
            StateError: Redis failed (the states left expire with their TTL).
        """
        try:
            for at in range(0, len(job_ids), CREATE_CHUNK):
                chunk = job_ids[at : at + CREATE_CHUNK]
                await self.redis.delete(*[key for job_id in chunk
                                          for key in (self.keys.job(job_id),
                                                      self.keys.events(job_id))])  # fmt: skip
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc

    async def get_job(self, job_id: JobId) -> JobState | None:
        try:
            raw = await self.redis.hgetall(self.keys.job(job_id))  # type: ignore[misc]
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        return decode_job(job_id, raw) if raw else None

    async def update(
        self,
        job_id: JobId,
        fields: Mapping[str, str | int | float],
        event: NewEvent | None = None,
        *,
        worker_id: str | None = None,
    ) -> str | None:
        args = [*self._head(worker_id), "", *_event_args(event), *_flat(fields)]
        result = await self._run(self._apply, self._job_keys(job_id), args)
        return result.decode() if isinstance(result, bytes) and result else None

    async def apply_many(
        self, job_id: JobId, writes: Sequence[Write | Checkpoint], *, worker_id: str | None = None
    ) -> list[str | None]:
        """Apply ``writes`` in order in one ``APPLY_BATCH`` call (one script run for the batch,
        instead of one ``APPLY`` each)."""
        if not writes:
            return []
        keys = self._job_keys(job_id)
        args: list[Any] = self._head(worker_id)
        for write in writes:
            if isinstance(write, Checkpoint):
                keys.append(self.keys.state(job_id, write.step))
                state: list[Any] = [len(keys), pack(write.output, self.compress_threshold_bytes)]
                fields: Mapping[str, str | int | float] = write.fields
                event: NewEvent | None = write.event
            else:
                state = [0, ""]
                fields, event = write[0], write[1]
            flat = _flat(fields)
            args += [*state, *_event_args(event), len(flat), *flat]
        result = await self._run(self._apply_batch, keys, args)
        return [r.decode() if isinstance(r, bytes) and r else None for r in result]

    async def checkpoint(
        self,
        job_id: JobId,
        step: StepName,
        output: bytes,
        fields: Mapping[str, str | int | float],
        event: NewEvent,
        *,
        worker_id: str | None = None,
    ) -> bool:
        keys = [*self._job_keys(job_id), self.keys.state(job_id, step)]
        stored = pack(output, self.compress_threshold_bytes)
        args = [*self._head(worker_id), stored, *_event_args(event), *_flat(fields)]
        result = await self._run(self._apply, keys, args)
        return result not in (b"EXISTS", "EXISTS")

    async def load_checkpoints(
        self, job_id: JobId, steps: Sequence[StepName]
    ) -> dict[StepName, bytes]:
        if not steps:
            return {}
        try:
            values = await self.redis.mget([self.keys.state(job_id, s) for s in steps])
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        return {s: unpack(v) for s, v in zip(steps, values, strict=True) if v is not None}

    async def get_answer(self, job_id: JobId, step: StepName, index: int) -> bytes | None:
        try:
            raw = await self.redis.hget(self.keys.job(job_id), answer_field(step, index))  # type: ignore[misc]
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        return None if raw is None else bytes(raw)

    async def answer(
        self, job_id: JobId, step: StepName, index: int, answer: bytes, data: JSONValue
    ) -> str:
        keys = [self.keys.job(job_id), self.keys.events(job_id)]
        args = [
            self.events_maxlen, self.ttl_seconds, step, index, answer, repr(time.time()),
            dumps(data).decode(), question_field(step), answer_field(step, index),
        ]  # fmt: skip
        result = await self._run(self._answer, keys, args)
        return result.decode() if isinstance(result, bytes) else str(result)

    async def requeue(
        self, job_id: JobId, arq_job_id: str, reset_steps: Sequence[StepName], data: JSONValue
    ) -> str:
        keys = [self.keys.job(job_id), self.keys.events(job_id)]
        args = [
            self.events_maxlen, self.ttl_seconds, repr(time.time()), dumps(data).decode(),
            arq_job_id, *(step_field(s, "status") for s in reset_steps),
        ]  # fmt: skip
        result = await self._run(self._retry, keys, args)
        return result.decode() if isinstance(result, bytes) else str(result)

    async def get_cached(self, step: StepName, fingerprint: str) -> bytes | None:
        try:
            raw = await self.redis.get(self.keys.cache(step, fingerprint))
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        return None if raw is None else unpack(raw)

    async def put_cached(
        self, step: StepName, fingerprint: str, output: bytes, ttl_seconds: float
    ) -> None:
        try:
            await self.redis.set(
                self.keys.cache(step, fingerprint),
                pack(output, self.compress_threshold_bytes),
                px=max(1, int(ttl_seconds * 1000)),
            )
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc

    async def finish(
        self,
        job_id: JobId,
        status: JobStatus,
        steps: Sequence[StepName],
        fields: Mapping[str, str | int | float],
        data: JSONValue,
        *,
        worker_id: str | None = None,
    ) -> str:
        keys = [*self._job_keys(job_id), *(self.keys.state(job_id, s) for s in steps)]
        all_fields = {"status": status.value, "finished_at": repr(time.time()), **fields}
        args = [
            *self._head(worker_id),
            f"job.{status.value}",
            repr(time.time()),
            dumps(data).decode(),
            *_flat(all_fields),
        ]
        result = await self._run(self._finish, keys, args)
        return result.decode() if isinstance(result, bytes) else str(result)

    async def request_cancel(self, job_id: JobId, data: JSONValue) -> str:
        keys = [self.keys.job(job_id), self.keys.events(job_id)]
        args = [self.events_maxlen, self.ttl_seconds, repr(time.time()), dumps(data).decode()]
        result = await self._run(self._cancel, keys, args)
        text = result.decode() if isinstance(result, bytes) else str(result)
        if text == "requested":
            try:  # tell the worker running it now, rather than at its next lease renewal
                await self.redis.publish(self.keys.control(), job_id)
            except RedisError as exc:
                raise StateError(f"Redis is unavailable: {exc}") from exc
        return "missing" if text == "MISSING" else text

    async def read_events(
        self, job_id: JobId, after: str | None = None, count: int = 1000
    ) -> list[Event]:
        start = "-" if after is None else f"({after}"
        try:
            entries = await self.redis.xrange(self.keys.events(job_id), start, "+", count=count)
        except ResponseError as exc:
            raise StateError(f"bad event id {after!r}: {exc}") from exc
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        return [Event.from_stream(job_id, eid, fields) for eid, fields in entries]

    async def wait_events(
        self, job_id: JobId, after: str, *, timeout_seconds: float, count: int = 1000
    ) -> list[Event]:
        try:
            reply = await self.redis.xread(
                {self.keys.events(job_id): after},
                count=count,
                block=max(1, int(timeout_seconds * 1000)),
            )
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        if not reply:
            return []
        _, entries = reply[0]
        return [Event.from_stream(job_id, eid, fields) for eid, fields in entries]

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc


__all__ = ["RedisStateStore"]
