"""One step of a job: bind its arguments, run attempts (retries, timeout, cache), checkpoint."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import TypeAdapter

from orchestrator.dag.binding import StepBinding
from orchestrator.dag.context import StepContext
from orchestrator.dag.step import Step
from orchestrator.durable.base import CallStore
from orchestrator.durable.journal import CallJournal
from orchestrator.durable.memory import MemoryCallStore
from orchestrator.errors import (
    OrchestratorError,
    OutputTooLargeError,
    Retry,
    StepError,
    StepTimeoutError,
    ToolForbiddenError,
    WaitingForInput,
)
from orchestrator.serialization import dumps, loads, to_jsonable
from orchestrator.state.base import NewEvent, StateStore
from orchestrator.state.codec import step_field
from orchestrator.types import JSONValue, StepName, StepStatus
from worker.hooks import AttemptRecord, ExecutionHook, JobRun
from worker.invoke import invoke
from worker.publisher import EventPublisher

_RNG = random.Random()


def backoff_seconds(step: Step, attempt: int, rng: random.Random | None = None) -> float:
    """Delay after the ``attempt``-th failure: exponential, capped, with equal jitter.

    ``d = min(cap, base * 2**(attempt-1))``, then ``d/2 + uniform(0, d/2)`` ("equal jitter",
    AWS Architecture Blog, "Exponential Backoff and Jitter", 2015): retries of many jobs spread
    out, and none comes sooner than half the nominal delay.
    """
    d = min(step.retry_max_backoff_seconds, step.retry_backoff_seconds * 2 ** (attempt - 1))
    source: random.Random = rng or _RNG
    return float(d / 2 + source.uniform(0, d / 2))


def instance_name(step: StepName, index: int | None) -> StepName:
    """``step`` itself, or ``step[index]`` for a fan-out instance."""
    return step if index is None else f"{step}[{index}]"


def answer_schema(schema: Any) -> dict[str, Any]:
    """The JSON schema of an ``ask``'s answer: a dict as is, ``{}`` for None, else pydantic's."""
    if schema is None:
        return {}
    if isinstance(schema, dict):
        return schema
    return TypeAdapter(schema).json_schema()


@dataclass(slots=True)
class StepOutcome:
    """The end of a step (or fan-out instance): its output, its error, or a pending question."""

    step: StepName
    succeeded: bool
    value: Any = None
    error: JSONValue = None
    output_bytes: int = 0
    waiting: WaitingForInput | None = None


@dataclass(slots=True)
class _Attempt:
    """What one attempt ended with, for :meth:`StepRunner.run_step` to decide what comes next."""

    outcome: StepOutcome | None
    error: dict[str, Any]
    retryable: bool = False
    delay_seconds: float | None = None


def _error_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, OrchestratorError):
        return exc.to_dict()
    return StepError(
        f"{type(exc).__name__}: {exc}",
        details={"type": f"{type(exc).__module__}.{type(exc).__qualname__}"},
    ).to_dict()


_step_log = structlog.get_logger("worker.step")
"""One proxy for the worker's step logs: with ``cache_logger_on_first_use`` (``orchestrator/
logs.py``) it resolves its logger once; one made per job resolved it for every job."""


class StepRunner:
    """Runs the steps of one job run.

    Args:
        run: The job run.
        store: The state store.
        publisher: The job's ordered publisher.
        hooks: Execution hooks.
        inputs: The job's validated inputs.
        max_output_bytes: Hard limit on one serialized output.
        calls: Where the steps' durable calls are checkpointed (DESIGN §13); each attempt
            gets its own :class:`~orchestrator.durable.journal.CallJournal` on it.
    """

    def __init__(
        self,
        run: JobRun,
        store: StateStore,
        publisher: EventPublisher,
        hooks: ExecutionHook,
        inputs: Mapping[str, JSONValue],
        *,
        max_output_bytes: int,
        calls: CallStore | None = None,
    ) -> None:
        self.run = run
        self.store = store
        self.publisher = publisher
        self.hooks = hooks
        self.inputs = inputs
        self.max_output_bytes = max_output_bytes
        self.calls: CallStore = calls if calls is not None else MemoryCallStore()
        self.log = _step_log.bind(job_id=run.job_id)

    def _arguments(
        self,
        binding: StepBinding,
        outputs: Mapping[StepName, Any],
        ctx: StepContext,
        element: tuple[int, Any] | None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {name: ctx for name in binding.context_params}
        for param, upstream in binding.upstream_params.items():
            kwargs[param] = outputs[upstream]
        for p in binding.input_params:
            if p.name in self.inputs:
                kwargs[p.name] = self.inputs[p.name]
        if element is not None and binding.step.map_over is not None:
            kwargs[binding.step.map_over] = element[1]
        for name, adapter in binding.adapters.items():
            if name in kwargs:
                kwargs[name] = adapter.validate_python(kwargs[name])
        return kwargs

    async def run_step(
        self,
        binding: StepBinding,
        outputs: Mapping[StepName, Any],
        first_attempt: int,
        element: tuple[int, Any] | None = None,
    ) -> StepOutcome:
        """Run attempts of a step (or of one fan-out instance) until one ends it.

        Args:
            binding: The step and how to call it.
            outputs: Outputs of finished steps (at least this step's dependencies).
            first_attempt: The attempt number to start from (above any earlier run's).
            element: ``(index, value)`` for a fan-out instance of a ``map_over`` step.

        Returns:
            The :class:`StepOutcome`; a failure or a question is an outcome, not an exception.

        Raises:
            LeaseLostError: Another worker took the job over.
            asyncio.CancelledError: The job was cancelled or its run stopped.
        """
        name = instance_name(binding.step.name, None if element is None else element[0])
        attempt = first_attempt
        failures = 0
        while True:
            result = await self._attempt(binding, outputs, attempt, name, element)
            if result.outcome is not None:
                return result.outcome
            failures += 1
            if not result.retryable or failures > binding.step.retries:
                self.publisher.put(
                    {
                        step_field(name, "status"): StepStatus.FAILED.value,
                        step_field(name, "finished_at"): repr(time.time()),
                        step_field(name, "error"): dumps(result.error).decode(),
                    },
                    NewEvent("step.failed", name, attempt, {"error": result.error}),
                )
                return StepOutcome(name, False, error=result.error)
            delay = result.delay_seconds
            if delay is None:
                delay = backoff_seconds(binding.step, failures)
            self.publisher.put(
                {step_field(name, "status"): StepStatus.PENDING.value},
                NewEvent(
                    "step.retrying",
                    name,
                    attempt,
                    {
                        "reason": result.error["message"],
                        "error": result.error,
                        "delay_seconds": round(delay, 3),
                        "next_attempt": attempt + 1,
                    },
                ),
            )
            attempt += 1
            if delay > 0:
                await asyncio.sleep(delay)

    def _cache_fingerprint(self, step: Step, kwargs: Mapping[str, Any]) -> str:
        data = {k: to_jsonable(v) for k, v in kwargs.items() if not isinstance(v, StepContext)}
        h = hashlib.sha256(step.code_fingerprint.encode())
        h.update(json.dumps(data, sort_keys=True, default=str).encode())
        return h.hexdigest()[:32]

    async def _ask(self, name: StepName, index: int, prompt: str, schema: Any) -> Any:
        raw = await self.store.get_answer(self.run.job_id, name, index)
        if raw is None:
            raise WaitingForInput(index, prompt, answer_schema(schema))
        value = loads(raw)
        if schema is not None and not isinstance(schema, dict):
            return TypeAdapter(schema).validate_python(value)
        return value

    async def _attempt(
        self,
        binding: StepBinding,
        outputs: Mapping[StepName, Any],
        attempt: int,
        name: StepName,
        element: tuple[int, Any] | None,
    ) -> _Attempt:
        step = binding.step
        started = time.time()
        t0 = time.perf_counter()
        log = self.log.bind(step=name, attempt=attempt)
        await self.hooks.on_step_start(
            self.run, AttemptRecord(name, attempt, StepStatus.RUNNING.value, started)
        )
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
            self.hooks.on_step_chunk(self.run, name, attempt, chunk)

        async def ask(index: int, prompt: str, schema: Any) -> Any:
            return await self._ask(name, index, prompt, schema)

        ctx = StepContext(
            job_id=self.run.job_id, step=name, attempt=attempt, inputs=self.inputs,
            emit=emit, logger=log, ask=ask,
            principal={
                "tenant_id": self.run.tenant_id, "user_id": self.run.user_id,
                "role": self.run.role,
            },
            calls=CallJournal(self.calls, self.run.job_id, name),
        )  # fmt: skip
        cache_hit = False
        fingerprint: str | None = None
        try:
            await self.hooks.on_step_context(self.run, ctx)
            kwargs = self._arguments(binding, outputs, ctx, element)
            payload: bytes | None = None
            if step.cache_ttl_seconds is not None:
                fingerprint = self._cache_fingerprint(step, kwargs)
                payload = await self.store.get_cached(step.name, fingerprint)
                cache_hit = payload is not None
            if payload is None:
                async with asyncio.timeout(step.timeout_seconds) as deadline:
                    value = await invoke(step, kwargs, on_chunk)
                payload = dumps(value)
                if len(payload) > self.max_output_bytes:
                    raise OutputTooLargeError(
                        f"step {name!r} returned {len(payload)} bytes, more than the "
                        f"{self.max_output_bytes} allowed (ORCH_STATE__MAX_OUTPUT_BYTES)",
                        details={"output_bytes": len(payload), "max_bytes": self.max_output_bytes},
                    )
            else:
                value = loads(payload)
        except WaitingForInput as question:
            await self._end(name, attempt, StepStatus.WAITING, started, t0)
            return _Attempt(StepOutcome(name, False, waiting=question), {})
        except asyncio.CancelledError:
            # The job was cancelled or its run stopped: close this attempt's trace row.
            await self._end(name, attempt, StepStatus.CANCELLED, started, t0)
            raise
        except Retry as exc:
            error = StepError(exc.reason, details={"type": "Retry"}).to_dict()
            await self._end(name, attempt, StepStatus.FAILED, started, t0, error=error)
            return _Attempt(None, error, retryable=True, delay_seconds=exc.after_seconds)
        except (OutputTooLargeError, ToolForbiddenError) as exc:  # retrying cannot help
            error = exc.to_dict()
            await self._end(name, attempt, StepStatus.FAILED, started, t0, error=error)
            return _Attempt(None, error, retryable=False)
        except TimeoutError as exc:
            if step.timeout_seconds is not None and deadline.expired():
                error = StepTimeoutError(
                    f"step {name!r} ran longer than {step.timeout_seconds} s",
                    details={"timeout_seconds": step.timeout_seconds},
                ).to_dict()
            else:
                error = _error_of(exc)
            await self._end(name, attempt, StepStatus.FAILED, started, t0, error=error)
            return _Attempt(None, error, retryable=isinstance(exc, step.retry_on))
        except Exception as exc:
            error = _error_of(exc)
            # An error class may say that retrying cannot help (budget_exceeded, a bad key).
            retryable = (isinstance(exc, step.retry_on) and not isinstance(exc, step.no_retry_on)
                         and getattr(exc, "retryable", True) is not False)
            log.warning("step attempt failed", error=error["message"], retryable=retryable)
            await self._end(name, attempt, StepStatus.FAILED, started, t0, error=error)
            return _Attempt(None, error, retryable=retryable)

        finished = time.time()
        duration_ms = (time.perf_counter() - t0) * 1000
        # After the step's chunks, in the same ordered pipeline.
        await self.publisher.checkpoint(
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
                {
                    "duration_ms": round(duration_ms, 3),
                    "output_bytes": len(payload),
                    "cache_hit": cache_hit,
                },
            ),
        )
        if fingerprint is not None and not cache_hit and step.cache_ttl_seconds is not None:
            await self.store.put_cached(step.name, fingerprint, payload, step.cache_ttl_seconds)
        await self.hooks.on_step_end(
            self.run,
            AttemptRecord(
                name, attempt, StepStatus.SUCCEEDED.value, started, finished, duration_ms,
                None, len(payload), cache_hit=cache_hit,
            ),
        )  # fmt: skip
        return _Attempt(StepOutcome(name, True, value=value, output_bytes=len(payload)), {})

    async def _end(
        self,
        name: StepName,
        attempt: int,
        status: StepStatus,
        started: float,
        t0: float,
        *,
        error: JSONValue = None,
    ) -> None:
        record = AttemptRecord(
            name, attempt, status.value, started, time.time(),
            (time.perf_counter() - t0) * 1000, error,
        )  # fmt: skip
        await self.hooks.on_step_end(self.run, record)


__all__ = ["StepOutcome", "StepRunner", "answer_schema", "backoff_seconds", "instance_name"]
