"""One run of one job by this worker: its ready steps, in parallel where allowed, to an end.

A step whose checkpoint exists is never run again: a resumed job loads finished outputs from
Redis and runs only what is left. Steps with ``parallel=True`` may overlap each other; a step
without it runs alone. A ``map_over`` step fans out into instances ``step[i]``, each
checkpointed on its own. A step that asks a question pauses the job (``waiting``) and frees the
worker; a drained worker (SIGTERM) lets running steps finish and queues the job again. The job's
end publishes the terminal event, then hands the row and the lease to :class:`JobEndings`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

import structlog

from orchestrator.dag.workflow import Workflow
from orchestrator.errors import (
    DagError,
    LeaseLostError,
    OrchestratorError,
    WorkflowNotFoundError,
)
from orchestrator.flows.jobs import workflow_of
from orchestrator.serialization import dumps, loads
from orchestrator.state.base import NewEvent
from orchestrator.state.codec import question_field, step_field
from orchestrator.state.records import JobState
from orchestrator.types import JobStatus, StepName, StepStatus
from worker.fanout import run_mapped
from worker.hooks import AttemptRecord, JobRun
from worker.publisher import EventPublisher
from worker.step_runner import StepOutcome, StepRunner

if TYPE_CHECKING:
    from worker.executor import JobExecutor

log = structlog.get_logger("worker.run")


class Run:
    """One run of one job by this worker (made by :meth:`JobExecutor.run` once it holds the
    job's lease).

    Args:
        executor: The worker's executor (services, hooks, drain flag, job endings).
        state: The job's state as picked up.
        slot_key: Its concurrency slot set, when its workflow has a limit.
    """

    def __init__(self, executor: JobExecutor, state: JobState, slot_key: str | None) -> None:
        self.ex = executor
        self.state = state
        self.slot_key = slot_key
        self.store = executor.services.state
        self.settings = executor.services.settings
        self.run = JobRun(
            job_id=state.job_id,
            workflow=state.workflow,
            run=state.runs + 1,
            worker_id=executor.worker_id,
            trace=state.trace,
            created_at=state.created_at,
            tenant_id=state.tenant_id,
            user_id=state.user_id,
            role=state.role,
        )
        self.tasks: dict[asyncio.Task[StepOutcome], StepName] = {}
        self.stop_reason: str | None = None  # "cancel" or "lost"
        self.wakeup = asyncio.Event()
        self.sizes: dict[StepName, int] = {}
        self.finished = False  # ended; JobEndings frees its lease after the row
        self.published_end = False  # the terminal event is out

    def request_cancel(self) -> None:
        """Stop this run because its job was cancelled."""
        self._stop("cancel")

    def _stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        for task in self.tasks:
            task.cancel()
        self.wakeup.set()

    async def execute(self) -> JobStatus | None:
        job_id = self.state.job_id
        self.ex.leases.hold(
            job_id,
            on_lost=lambda: self._stop("lost"),
            on_cancel=lambda: self._stop("cancel"),
            slot_key=self.slot_key,
        )
        publisher = EventPublisher(self.store, job_id, self.run.worker_id)
        ended = False  # a run cancelled from outside (shutdown) keeps its lease to lapse
        try:
            status = await self._execute(publisher)
            ended = True
            return status
        except LeaseLostError:
            log.warning("lease lost; leaving the job to its new owner", job_id=job_id)
            return None
        finally:
            self.ex.leases.drop(job_id)
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            try:
                await publisher.close()
            except Exception as exc:  # already reported through the run's own error path
                log.debug("publisher closed with error", error=str(exc))
            if ended:
                if not self.finished:  # an ended job's lease is freed by JobEndings
                    await self.store.release_lease(job_id, self.run.worker_id)
                if self.slot_key:
                    await self.store.release_slot(self.slot_key, job_id)
            elif self.published_end:
                # The terminal event is out but the trace row failed: the lease lapses, and a
                # reaper records the end from Redis.
                log.warning("job ended without its trace row; a reaper will record it",
                            job_id=job_id)
            else:
                # Cancelled mid-run (the worker is stopping) or the lease was lost: leave the
                # lease to lapse, so the reaper hands the job to another worker.
                log.info("run stopped before the job ended", job_id=job_id)

    async def _record_lost_attempts(self, stored: dict[StepName, bytes]) -> None:
        for name, st in self.state.steps.items():
            if st.status == StepStatus.RUNNING.value and name not in stored:
                # The previous run died mid-attempt: record that attempt as lost.
                await self.ex.hooks.on_step_end(
                    self.run,
                    AttemptRecord(
                        name, st.attempt, StepStatus.FAILED.value, st.started_at or time.time(),
                        time.time(), None,
                        {"code": "worker_lost", "message": "the worker running it died"},
                        worker_id=self.state.worker,
                    ),
                )  # fmt: skip

    async def _reconcile_trace(self) -> None:
        """Bring the earlier runs' step_runs rows in line with Redis before this run starts a
        step: a worker killed with rows in its buffer left them ``running`` or unwritten."""
        services = self.ex.services
        if services.trace is None:  # a local run (worker/local.py) keeps no trace
            return
        try:
            from orchestrator.jobs.reconcile import reconcile_step_runs  # resumed runs only

            fixed = await reconcile_step_runs(services.state, services.trace, self.state.job_id)
        except OrchestratorError as exc:  # the reaper's end of the job tries again
            log.warning("step run reconciliation failed", job_id=self.state.job_id, error=str(exc))
            return
        if fixed:
            log.info("step runs reconciled from redis", job_id=self.state.job_id, rows=fixed)

    async def _execute(self, publisher: EventPublisher) -> JobStatus | None:
        job_id = self.state.job_id
        try:
            wf = workflow_of(self.ex.services.registry, self.state)
        except (WorkflowNotFoundError, DagError) as exc:
            return await self._finish(JobStatus.FAILED, [], None, exc.to_dict(), publisher)
        steps = list(wf.steps)
        # A job never started has no checkpoints (job.started's runs=1 is written before any):
        # no round trip for them.
        fresh = self.state.runs == 0 and not self.state.steps
        stored = {} if fresh else await self.store.load_checkpoints(job_id, steps)
        outputs: dict[StepName, Any] = {name: loads(raw) for name, raw in stored.items()}
        self.sizes = {name: len(raw) for name, raw in stored.items()}
        await self._record_lost_attempts(stored)
        if self.run.run > 1:
            await self._reconcile_trace()
        fields: dict[str, str | int | float] = {
            "status": JobStatus.RUNNING.value,
            "runs": self.run.run,
            "worker": self.run.worker_id,
            "blocked": "",
        }
        if self.state.started_at is None:
            fields["started_at"] = repr(time.time())
        await self.ex.hooks.on_job_start(self.run)
        # Through the publisher: it leaves with the first step's writes, in order.
        publisher.put(
            fields,
            NewEvent(
                "job.started",
                attempt=self.run.run,
                data={"worker": self.run.worker_id, "resumed": self.run.run > 1},
            ),
        )
        if self.state.cancel_requested:
            self._stop("cancel")
        runner = StepRunner(
            self.run, self.store, publisher, self.ex.hooks, self.state.inputs,
            max_output_bytes=self.settings.state.max_output_bytes,
            calls=self.ex.services.calls,
        )  # fmt: skip
        failure, questions = await self._schedule(wf, runner, outputs)
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
                if n != failure.step.split("[")[0]:
                    publisher.put({step_field(n, "status"): StepStatus.SKIPPED.value}, None)
            error = {
                "code": "step_failed",
                "message": f"step {failure.step!r} failed",
                "details": {"step": failure.step, "error": failure.error},
            }
            return await self._finish(JobStatus.FAILED, steps, None, error, publisher)
        if questions:
            return await self._suspend_for_input(questions, publisher)
        if pending:  # drained: running steps finished, the rest waits for the next worker
            return await self._suspend_for_drain(publisher)
        result = {sink: self._result_value(sink, outputs[sink]) for sink in wf.sinks}
        return await self._finish(JobStatus.SUCCEEDED, steps, result, None, publisher)

    def _result_value(self, sink: StepName, value: Any) -> Any:
        """A sink's output, or a claim check pointing at it when it is large."""
        size = self.sizes.get(sink, 0)
        if size > self.settings.state.compress_threshold_bytes:
            return {
                "$ref": f"/v1/jobs/{self.state.job_id}/steps/{sink}/output",
                "output_bytes": size,
            }
        return value

    def _launch(self, coro: Any, name: StepName) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"step:{name}")
        task.add_done_callback(lambda _: self.wakeup.set())  # the scheduler looks at once
        self.tasks[task] = name

    async def _schedule(
        self, wf: Workflow, runner: StepRunner, outputs: dict[StepName, Any]
    ) -> tuple[StepOutcome | None, list[StepOutcome]]:
        """Start ready steps as the parallel rules allow, until nothing can run.

        Returns:
            The first failure (if any) and the steps waiting for an answer.
        """
        pending = [n for n in wf.steps if n not in outputs]
        exclusive = False
        failure: StepOutcome | None = None
        questions: list[StepOutcome] = []
        while True:
            blocked = failure is not None or questions or self.ex.draining
            if not blocked and self.stop_reason is None:
                for name in list(pending):
                    if not all(d in outputs for d in wf.deps[name]):
                        continue
                    step = wf.steps[name]
                    if exclusive or (not step.parallel and self.tasks):
                        break  # a lone step waits for the others, and nothing passes it
                    binding = wf.bindings[name]
                    if step.map_over is not None:
                        coro = run_mapped(runner, binding, outputs, self.state, self.sizes)
                    else:
                        prior = self.state.steps.get(name)
                        coro = runner.run_step(binding, outputs, (prior.attempt if prior else 0) + 1)
                    self._launch(coro, name)
                    pending.remove(name)
                    if not step.parallel:
                        exclusive = True
                        break
            if not self.tasks:
                return failure, questions
            # A step's end sets the wake-up itself (``_launch``), as do a cancel and a drain:
            # no waiter task per round. One already ended is seen without waiting.
            self.wakeup.clear()
            if not any(task.done() for task in self.tasks):
                await self.wakeup.wait()
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
                    self.sizes[name] = outcome.output_bytes
                elif outcome.waiting is not None:
                    questions.append(outcome)
                elif failure is None:
                    failure = outcome
                    for other in self.tasks:
                        other.cancel()

    async def _suspend_for_input(
        self, questions: list[StepOutcome], publisher: EventPublisher
    ) -> JobStatus:
        fields: dict[str, str | int | float] = {"status": JobStatus.WAITING.value}
        for q in questions:
            assert q.waiting is not None
            ask = {"index": q.waiting.index, "prompt": q.waiting.prompt, "schema": q.waiting.schema}
            fields[question_field(q.step)] = dumps(ask).decode()
            fields[step_field(q.step, "status")] = StepStatus.WAITING.value
        for q in questions[1:]:
            assert q.waiting is not None
            publisher.put({}, NewEvent("job.waiting", q.step, None, _question_data(q)))
        await publisher.flush()
        await self.ex.hooks.on_job_suspend(self.run, JobStatus.WAITING)
        await self.store.update(
            self.state.job_id,
            fields,
            NewEvent("job.waiting", questions[0].step, None, _question_data(questions[0])),
            worker_id=self.run.worker_id,
        )
        log.info("job waits for input", job_id=self.state.job_id,
                 steps=[q.step for q in questions])
        return JobStatus.WAITING

    async def _suspend_for_drain(self, publisher: EventPublisher) -> JobStatus:
        """Queue the job again at once, so the next worker need not wait for the lease."""
        await publisher.flush()
        await self.ex.hooks.on_job_suspend(self.run, JobStatus.QUEUED)
        arq_job_id = f"{self.state.job_id}:drain:{uuid.uuid4().hex[:8]}"
        await self.store.update(
            self.state.job_id,
            {"status": JobStatus.QUEUED.value, "arq_job_id": arq_job_id},
            NewEvent("job.queued", data={"reason": "worker shutting down"}),
            worker_id=self.run.worker_id,
        )
        await self.ex.services.queue.enqueue(
            self.state.job_id, arq_job_id=arq_job_id, trace=self.state.trace
        )
        log.info("worker draining; job queued again", job_id=self.state.job_id)
        return JobStatus.QUEUED

    async def _finish(
        self,
        status: JobStatus,
        steps: list[StepName],
        result: Any,
        error: Any,
        publisher: EventPublisher,
    ) -> JobStatus:
        """End the job: the terminal event first (the client's result), then the trace row.

        The row (queued by the trace recorder's hook) and the lease release follow in the
        background (:class:`JobEndings`), so the worker's slot is free at once. The lease is
        held until the row is written (DESIGN §3.3 keeps PostgreSQL off the critical path): if
        this worker dies in between, a reaper finds the ended job's lapsed lease and records
        its end from Redis.
        """
        await publisher.flush()
        fields: dict[str, str | int | float] = {}
        if result is not None:
            fields["result"] = dumps(result).decode()
        if error is not None:
            fields["error"] = dumps(error).decode()
        data = {"result": result} if status is JobStatus.SUCCEEDED else {"error": error}
        await self.store.finish(
            self.state.job_id, status, steps, fields, data, worker_id=self.run.worker_id
        )
        self.published_end = True
        await self.ex.hooks.on_job_end(self.run, status, result, error)  # the row is queued
        await self.ex.endings.submit(self.run)
        self.finished = True
        log.info("job finished", job_id=self.state.job_id, status=status.value)
        return status


def _question_data(q: StepOutcome) -> dict[str, Any]:
    assert q.waiting is not None
    return {"step": q.step, "index": q.waiting.index, "prompt": q.waiting.prompt,
            "schema": q.waiting.schema}


__all__ = ["Run"]
