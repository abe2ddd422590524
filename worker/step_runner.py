"""One step of a job: bind its arguments, run attempts with retries and timeout, checkpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from orchestrator.dag.binding import StepBinding
from orchestrator.dag.context import StepContext
from orchestrator.errors import OrchestratorError, Retry, StepError, StepTimeoutError
from orchestrator.serialization import dumps
from orchestrator.state.base import NewEvent, StateStore
from orchestrator.state.codec import step_field
from orchestrator.types import JSONValue, StepName, StepStatus
from worker.hooks import AttemptRecord, ExecutionHook, JobRun
from worker.invoke import invoke
from worker.publisher import EventPublisher

MAX_BACKOFF_SECONDS = 300.0
"""Cap on the exponential backoff between attempts."""


@dataclass(slots=True)
class StepOutcome:
    """The end of a step: its output (when succeeded) or its error."""

    step: StepName
    succeeded: bool
    value: Any = None
    error: JSONValue = None


def _error_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, OrchestratorError):
        return exc.to_dict()
    return StepError(
        f"{type(exc).__name__}: {exc}",
        details={"type": f"{type(exc).__module__}.{type(exc).__qualname__}"},
    ).to_dict()


class StepRunner:
    """Runs the steps of one job run.

    Args:
        run: The job run.
        store: The state store.
        publisher: The job's ordered publisher.
        hooks: Execution hooks.
        inputs: The job's validated inputs.
    """

    def __init__(
        self,
        run: JobRun,
        store: StateStore,
        publisher: EventPublisher,
        hooks: ExecutionHook,
        inputs: Mapping[str, JSONValue],
    ) -> None:
        self.run = run
        self.store = store
        self.publisher = publisher
        self.hooks = hooks
        self.inputs = inputs
        self.log = structlog.get_logger("worker.step").bind(job_id=run.job_id)

    def _arguments(
        self, binding: StepBinding, outputs: Mapping[StepName, Any], ctx: StepContext
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {name: ctx for name in binding.context_params}
        for param, upstream in binding.upstream_params.items():
            kwargs[param] = outputs[upstream]
        for p in binding.input_params:
            if p.name in self.inputs:
                kwargs[p.name] = self.inputs[p.name]
        for name, adapter in binding.adapters.items():
            if name in kwargs:
                kwargs[name] = adapter.validate_python(kwargs[name])
        return kwargs

    async def run_step(
        self, binding: StepBinding, outputs: Mapping[StepName, Any], first_attempt: int
    ) -> StepOutcome:
        """Run attempts of ``binding.step`` until one succeeds or none remain.

        Args:
            binding: The step and how to call it.
            outputs: Outputs of finished steps (at least this step's dependencies).
            first_attempt: The attempt number to start from (above any earlier run's).

        Returns:
            The :class:`StepOutcome`; a failure is an outcome, not an exception.

        Raises:
            LeaseLostError: Another worker took the job over.
            asyncio.CancelledError: The job was cancelled or its run stopped.
        """
        step = binding.step
        attempt = first_attempt
        while True:
            outcome, delay, reason = await self._attempt(binding, outputs, attempt)
            if outcome is not None:
                return outcome
            attempt += 1
            self.publisher.put(
                {step_field(step.name, "status"): StepStatus.PENDING.value},
                NewEvent(
                    "step.retrying",
                    step.name,
                    attempt - 1,
                    {"reason": reason, "delay_seconds": delay, "next_attempt": attempt},
                ),
            )
            if delay > 0:
                await asyncio.sleep(delay)

    async def _attempt(
        self, binding: StepBinding, outputs: Mapping[StepName, Any], attempt: int
    ) -> tuple[StepOutcome | None, float, JSONValue]:
        step = binding.step
        name = step.name
        started = time.time()
        t0 = time.perf_counter()
        log = self.log.bind(step=name, attempt=attempt)
        record = AttemptRecord(name, attempt, StepStatus.RUNNING.value, started)
        await self.hooks.on_step_start(self.run, record)
        self.publisher.put(
            {
                step_field(name, "status"): StepStatus.RUNNING.value,
                step_field(name, "attempt"): attempt,
                step_field(name, "started_at"): repr(started),
            },
            NewEvent("step.started", name, attempt, None),
        )

        def emit(data: JSONValue) -> None:
            self.publisher.put({}, NewEvent("step.progress", name, attempt, data))

        def on_chunk(chunk: JSONValue) -> None:
            self.publisher.put({}, NewEvent("step.chunk", name, attempt, chunk))

        ctx = StepContext(
            job_id=self.run.job_id,
            step=name,
            attempt=attempt,
            inputs=self.inputs,
            emit=emit,
            logger=log,
        )
        retry_delay: float | None = None
        try:
            kwargs = self._arguments(binding, outputs, ctx)
            async with asyncio.timeout(step.timeout_seconds) as deadline:
                value = await invoke(step, kwargs, on_chunk)
            payload = dumps(value)
        except Retry as exc:
            error = StepError(exc.reason, details={"type": "Retry"}).to_dict()
            retry_delay = exc.after_seconds
        except TimeoutError as exc:
            if step.timeout_seconds is not None and deadline.expired():
                error = StepTimeoutError(
                    f"step {name!r} ran longer than {step.timeout_seconds} s",
                    details={"timeout_seconds": step.timeout_seconds},
                ).to_dict()
            else:
                error = _error_of(exc)
        except Exception as exc:
            error = _error_of(exc)
            log.warning("step attempt failed", error=error["message"])
        except asyncio.CancelledError:
            # The job was cancelled or its run stopped: close this attempt's trace row.
            record = AttemptRecord(
                name, attempt, StepStatus.CANCELLED.value, started, time.time(),
                (time.perf_counter() - t0) * 1000,
            )
            await self.hooks.on_step_end(self.run, record)
            raise
        else:
            finished = time.time()
            duration_ms = (time.perf_counter() - t0) * 1000
            await self.publisher.flush()  # chunks first, then the checkpoint and its event
            await self.store.checkpoint(
                self.run.job_id,
                name,
                payload,
                {
                    step_field(name, "status"): StepStatus.SUCCEEDED.value,
                    step_field(name, "finished_at"): repr(finished),
                },
                NewEvent(
                    "step.succeeded",
                    name,
                    attempt,
                    {"duration_ms": round(duration_ms, 3), "output_bytes": len(payload)},
                ),
                worker_id=self.run.worker_id,
            )
            await self.hooks.on_step_end(
                self.run,
                AttemptRecord(
                    name,
                    attempt,
                    StepStatus.SUCCEEDED.value,
                    started,
                    finished,
                    duration_ms,
                    None,
                    len(payload),
                ),
            )
            return StepOutcome(name, True, value=value), 0.0, None

        finished = time.time()
        duration_ms = (time.perf_counter() - t0) * 1000
        await self.hooks.on_step_end(
            self.run,
            AttemptRecord(
                name, attempt, StepStatus.FAILED.value, started, finished, duration_ms, error
            ),
        )
        if attempt <= step.retries:
            if retry_delay is None:
                retry_delay = min(
                    MAX_BACKOFF_SECONDS, step.retry_backoff_seconds * 2 ** (attempt - 1)
                )
            return None, retry_delay, error
        self.publisher.put(
            {
                step_field(name, "status"): StepStatus.FAILED.value,
                step_field(name, "finished_at"): repr(finished),
                step_field(name, "error"): dumps(error).decode(),
            },
            NewEvent("step.failed", name, attempt, {"error": error}),
        )
        return StepOutcome(name, False, error=error), 0.0, None


__all__ = ["StepOutcome", "StepRunner"]
