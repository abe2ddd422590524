"""The Redis state store: job hash, checkpoints, event stream and leases (DESIGN §4)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError, ResponseError

from orchestrator.errors import LeaseLostError, StateError
from orchestrator.events import Event
from orchestrator.keys import Keys
from orchestrator.serialization import dumps
from orchestrator.state import scripts
from orchestrator.state.base import Checkpoint, Lapsed, NewEvent, Write
from orchestrator.state.blob import pack, unpack
from orchestrator.state.codec import answer_field, decode_job, question_field, step_field
from orchestrator.state.records import JobState
from orchestrator.types import JobId, JobStatus, JSONValue, StepName


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _flat(fields: Mapping[str, str | int | float]) -> list[str]:
    out: list[str] = []
    for k, v in fields.items():
        out.append(k)
        out.append(str(v))
    return out


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


class RedisStateStore:
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
        self._finish = redis.register_script(scripts.FINISH)
        self._cancel = redis.register_script(scripts.REQUEST_CANCEL)
        self._acquire = redis.register_script(scripts.ACQUIRE_LEASE)
        self._pickup = redis.register_script(scripts.PICKUP)
        self._renew = redis.register_script(scripts.RENEW_LEASE)
        self._release = redis.register_script(scripts.RELEASE_LEASE)
        self._claim = redis.register_script(scripts.CLAIM_LAPSED)
        self._answer = redis.register_script(scripts.ANSWER)
        self._retry = redis.register_script(scripts.RETRY)
        self._slot = redis.register_script(scripts.ACQUIRE_SLOT)

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except ResponseError as exc:
            if "LEASE_LOST" in str(exc):
                raise LeaseLostError("this worker no longer holds the job's lease") from None
            raise StateError(f"state script failed: {exc}") from exc
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc

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
        fields: dict[str, str | int | float] = {
            "status": JobStatus.QUEUED.value,
            "workflow": workflow,
            "version": version,
            "inputs": dumps(dict(inputs)).decode(),
            "created_at": repr(created_at),
            "arq_job_id": arq_job_id,
            "trace": dumps(dict(trace or {})).decode(),
            **(extra or {}),
        }
        event = NewEvent("job.queued", data={"workflow": workflow})
        return str(await self.update(job_id, fields, event))

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
        if not writes:
            return []
        keys = self._job_keys(job_id)
        head = self._head(worker_id)
        calls: list[list[Any]] = []
        for write in writes:
            if isinstance(write, Checkpoint):
                stored = pack(write.output, self.compress_threshold_bytes)
                args = [*head, stored, *_event_args(write.event), *_flat(write.fields)]
                step_keys = [*keys, self.keys.state(job_id, write.step)]
                calls.append([len(step_keys), *step_keys, *args])
            else:
                fields, ev = write
                calls.append([len(keys), *keys, *head, "", *_event_args(ev), *_flat(fields)])
        try:
            results = await self._evalsha_many(self._apply, calls)
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        out: list[str | None] = []
        for r in results:
            if isinstance(r, ResponseError):
                if "LEASE_LOST" in str(r):
                    raise LeaseLostError("this worker no longer holds the job's lease")
                raise StateError(f"state update failed: {r}")
            out.append(r.decode() if isinstance(r, bytes) and r else None)
        return out

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
        ttl_ms = int(ttl_seconds * 1000)
        args = [worker_id, ttl_ms, int(time.time() * 1000) + ttl_ms, job_id]
        answer, flat = await self._run(self._pickup, self._lease_keys(job_id), args)
        raw = dict(zip(flat[::2], flat[1::2], strict=True))
        return (decode_job(job_id, raw) if raw else None), _text(answer)

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
                _text(raw)
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
                claimed.append(Lapsed(job_id, _text(arq_id), ended=int(kind) == 2))
        return claimed

    async def _held_by(self, worker_id: str, *, exclude: set[str], page: int = 500) -> list[str]:
        """Indexed jobs whose lease names ``worker_id`` (one pass over the lease index)."""
        found: list[str] = []
        start = 0
        while True:
            ids = [_text(r) for r in await self.redis.zrange(self.keys.leases(), start, start + page - 1)]
            if not ids:
                return found
            owners = await self.redis.mget([self.keys.lease(j) for j in ids])
            found += [j for j, o in zip(ids, owners, strict=True)
                      if o is not None and _text(o) == worker_id and j not in exclude]
            start += page

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
