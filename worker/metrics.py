"""Prometheus metrics of the worker, kept by an execution hook, and how they leave the process.

The metrics live in prometheus-client's default registry. Three ways out (README, Observability;
docs/operations.md):

- ``orchestrator dev`` and in-process stacks: the gateway's ``/metrics`` (same registry).
- A long-lived worker: its own ``/metrics`` on ``ORCH_TELEMETRY__METRICS_PORT`` (:func:`serve`).
- KEDA one-job pods live for one job, too briefly to be scraped: with
  ``ORCH_TELEMETRY__PUSHGATEWAY_URL`` each pushes its registry when it exits (:func:`push`),
  grouped by worker id.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import (
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    push_to_gateway,
    start_http_server,
)

from orchestrator.errors import OrchestratorError
from orchestrator.state.base import StateStore
from orchestrator.types import JobStatus, StepStatus
from worker.hooks import AttemptRecord, ExecutionHook, JobRun
from worker.telemetry import run_key

log = structlog.get_logger("worker.metrics")

DURATION_BUCKETS_SECONDS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
)  # fmt: skip
"""From a cached lookup (ms) to an LLM call or a long agent step (an hour)."""

BYTES_BUCKETS = tuple(float(4**n) for n in range(3, 14))
"""64 B to 64 MiB, powers of 4 (checkpointed outputs)."""

JOBS_FINISHED = Counter(
    "orchestrator_jobs_finished_total",
    "Job runs that ended in this worker, by workflow and final status.",
    ["workflow", "status"],
)
JOB_RUN_DURATION = Histogram(
    "orchestrator_job_run_duration_seconds",
    "Wall time of one run of a job in a worker (a resumed job has several runs).",
    ["workflow", "status"],
    buckets=DURATION_BUCKETS_SECONDS,
)
QUEUE_WAIT = Histogram(
    "orchestrator_queue_wait_seconds",
    "Time from submit to the first start of a job in a worker.",
    ["workflow"],
    buckets=DURATION_BUCKETS_SECONDS,
)
STEP_DURATION = Histogram(
    "orchestrator_step_duration_seconds",
    "Wall time of one step attempt, by workflow, step and outcome.",
    ["workflow", "step", "status"],
    buckets=DURATION_BUCKETS_SECONDS,
)
STEP_RETRIES = Counter(
    "orchestrator_step_retries_total",
    "Step attempts beyond the first (retries, and re-runs after a lost worker).",
    ["workflow", "step"],
)
STEP_CACHE_HITS = Counter(
    "orchestrator_step_cache_hits_total",
    "Step attempts answered from the step cache.",
    ["workflow", "step"],
)
CHECKPOINT_BYTES = Histogram(
    "orchestrator_checkpoint_bytes",
    "Size of checkpointed step outputs (serialized), by workflow and step.",
    ["workflow", "step"],
    buckets=BYTES_BUCKETS,
)
JOBS_RUNNING = Gauge("orchestrator_worker_jobs_running", "Jobs this worker is running now.")
STEPS_RUNNING = Gauge(
    "orchestrator_worker_steps_running", "Step attempts this worker is running now."
)

_INSTANCE_SUFFIX = re.compile(r"\[[^\]]*\]$")


def step_label(step: str) -> str:
    """The ``step`` label: fan-out instances (``name[3]``) share their step's series."""
    return _INSTANCE_SUFFIX.sub("", step)


