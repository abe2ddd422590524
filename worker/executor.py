"""The DAG executor: runs one job's ready steps, in parallel where allowed, from its checkpoints.

A step whose checkpoint exists is never run again: a resumed job loads finished outputs from
Redis and runs only what is left. Steps with ``parallel=True`` may overlap each other; a step
without it runs alone (no other step of the job runs meanwhile).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from orchestrator.dag.workflow import Workflow
from orchestrator.errors import LeaseLostError, OrchestratorError, WorkflowNotFoundError
from orchestrator.serialization import dumps, loads
from orchestrator.services import Services
from orchestrator.state.base import NewEvent
from orchestrator.state.codec import step_field
from orchestrator.state.records import JobState
from orchestrator.types import JobId, JobStatus, StepName, StepStatus
from worker.hooks import AttemptRecord, ExecutionHook, JobRun
from worker.lease import LeaseHeartbeat
from worker.publisher import EventPublisher
from worker.step_runner import StepOutcome, StepRunner

log = structlog.get_logger("worker.executor")


class JobExecutor:
    """Runs jobs in this worker process.

    Args:
        services: Connections and workflows.
        worker_id: This worker's id (lease owner).
        hooks: Execution hooks (trace recorder, telemetry, metrics).
    """

    def __init__(self, services: Services, worker_id: str, hooks: ExecutionHook) -> None:
        self.services = services
        self.worker_id = worker_id
        self.hooks = hooks

    async def run(self, job_id: JobId) -> JobStatus | None:
        """Run (or resume) the job until it ends.

        Returns:
            The job's final status, or ``None`` when this worker did not run it (unknown job,
            or another live worker holds its lease).

        Raises:
            StateError, TraceError: Infrastructure failed; arq retries the run later.
        """
        state = await self.services.state.get_job(job_id)
        if state is None:
            log.warning("job not found in state store", job_id=job_id)
            return None
        if state.status.is_terminal:
            return state.status
        answer = await self.services.state.acquire_lease(
            job_id, self.worker_id, self.services.settings.lease.ttl_seconds
        )
        if answer == "HELD":
            log.info("job is held by another worker", job_id=job_id)
            return None
        if answer != "OK":
            return JobStatus(answer) if answer in JobStatus.__members__.values() else None
        return await _Run(self, state).execute()


class _Run:
    """One run of one job by this worker."""

    def __init__(self, executor: JobExecutor, state: JobState) -> None:
        self.ex = executor
        self.state = state
        self.store = executor.services.state
        self.run = JobRun(
            job_id=state.job_id,
            workflow=state.workflow,
            run=state.runs + 1,
            worker_id=executor.worker_id,
            trace=state.trace,
        )
        self.tasks: dict[asyncio.Task[StepOutcome], StepName] = {}
        self.stop_reason: str | None = None  # "cancel" or "lost"
        self.wakeup = asyncio.Event()

    def _stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        for task in self.tasks:
            task.cancel()
        self.wakeup.set()

    async def execute(self) -> JobStatus | None:
        job_id = self.state.job_id
        heartbeat = LeaseHeartbeat(
            self.store,
            job_id,
            self.run.worker_id,
            self.ex.services.settings.lease.ttl_seconds,
            on_lost=lambda: self._stop("lost"),
            on_cancel=lambda: self._stop("cancel"),
        )
        heartbeat.start()
        publisher = EventPublisher(self.store, job_id, self.run.worker_id)
        try:
            return await self._execute(publisher)
        except LeaseLostError:
            log.warning("lease lost; leaving the job to its new owner", job_id=job_id)
            return None
        finally:
            await heartbeat.stop()
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            publisher_task_error = None
            try:
                await publisher.close()
            except Exception as exc:  # already reported through the run's own error path
                publisher_task_error = exc
            if publisher_task_error is not None:
                log.debug("publisher closed with error", error=str(publisher_task_error))
            await self.store.release_lease(job_id, self.run.worker_id)

    async def _execute(self, publisher: EventPublisher) -> JobStatus | None:
        job_id = self.state.job_id
        try:
            wf = self.ex.services.registry.get(self.state.workflow)
        except WorkflowNotFoundError as exc:
            return await self._finish(JobStatus.FAILED, [], None, exc.to_dict(), publisher)
        steps = list(wf.steps)
        stored = await self.store.load_checkpoints(job_id, steps)
        outputs: dict[StepName, Any] = {}
        for name, raw in stored.items():
            outputs[name] = loads(raw)
        for name, st in self.state.steps.items():
            if st.status == StepStatus.RUNNING.value and name not in stored:
                # The previous run died mid-attempt: record that attempt as lost.
                await self.ex.hooks.on_step_end(
                    self.run,
                    AttemptRecord(
                        name,
                        st.attempt,
                        StepStatus.FAILED.value,
                        st.started_at or time.time(),
                        time.time(),
                        None,
                        {"code": "worker_lost", "message": "the worker running it died"},
                        worker_id=self.state.worker,
                    ),
                )
        started = time.time()
        fields: dict[str, str | int | float] = {
            "status": JobStatus.RUNNING.value,
            "runs": self.run.run,
            "worker": self.run.worker_id,
        }
        if self.state.started_at is None:
            fields["started_at"] = repr(started)
        await self.ex.hooks.on_job_start(self.run)
        await self.store.update(
            job_id,
            fields,
            NewEvent(
                "job.started",
                attempt=self.run.run,
                data={"worker": self.run.worker_id, "resumed": self.run.run > 1},
            ),
            worker_id=self.run.worker_id,
        )
        if self.state.cancel_requested:
            self._stop("cancel")
        runner = StepRunner(self.run, self.store, publisher, self.ex.hooks, self.state.inputs)
        failure = await self._schedule(wf, runner, outputs)
        if self.stop_reason == "lost":
            raise LeaseLostError("lease lost during the run")
        pending = [n for n in steps if n not in outputs]
        if self.stop_reason == "cancel":
            for n in pending:
                publisher.put({step_field(n, "status"): StepStatus.CANCELLED.value}, None)
            return await self._finish(
                JobStatus.CANCELLED, steps, None, {"code": "cancelled"}, publisher
            )
        if failure is not None:
            for n in pending:
                if n != failure.step:
                    publisher.put({step_field(n, "status"): StepStatus.SKIPPED.value}, None)
            error = {
                "code": "step_failed",
                "message": f"step {failure.step!r} failed",
                "details": {"step": failure.step, "error": failure.error},
            }
            return await self._finish(JobStatus.FAILED, steps, None, error, publisher)
        result = {sink: outputs[sink] for sink in wf.sinks}
        return await self._finish(JobStatus.SUCCEEDED, steps, result, None, publisher)

    async def _schedule(
        self, wf: Workflow, runner: StepRunner, outputs: dict[StepName, Any]
    ) -> StepOutcome | None:
        """Start ready steps as the parallel rules allow; return the first failure, if any."""
        pending = [n for n in wf.steps if n not in outputs]
        exclusive = False
        failure: StepOutcome | None = None
        while True:
            if failure is None and self.stop_reason is None:
                for name in list(pending):
                    if not all(d in outputs for d in wf.deps[name]):
                        continue
                    step = wf.steps[name]
                    if exclusive or (not step.parallel and self.tasks):
                        break  # a lone step waits for the others, and nothing passes it
                    prior = self.state.steps.get(name)
                    first = (prior.attempt if prior else 0) + 1
                    coro = runner.run_step(wf.bindings[name], outputs, first)
                    task = asyncio.get_running_loop().create_task(coro, name=f"step:{name}")
                    self.tasks[task] = name
                    pending.remove(name)
                    if not step.parallel:
                        exclusive = True
                        break
            if not self.tasks:
                return failure
            self.wakeup.clear()
            waiter = asyncio.ensure_future(self.wakeup.wait())
            await asyncio.wait([*self.tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            for task in [t for t in self.tasks if t.done()]:
                name = self.tasks.pop(task)
                if not wf.steps[name].parallel:
                    exclusive = False
                if task.cancelled():
                    continue
                exc = task.exception()
                if exc is not None:
                    if isinstance(exc, LeaseLostError):
                        self._stop("lost")
                        continue
                    raise exc
                outcome = task.result()
                if outcome.succeeded:
                    outputs[name] = outcome.value
                elif failure is None:
                    failure = outcome
                    for other in self.tasks:
                        other.cancel()

    async def _finish(
        self,
        status: JobStatus,
        steps: list[StepName],
        result: Any,
        error: Any,
        publisher: EventPublisher,
    ) -> JobStatus:
        await publisher.flush()
        await self.ex.hooks.on_job_end(self.run, status, result, error)
        fields: dict[str, str | int | float] = {}
        if result is not None:
            fields["result"] = dumps(result).decode()
        if error is not None:
            fields["error"] = dumps(error).decode()
        data = {"result": result} if status is JobStatus.SUCCEEDED else {"error": error}
        await self.store.finish(
            self.state.job_id, status, steps, fields, data, worker_id=self.run.worker_id
        )
        log.info("job finished", job_id=self.state.job_id, status=status.value)
        return status


def error_dict(exc: BaseException) -> dict[str, Any]:
    """``{"code", "message", "details"}`` of any exception."""
    if isinstance(exc, OrchestratorError):
        return exc.to_dict()
    return {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}", "details": {}}


__all__ = ["JobExecutor"]
