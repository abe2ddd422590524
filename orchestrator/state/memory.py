"""The in-memory state store: the :class:`~orchestrator.state.base.StateStore` Protocol in one
process, for ``run_local`` and unit tests (STYLE rule 2).

It mirrors the Redis store's Lua scripts (``scripts.py``) operation by operation: the job is a
hash of flat string fields decoded by the same codec, events get stream-like ids
(``<ms>-<n>``) and a per-job ``seq``, writes are fenced by the lease, a checkpoint is written
once. Every method runs without an ``await`` in between its reads and writes, which makes it
atomic on one event loop, as a Lua script is atomic in Redis. Keys do not expire (TTLs are a
Redis concern: the store lives as long as the process); leases, slots and cached outputs do.
The same contract suite runs against both stores (tests/orchestrator/state).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

from orchestrator.errors import LeaseLostError, StateError
from orchestrator.events import Event, parse_stream_id
from orchestrator.serialization import dumps, loads
from orchestrator.state.base import Checkpoint, Lapsed, NewEvent, Write
from orchestrator.state.codec import answer_field, decode_job, question_field, step_field
from orchestrator.state.records import JobState
from orchestrator.types import JobId, JobStatus, JSONValue, StepName

_ENDED = frozenset({"succeeded", "failed", "cancelled"})


def _now_ms() -> int:
    return int(time.time() * 1000)


class MemoryStateStore:
    """:class:`~orchestrator.state.base.StateStore` in this process's memory.

    Args:
        events_maxlen: Cap on a job's event list (the oldest are dropped, as ``XADD MAXLEN``).
        ttl_seconds: Kept for parity with the Redis store (nothing expires here but leases,
            slots and cached outputs).
    """

    def __init__(self, *, events_maxlen: int = 100_000, ttl_seconds: int = 7 * 24 * 3600) -> None:
        self.events_maxlen = events_maxlen
        self.ttl_seconds = ttl_seconds
        self._jobs: dict[JobId, dict[str, str]] = {}
        self._events: dict[JobId, list[Event]] = {}
        self._outputs: dict[tuple[JobId, StepName], bytes] = {}
        self._leases: dict[JobId, tuple[str, int]] = {}  # owner, expiry (epoch ms)
        self._lease_index: dict[JobId, int] = {}  # deadline (epoch ms)
        self._slots: dict[str, dict[JobId, int]] = {}
        self._cache: dict[tuple[StepName, str], tuple[bytes, float]] = {}
        self._last_id = (0, 0)
        self._published: asyncio.Event | None = None

    # -- plumbing -------------------------------------------------------------------------

    def _owner(self, job_id: JobId) -> str | None:
        lease = self._leases.get(job_id)
        if lease is None:
            return None
        if lease[1] <= _now_ms():
            del self._leases[job_id]
            return None
        return lease[0]

    def _fence(self, job_id: JobId, worker_id: str | None) -> None:
        if worker_id and self._owner(job_id) != worker_id:
            raise LeaseLostError("this worker no longer holds the job's lease")

    def _next_id(self) -> str:
        ms, n = _now_ms(), 0
        if ms <= self._last_id[0]:
            ms, n = self._last_id[0], self._last_id[1] + 1
        self._last_id = (ms, n)
        return f"{ms}-{n}"

    def _publish(self, job_id: JobId, event: NewEvent) -> str:
        h = self._jobs.setdefault(job_id, {})
        seq = int(h.get("seq", "0")) + 1
        h["seq"] = str(seq)
        stored = Event(
            id=self._next_id(),
            job_id=job_id,
            type=event.type,
            step=event.step or None,
            attempt=event.attempt,
            seq=seq,
            ts=float(repr(event.ts)),
            data=loads(dumps(event.data)),  # the JSON round trip the stream entry makes
        )
        events = self._events.setdefault(job_id, [])
        events.append(stored)
        if len(events) > self.events_maxlen:
            del events[: len(events) - self.events_maxlen]
        if self._published is not None:
            self._published.set()
            self._published = None
        return stored.id

    def _hset(self, job_id: JobId, fields: Mapping[str, str | int | float]) -> None:
        if fields:
            self._jobs.setdefault(job_id, {}).update({k: str(v) for k, v in fields.items()})

    def _apply(
        self,
        job_id: JobId,
        worker_id: str | None,
        fields: Mapping[str, str | int | float],
        event: NewEvent | None,
        checkpoint: tuple[StepName, bytes] | None,
    ) -> str | None:
        self._fence(job_id, worker_id)
        if checkpoint is not None:
            key = (job_id, checkpoint[0])
            if key in self._outputs:
                return "EXISTS"
            self._outputs[key] = checkpoint[1]
        self._hset(job_id, fields)
        return self._publish(job_id, event) if event is not None else None

    # -- job state, checkpoints, events ----------------------------------------------------

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
        """Create the job as ``queued`` and publish ``job.queued``; returns the event id."""
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
        return str(
            self._apply(
                job_id, None, fields, NewEvent("job.queued", data={"workflow": workflow}), None
            )
        )

    async def get_job(self, job_id: JobId) -> JobState | None:
        """The job's live state, or ``None`` if unknown."""
        raw = self._jobs.get(job_id)
        return decode_job(job_id, raw) if raw else None

    async def update(
        self,
        job_id: JobId,
        fields: Mapping[str, str | int | float],
        event: NewEvent | None = None,
        *,
        worker_id: str | None = None,
    ) -> str | None:
        """Set fields and publish ``event`` together (fenced by ``worker_id``)."""
        return self._apply(job_id, worker_id, fields, event, None)

    async def apply_many(
        self, job_id: JobId, writes: Sequence[Write | Checkpoint], *, worker_id: str | None = None
    ) -> list[str | None]:
        """Apply writes in order; a checkpoint that existed answers ``EXISTS``."""
        out: list[str | None] = []
        for write in writes:
            if isinstance(write, Checkpoint):
                out.append(
                    self._apply(
                        job_id, worker_id, write.fields, write.event, (write.step, write.output)
                    )
                )
            else:
                out.append(self._apply(job_id, worker_id, write[0], write[1], None))
        return out

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
        """Write a step's output once, with its fields and event; ``False`` if it existed."""
        return self._apply(job_id, worker_id, fields, event, (step, output)) != "EXISTS"

    async def load_checkpoints(
        self, job_id: JobId, steps: Sequence[StepName]
    ) -> dict[StepName, bytes]:
        """The checkpointed outputs of those ``steps`` that have one."""
        return {s: self._outputs[(job_id, s)] for s in steps if (job_id, s) in self._outputs}

    async def get_answer(self, job_id: JobId, step: StepName, index: int) -> bytes | None:
        """The answer to ``step``'s ``index``-th question (JSON), or ``None``."""
        raw = self._jobs.get(job_id, {}).get(answer_field(step, index))
        return None if raw is None else raw.encode()

    async def answer(
        self, job_id: JobId, step: StepName, index: int, answer: bytes, data: JSONValue
    ) -> str:
        """Store an answer and queue the job: ``OK``, ``NOT_WAITING``, ``NO_QUESTION`` or
        ``MISSING``."""
        h = self._jobs.get(job_id)
        if not h or "status" not in h:
            return "MISSING"
        if h["status"] != "waiting":
            return "NOT_WAITING"
        q = h.get(question_field(step))
        if not q or loads(q).get("index") != index:
            return "NO_QUESTION"
        h[answer_field(step, index)] = answer.decode()
        h["status"] = "queued"
        del h[question_field(step)]
        self._publish(job_id, NewEvent("job.queued", step=step, data=data))
        return "OK"

    async def requeue(
        self, job_id: JobId, arq_job_id: str, reset_steps: Sequence[StepName], data: JSONValue
    ) -> str:
        """Queue a failed or cancelled job again: ``OK``, ``MISSING`` or the status."""
        h = self._jobs.get(job_id)
        if not h or "status" not in h:
            return "MISSING"
        if h["status"] not in ("failed", "cancelled"):
            return h["status"]
        for name in ("error", "result", "finished_at", "cancel"):
            h.pop(name, None)
        h.update({"status": "queued", "arq_job_id": arq_job_id})
        for s in reset_steps:
            h[step_field(s, "status")] = "pending"
        self._publish(job_id, NewEvent("job.queued", data=data))
        return "OK"

    async def get_cached(self, step: StepName, fingerprint: str) -> bytes | None:
        """A memoized output, or ``None`` (or expired)."""
        hit = self._cache.get((step, fingerprint))
        if hit is None or hit[1] <= time.time():
            self._cache.pop((step, fingerprint), None)
            return None
        return hit[0]

    async def put_cached(
        self, step: StepName, fingerprint: str, output: bytes, ttl_seconds: float
    ) -> None:
        """Memoize ``output`` for ``ttl_seconds``."""
        self._cache[(step, fingerprint)] = (output, time.time() + ttl_seconds)

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
        """End the job: status, fields and terminal event together; the lease stays."""
        self._fence(job_id, worker_id)
        self._hset(job_id, {"status": status.value, "finished_at": repr(time.time()), **fields})
        return self._publish(job_id, NewEvent(f"job.{status.value}", data=data))

    async def request_cancel(self, job_id: JobId, data: JSONValue) -> str:
        """``now_cancelled``, ``requested``, the terminal status, or ``missing``."""
        h = self._jobs.get(job_id)
        if not h or "status" not in h:
            return "missing"
        if h["status"] in _ENDED:
            return h["status"]
        if h["status"] == "queued":
            h.update({"status": "cancelled", "finished_at": repr(time.time()), "cancel": "1"})
            self._publish(job_id, NewEvent("job.cancelled", data=data))
            return "now_cancelled"
        h["cancel"] = "1"
        return "requested"

    async def read_events(
        self, job_id: JobId, after: str | None = None, count: int = 1000
    ) -> list[Event]:
        """Stored events after the id ``after`` (from the start when ``None``).

        Raises:
            StateError: ``after`` is not an event id.
        """
        events = self._events.get(job_id, [])
        if after is None:
            return events[:count]
        try:
            mark = parse_stream_id(after)
        except ValueError:
            raise StateError(f"bad event id {after!r}") from None
        return [e for e in events if parse_stream_id(e.id) > mark][:count]

    async def wait_events(
        self, job_id: JobId, after: str, *, timeout_seconds: float, count: int = 1000
    ) -> list[Event]:
        """Events after ``after``, waiting up to ``timeout_seconds`` for one (then ``[]``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        while True:
            found = await self.read_events(job_id, after, count)
            left = deadline - loop.time()
            if found or left <= 0:
                return found
            if self._published is None:
                self._published = asyncio.Event()
            try:
                await asyncio.wait_for(self._published.wait(), left)
            except TimeoutError:
                return []

    async def ping(self) -> None:
        """Always reachable."""

    # -- leases and concurrency slots --------------------------------------------------------

    def _take(self, job_id: JobId, worker_id: str, ttl_seconds: float) -> str:
        h = self._jobs.get(job_id)
        if not h:
            return "MISSING"
        if h.get("status") in _ENDED or h.get("status") == "waiting":
            return h["status"]
        owner = self._owner(job_id)
        if owner and owner != worker_id:
            return "HELD"
        ttl_ms = int(ttl_seconds * 1000)
        self._leases[job_id] = (worker_id, _now_ms() + ttl_ms)
        self._lease_index[job_id] = _now_ms() + ttl_ms
        return "OK"

    async def acquire_lease(self, job_id: JobId, worker_id: str, ttl_seconds: float) -> str:
        """``OK``, ``HELD``, ``MISSING`` or the job's terminal (or waiting) status."""
        return self._take(job_id, worker_id, ttl_seconds)

    async def pickup(
        self, job_id: JobId, worker_id: str, ttl_seconds: float
    ) -> tuple[JobState | None, str]:
        """The job and its lease in one step."""
        state = await self.get_job(job_id)
        answer = self._take(job_id, worker_id, ttl_seconds)
        return state, answer

    async def renew_lease(
        self, job_id: JobId, worker_id: str, ttl_seconds: float, slot_key: str | None = None
    ) -> str:
        """``OK``, ``CANCEL`` (renewed; a cancel was requested) or ``LOST``."""
        if self._owner(job_id) != worker_id:
            return "LOST"
        deadline = _now_ms() + int(ttl_seconds * 1000)
        self._leases[job_id] = (worker_id, deadline)
        self._lease_index[job_id] = deadline
        if slot_key and job_id in self._slots.get(slot_key, {}):
            self._slots[slot_key][job_id] = deadline
        return "CANCEL" if self._jobs.get(job_id, {}).get("cancel") == "1" else "OK"

    async def acquire_slot(
        self, slot_key: str, job_id: JobId, limit: int, ttl_seconds: float
    ) -> bool:
        """Take one of ``limit`` slots (members expire at their deadline)."""
        now = _now_ms()
        slots = self._slots.setdefault(slot_key, {})
        for member in [m for m, deadline in slots.items() if deadline <= now]:
            del slots[member]
        if job_id in slots or len(slots) < limit:
            slots[job_id] = now + int(ttl_seconds * 1000)
            return True
        return False

    async def release_slot(self, slot_key: str, job_id: JobId) -> None:
        """Give a slot back."""
        self._slots.get(slot_key, {}).pop(job_id, None)

    async def release_lease(self, job_id: JobId, worker_id: str) -> None:
        """Free the lease if held; unindex the job unless another worker holds it."""
        owner = self._owner(job_id)
        if owner == worker_id:
            del self._leases[job_id]
        if owner == worker_id or owner is None:
            self._lease_index.pop(job_id, None)

    async def release_leases(self, leases: Sequence[tuple[JobId, str]]) -> None:
        """:meth:`release_lease` for many pairs."""
        for job_id, worker_id in leases:
            await self.release_lease(job_id, worker_id)

    async def claim_lapsed(
        self,
        *,
        now_ms: int,
        claim_seconds: float,
        limit: int = 100,
        own_worker_id: str | None = None,
    ) -> list[Lapsed]:
        """Claim jobs whose lease lapsed (or that ``own_worker_id`` still holds)."""
        due = sorted((d, j) for j, d in self._lease_index.items() if d <= now_ms)[:limit]
        candidates = [j for _, j in due]
        if own_worker_id:
            candidates += [
                j
                for j in self._lease_index
                if self._owner(j) == own_worker_id and j not in candidates
            ]
        claimed: list[Lapsed] = []
        for job_id in candidates:
            score = self._lease_index.get(job_id)
            if score is None:
                continue
            owner = self._owner(job_id)
            own = bool(own_worker_id) and owner == own_worker_id
            if not own and (score > now_ms or owner):
                continue
            status = self._jobs.get(job_id, {}).get("status")
            ended = status in _ENDED
            if status not in ("running", "queued") and not ended:
                del self._lease_index[job_id]
                continue
            if own:
                del self._leases[job_id]
            self._lease_index[job_id] = now_ms + int(claim_seconds * 1000)
            claimed.append(
                Lapsed(
                    job_id, "" if ended else self._jobs[job_id].get("arq_job_id", ""), ended=ended
                )
            )
        return claimed


__all__ = ["MemoryStateStore"]
