"""Reconciling a job's ``step_runs`` rows with what Redis says happened (issue 11, defect 4).

A worker buffers its step-run rows for up to one flush interval (DESIGN §3.3). When it dies
(``kill -9``) the buffer is gone: a step that succeeded and was checkpointed may keep a ``running``
row, or have none. Redis still knows: the job's event stream holds every attempt's
``step.started`` and its end (``step.succeeded``, ``step.failed``, ``step.retrying``) with times,
and the job hash holds each step's latest status. Whoever resumes a job or records the end of a
job whose worker died rebuilds the attempts from there and rewrites the rows that are missing or
not terminal, so the system of record converges to what happened.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.events import Event
from orchestrator.state.records import JobState, StepState
from orchestrator.trace.records import StepRunRecord
from orchestrator.types import JobId, StepStatus

if TYPE_CHECKING:
    from orchestrator.state.base import StateStore
    from orchestrator.trace.store import TraceStore

_TERMINAL_STEP = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)
WORKER_LOST = {"code": "worker_lost", "message": "the worker running it died"}
_EVENT_PAGE = 1000


@dataclass(slots=True)
class _Attempt:
    step: str
    attempt: int
    status: StepStatus = StepStatus.RUNNING
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: float | None = None
    error: dict[str, Any] | None = None
    worker_id: str | None = None
    output_bytes: int | None = None
    cache_hit: bool | None = None
    ended: bool = field(default=False)


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def attempts_from_events(
    job_id: JobId, events: Sequence[Event], steps: Mapping[str, StepState], *, settled: bool
) -> list[StepRunRecord]:
    """Rebuild a job's step attempts from its event stream and the job hash's step states.

    An attempt starts with ``step.started`` and ends with ``step.succeeded``, ``step.failed`` or
    ``step.retrying`` (a failed attempt that is retried); one that asked a question
    (``job.waiting``) is left out. An attempt without an end is decided
    by the job hash when it holds that attempt in a terminal status (a cancelled step has no
    end event); else it died with its worker (``failed``, ``worker_lost``) when a later attempt
    of the step exists, a later run of the job started, or the job is ``settled``; otherwise it
    may still be running and is left out.

    Args:
        job_id: The job.
        events: The job's events in stream order (all of them).
        steps: The job hash's step states (``JobState.steps``).
        settled: No worker runs an attempt of the job now (it ended, or a new run is about to
            resume it): every attempt without an end has died.

    Returns:
        One record per attempt that has ended, in the order the attempts started.
    """
    attempts: dict[tuple[str, int], _Attempt] = {}
    worker: str | None = None
    run_of: dict[tuple[str, int], int] = {}
    run_started: dict[int, float] = {}
    runs = 0
    for e in events:
        if e.type == "job.started":
            runs += 1
            run_started[runs] = e.ts
            data = e.data if isinstance(e.data, dict) else {}
            worker = str(data.get("worker")) if data.get("worker") else None
            continue
        if e.type == "job.waiting" and e.step is not None:
            # The step's latest attempt asked a question and ended its run ``waiting``; the
            # answer starts a new attempt. Its row stays as the worker wrote it.
            asked = [a for (s, _), a in attempts.items() if s == e.step]
            if asked:
                last = max(asked, key=lambda a: a.attempt)
                last.status, last.ended = StepStatus.WAITING, True
            continue
        if e.step is None or e.attempt is None or not e.type.startswith("step."):
            continue
        key = (e.step, e.attempt)
        a = attempts.get(key)
        if a is None:
            a = attempts[key] = _Attempt(e.step, e.attempt, worker_id=worker)
            run_of[key] = runs
        data = e.data if isinstance(e.data, dict) else {}
        if e.type == "step.started":
            a.started_at = e.ts
            a.worker_id = worker
            run_of[key] = runs
        elif e.type == "step.succeeded":
            a.status, a.finished_at, a.ended = StepStatus.SUCCEEDED, e.ts, True
            a.duration_ms = _float(data.get("duration_ms"))
            a.output_bytes = _int(data.get("output_bytes"))
            a.cache_hit = True if data.get("cache_hit") is True else None
        elif e.type in ("step.failed", "step.retrying"):
            a.status, a.finished_at, a.ended = StepStatus.FAILED, e.ts, True
            error = data.get("error")
            a.error = dict(error) if isinstance(error, dict) else None
    latest: dict[str, int] = {}
    for step, n in attempts:
        latest[step] = max(latest.get(step, 0), n)
    records: list[StepRunRecord] = []
    for key, a in attempts.items():
        if not a.ended:
            st = steps.get(a.step)
            hash_status = _status(st.status) if st is not None else None
            if (
                st is not None
                and st.attempt == a.attempt
                and hash_status in _TERMINAL_STEP
                and hash_status is not None
            ):
                a.status, a.ended = hash_status, True
                a.finished_at = st.finished_at
                a.error = dict(st.error) if isinstance(st.error, dict) else None
            elif latest[a.step] > a.attempt or run_of[key] < runs or settled:
                a.status, a.ended, a.error = StepStatus.FAILED, True, dict(WORKER_LOST)
                # Noticed when the next run started (or now, by whoever settles the job).
                a.finished_at = run_started.get(run_of[key] + 1) or time.time()
        if not a.ended or a.status is StepStatus.WAITING:
            continue
        if a.duration_ms is None and a.started_at is not None and a.finished_at is not None:
            a.duration_ms = round(max(0.0, a.finished_at - a.started_at) * 1000, 3)
        records.append(
            StepRunRecord(
                job_id=job_id, step=a.step, attempt=a.attempt, status=a.status,
                started_at=_dt(a.started_at), finished_at=_dt(a.finished_at),
                duration_ms=a.duration_ms, error=a.error, worker_id=a.worker_id,
                output_bytes=a.output_bytes, cache_hit=a.cache_hit,
            )
        )  # fmt: skip
    return records


async def reconcile_step_runs(state: StateStore, trace: TraceStore, job_id: JobId) -> int:
    """Rewrite the job's ``step_runs`` rows that are missing or not terminal from Redis.

    Rows already terminal are left alone (the worker that wrote them knew more). Call it only
    when no worker runs an attempt of the job (see ``settled`` of :func:`attempts_from_events`):
    when a run resumes the job before it starts a step, or when a reaper records the end of a
    job whose worker died.

    Args:
        state: The Redis state store (events and the job hash).
        trace: The trace store.
        job_id: The job.

    Returns:
        How many rows were written.

    Raises:
        StateError: Redis failed.
        TraceError: The trace store failed.
    """
    job = await state.get_job(job_id)
    if job is None:
        return 0
    events = await read_all_events(state, job_id)
    return await _rewrite(trace, job, events)


async def read_all_events(state: StateStore, job_id: JobId) -> list[Event]:
    """Every stored event of the job, page by page.

    Raises:
        StateError: Redis failed.
    """
    events: list[Event] = []
    after: str | None = None
    while True:
        page = await state.read_events(job_id, after, count=_EVENT_PAGE)
        events.extend(page)
        if len(page) < _EVENT_PAGE:
            return events
        after = page[-1].id


async def _rewrite(trace: TraceStore, job: JobState, events: Sequence[Event]) -> int:
    wanted = attempts_from_events(job.job_id, events, job.steps, settled=True)
    if not wanted:
        return 0
    have = {(r.step, r.attempt): r for r in await trace.list_step_runs(job.job_id)}
    stale = [
        r for r in wanted
        if (old := have.get((r.step, r.attempt))) is None or old.status not in _TERMINAL_STEP
    ]  # fmt: skip
    await trace.upsert_step_runs(stale)
    return len(stale)


def _status(value: str | None) -> StepStatus | None:
    try:
        return StepStatus(value) if value else None
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = ["WORKER_LOST", "attempts_from_events", "read_all_events", "reconcile_step_runs"]
