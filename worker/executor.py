"""The DAG executor: this worker's runs of jobs.

It picks a job up (the job and its lease in one call), admits it (workflow version, concurrency
slot), and runs it as a :class:`~worker.run.Run`, which holds the scheduling of its steps. It
also routes cancels to the runs in this process and starts a drain on SIGTERM.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from orchestrator.services import Services
from orchestrator.state.records import JobState
from orchestrator.state.redis import RedisStateStore
from orchestrator.types import JobId, JobStatus
from worker.admission import take_slot, version_matches
from worker.endings import JobEndings
from worker.hooks import ExecutionHook
from worker.lease import LeaseKeeper
from worker.run import Run

log = structlog.get_logger("worker.executor")


class JobExecutor:
    """Runs jobs in this worker process.

    Args:
        services: Connections and workflows.
        worker_id: This worker's id (lease owner).
        hooks: Execution hooks (trace recorder, telemetry, metrics).
        row_written: Returns once an ended job's trace row is committed (the trace recorder's
            ``job_written``); its lease is freed after that. ``None``: freed at once.
    """

    def __init__(
        self,
        services: Services,
        worker_id: str,
        hooks: ExecutionHook,
        *,
        row_written: Callable[[JobId], Awaitable[None]] | None = None,
    ) -> None:
        self.services = services
        self.worker_id = worker_id
        self.hooks = hooks
        self.draining = False
        self._runs: set[Run] = set()
        self.endings = JobEndings(
            services.state, row_written, limit=max(64, 4 * services.settings.worker.max_jobs)
        )
        self.leases = LeaseKeeper(services.state, worker_id, services.settings.lease.ttl_seconds)
        self._picked: dict[str, tuple[JobState | None, str]] = {}

    @property
    def redis_pickup(self) -> bool:
        """Whether a script may take this worker's jobs up (:meth:`pickup_call`): the state
        store is the Redis one."""
        return isinstance(self.services.state, RedisStateStore)

    def pickup_call(self, job_id: JobId) -> tuple[list[str], list[Any]]:
        """The keys and arguments of this worker's pickup of ``job_id`` (a lease for this
        worker, with the lease TTL of the settings) for a script that runs it with arq's start
        check (``worker/arq_run.py``). Only when :attr:`redis_pickup`."""
        state = self.services.state
        assert isinstance(state, RedisStateStore)
        return state.pickup_call(job_id, self.worker_id, self.services.settings.lease.ttl_seconds)

    def picked_up(self, job_id: JobId, answer: Any, flat: Any) -> None:
        """Keep the reply of a pickup made with arq's start check of the arq job ``job_id``:
        :meth:`run` uses it instead of a round trip. Its run's end must call :meth:`forget`."""
        self._picked[job_id] = RedisStateStore.picked_up(job_id, answer, flat)

    async def forget(self, job_id: JobId) -> None:
        """Drop a kept pickup that no run used (arq refused the job: too many tries, expired,
        or it was an arq job of another id), giving back the lease it took.

        Raises:
            StateError: Redis failed (the lease then lapses within its TTL).
        """
        picked = self._picked.pop(job_id, None)
        if picked is not None and picked[1] == "OK":
            await self.services.state.release_lease(job_id, self.worker_id)

    def cancel_local(self, job_id: JobId) -> bool:
        """Stop the run of ``job_id`` in this process at once, if there is one (a cancel)."""
        found = False
        for run in list(self._runs):
            if run.state.job_id == job_id:
                run.request_cancel()
                found = True
        return found

    def drain(self) -> None:
        """Start a graceful shutdown: no new step starts; running ones may finish."""
        self.draining = True
        for run in list(self._runs):
            run.wakeup.set()

    async def run(self, job_id: JobId) -> JobStatus | None:
        """Run (or resume) the job until it ends, waits for input, or the worker drains.

        Returns:
            The job's status when this run stopped, or ``None`` when this worker did not run
            it (unknown job, another live worker holds its lease, or a version mismatch).

        Raises:
            StateError, TraceError: Infrastructure failed; arq retries the run later.
        """
        store = self.services.state
        # The job and its lease in one round trip (none when arq's start check took them up:
        # picked_up); the admission checks below give the lease back when they turn the run
        # away (rare: a version mismatch or a full concurrency limit).
        picked = self._picked.pop(job_id, None)
        state, answer = picked if picked is not None else await store.pickup(
            job_id, self.worker_id, self.services.settings.lease.ttl_seconds
        )
        if state is None:
            log.warning("job not found in state store", job_id=job_id)
            return None
        if state.status.is_terminal or state.status is JobStatus.WAITING:
            return state.status
        if answer == "HELD":
            log.info("job is held by another worker", job_id=job_id)
            return None
        if answer != "OK":
            return JobStatus(answer) if answer in JobStatus.__members__.values() else None
        slot: str | bool = False
        if await version_matches(self.services, state, self.worker_id):
            slot = await take_slot(self.services, state)
        if slot is False:
            await store.release_lease(job_id, self.worker_id)
            return None
        slot_key = slot if isinstance(slot, str) else None
        run = Run(self, state, slot_key)
        self._runs.add(run)
        try:
            return await run.execute()
        finally:
            self._runs.discard(run)


__all__ = ["JobExecutor"]