class MetricsHook(ExecutionHook):
    """Updates the worker's Prometheus metrics at the executor's hook points.

    Args:
        state: Where a job's submit time is read for the queue wait (once per job, on its
            first run); ``None`` skips that metric.
    """

    def __init__(self, state: StateStore | None = None) -> None:
        self.state = state
        self._running: dict[Any, float] = {}
        self._steps: set[Any] = set()

    async def on_job_start(self, run: JobRun) -> None:
        """Count the job as running; observe its queue wait on its first run."""
        key = run_key(run)
        if key not in self._running:
            self._running[key] = time.time()
            JOBS_RUNNING.inc()
            task = asyncio.current_task()
            if task is not None:
                task.add_done_callback(lambda _: self._stop_job(key))
        if run.run == 1:
            created = getattr(run, "created_at", None)
            if created is None and self.state is not None:
                try:
                    job = await self.state.get_job(run.job_id)
                except OrchestratorError:
                    job = None  # a metric is not worth failing the run for
                created = job.created_at if job is not None else None
            if created is not None:
                QUEUE_WAIT.labels(run.workflow).observe(max(0.0, time.time() - created))

    def _stop_job(self, key: Any) -> float | None:
        started = self._running.pop(key, None)
        if started is not None:
            JOBS_RUNNING.dec()
        return started

    def _stop_step(self, key: Any) -> None:
        if key in self._steps:
            self._steps.discard(key)
            STEPS_RUNNING.dec()

    async def on_step_start(self, run: JobRun, record: AttemptRecord) -> None:
        """Count the attempt as running; an attempt above 1 is a retry."""
        key = (run_key(run), record.step, record.attempt)
        if key not in self._steps:
            self._steps.add(key)
            STEPS_RUNNING.inc()
            task = asyncio.current_task()
            if task is not None:
                task.add_done_callback(lambda _: self._stop_step(key))
        if record.attempt > 1:
            STEP_RETRIES.labels(run.workflow, step_label(record.step)).inc()

    async def on_step_end(self, run: JobRun, record: AttemptRecord) -> None:
        """Observe the attempt's duration, output size and cache hit."""
        self._stop_step((run_key(run), record.step, record.attempt))
        step = step_label(record.step)
        if record.duration_ms is not None:
            STEP_DURATION.labels(run.workflow, step, record.status).observe(
                record.duration_ms / 1000
            )
        if record.status == StepStatus.SUCCEEDED.value and record.output_bytes is not None:
            CHECKPOINT_BYTES.labels(run.workflow, step).observe(record.output_bytes)
        if getattr(record, "cache_hit", None) is True:
            STEP_CACHE_HITS.labels(run.workflow, step).inc()

    async def on_job_end(
        self, run: JobRun, status: JobStatus, result: Any, error: Any
    ) -> None:
        """Count the finished job and observe the run's duration."""
        value = JobStatus(status).value
        JOBS_FINISHED.labels(run.workflow, value).inc()
        started = self._stop_job(run_key(run))
        if started is not None:
            JOB_RUN_DURATION.labels(run.workflow, value).observe(time.time() - started)


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """The worker's own ``/metrics`` endpoint (:func:`serve`)."""

    port: int
    stop: Callable[[], None]


def serve(port: int, host: str = "0.0.0.0") -> MetricsServer:
    """Serve the default registry on ``http://host:port/metrics`` in a daemon thread.

    Args:
        port: TCP port; 0 picks a free one (see :attr:`MetricsServer.port`).
        host: Bind address.
    """
    server, thread = start_http_server(port, addr=host)
    log.info("worker metrics served", host=host, port=server.server_port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return MetricsServer(int(server.server_port), stop)


async def push(url: str, worker_id: str, *, timeout_seconds: float = 5.0) -> None:
    """Push the default registry to a Prometheus Pushgateway, grouped by ``instance=worker_id``.

    A failure is logged, never raised: metrics must not fail a pod that finished its job.
    """
    try:
        await asyncio.to_thread(
            push_to_gateway,
            url,
            job="orchestrator-worker",
            registry=REGISTRY,
            grouping_key={"instance": worker_id},
            timeout=timeout_seconds,
        )
    except Exception as exc:  # urllib raises OSError subclasses and HTTPError
        log.warning("metrics push failed", url=url, error=f"{type(exc).__name__}: {exc}")


__all__ = [
    "CHECKPOINT_BYTES",
    "JOBS_FINISHED",
    "JOBS_RUNNING",
    "JOB_RUN_DURATION",
    "QUEUE_WAIT",
    "STEPS_RUNNING",
    "STEP_CACHE_HITS",
    "STEP_DURATION",
    "STEP_RETRIES",
    "MetricsHook",
    "MetricsServer",
    "push",
    "serve",
    "step_label",
]
