"""Tracing and log context of job runs: a span per job run and per step attempt (DESIGN §9).

The in-process stack runs gateway and worker on one in-memory pipeline (STYLE rule 15); the
cross-process version, over real OTLP, is tests/e2e/test_tracing.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.telemetry import attributes as attr
from orchestrator.telemetry import current, setup_telemetry
from orchestrator.telemetry.memory import in_memory_pipeline
from orchestrator.types import JobStatus
from sdk import StepContext, step, workflow
from tests.conftest import wait_until
from tests.support.jobs import wait_for_end
from tests.support.stack import in_process_stack
from worker.hooks import AttemptRecord, JobRun
from worker.telemetry import LogContextHook, TracingHook

SettingsFactory = Callable[..., Settings]
SEEN: dict[tuple[str, int], dict[str, Any]] = {}


@step(parallel=True, retries=1, retry_backoff_seconds=0.01)
async def flaky(topic: str, ctx: StepContext) -> str:
    SEEN[(ctx.job_id, ctx.attempt)] = {
        "log_context": structlog.contextvars.get_contextvars(),
        "ids": current().current_ids(),
    }
    with current().tracer.start_as_current_span("inside flaky"):
        pass
    if ctx.attempt == 1:
        raise RuntimeError("the first attempt fails")
    return topic.upper()


@step(parallel=True)
async def steady(topic: str) -> int:
    return len(topic)


@step(depends_on=[flaky, steady])
async def join(flaky: str, steady: int) -> str:
    return f"{flaky}:{steady}"


@step
async def broken() -> str:
    raise ValueError("always")


traced = workflow("traced", join)
failing = workflow("traced_failing", broken)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """This process's pipeline, exporting into memory, for the test's duration."""
    exporter = InMemorySpanExporter()
    shutdown = setup_telemetry(Settings(), "orchestrator-test", span_exporter=exporter,
                               set_global=False)
    try:
        yield exporter
    finally:
        shutdown()


async def run_job(settings: Settings, wf: str, inputs: dict[str, Any]) -> tuple[str, str]:
    async with in_process_stack(settings, WorkflowRegistry([traced, failing])) as stack:
        response = await stack.client.post("/v1/jobs", json={"workflow": wf, "inputs": inputs})
        assert response.status_code == 202, response.text
        job_id = str(response.json()["job_id"])

        state = await wait_for_end(stack.services, job_id)
        return job_id, state.status.value


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_one_trace_links_request_enqueue_job_and_every_step_attempt(
    isolated_settings: SettingsFactory, spans: InMemorySpanExporter
) -> None:
    job_id, status = await run_job(isolated_settings(), "traced", {"topic": "otel"})
    assert status == "succeeded"

    async def job_span_ended() -> bool:
        return bool(by_name(spans.get_finished_spans(), "job traced"))

    await wait_until(job_span_ended, what="the job span")
    finished = spans.get_finished_spans()
    (request,) = [s for s in finished if s.kind is SpanKind.SERVER and "POST" in s.name]
    (enqueue,) = by_name(finished, "enqueue traced")
    (job,) = by_name(finished, "job traced")
    flaky_attempts = sorted(by_name(finished, "step flaky"), key=lambda s: s.attributes[attr.ATTEMPT])
    (steady_span,) = by_name(finished, "step steady")
    (join_span,) = by_name(finished, "step join")

    assert {s.context.trace_id for s in finished if s.attributes.get(attr.JOB_ID) == job_id} == {
        request.context.trace_id
    }
    assert enqueue.kind is SpanKind.PRODUCER and parent_of(enqueue) == request.context.span_id
    assert job.kind is SpanKind.CONSUMER and parent_of(job) == enqueue.context.span_id
    assert job.attributes[attr.JOB_ID] == job_id and job.attributes[attr.JOB_STATUS] == "succeeded"
    assert [s.attributes[attr.ATTEMPT] for s in flaky_attempts] == [1, 2]
    for s in (*flaky_attempts, steady_span, join_span):
        assert parent_of(s) == job.context.span_id
        assert s.attributes[attr.WORKFLOW] == "traced" and s.attributes[attr.JOB_ID] == job_id
    first, second = flaky_attempts
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes[attr.STEP_STATUS] == "failed"
    assert [e.name for e in first.events] == ["exception"]
    assert first.events[0].attributes is not None
    assert "the first attempt fails" in str(first.events[0].attributes[attr.EXCEPTION_MESSAGE])
    assert second.status.status_code is StatusCode.UNSET
    assert second.attributes[attr.OUTPUT_BYTES] == len('"OTEL"')
    assert steady_span.start_time is not None and join_span.start_time is not None
    assert steady_span.end_time is not None and join_span.start_time >= steady_span.end_time
    (inner,) = [s for s in by_name(finished, "inside flaky") if parent_of(s) == second.context.span_id]
    assert inner.context.trace_id == job.context.trace_id

    row = await _trace_id_of(isolated_settings(), job_id)
    assert row == format(job.context.trace_id, "032x")


async def _trace_id_of(settings: Settings, job_id: str) -> str | None:
    async with in_process_stack(settings, WorkflowRegistry([traced]), with_worker=False) as stack:
        row = await stack.services.trace.get_job(job_id)
        return row.trace_id if row is not None else None


async def test_a_failed_job_marks_its_job_span_and_its_attempt_as_errors(
    isolated_settings: SettingsFactory, spans: InMemorySpanExporter
) -> None:
    _, status = await run_job(isolated_settings(), "traced_failing", {})
    assert status == "failed"

    (job,) = by_name(spans.get_finished_spans(), "job traced_failing")
    (attempt,) = by_name(spans.get_finished_spans(), "step broken")
    assert job.status.status_code is StatusCode.ERROR
    assert job.attributes[attr.ERROR_CODE] == "step_failed"
    assert attempt.status.status_code is StatusCode.ERROR
    assert attempt.attributes[attr.STEP_STATUS] == "failed"


async def test_step_code_runs_with_its_job_step_attempt_and_trace_in_context(
    isolated_settings: SettingsFactory, spans: InMemorySpanExporter
) -> None:
    job_id, _ = await run_job(isolated_settings(), "traced", {"topic": "logs"})

    for attempt in (1, 2):
        seen = SEEN[(job_id, attempt)]
        assert seen["log_context"] == {
            "job_id": job_id, "workflow": "traced", "step": "flaky", "attempt": attempt,
        }  # fmt: skip
        (span,) = [
            s for s in by_name(spans.get_finished_spans(), "step flaky")
            if s.attributes[attr.JOB_ID] == job_id and s.attributes[attr.ATTEMPT] == attempt
        ]  # fmt: skip
        assert seen["ids"] == (
            format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")
        )


# -- the hooks on their own -----------------------------------------------------------------


def a_run(carrier: dict[str, str] | None = None, run: int = 1) -> JobRun:
    return JobRun("job-1", "wf", run, "worker-1", carrier or {})


async def test_an_attempt_a_dead_worker_ran_gets_a_span_with_its_recorded_times() -> None:
    tel, exporter = in_memory_pipeline()
    hook = TracingHook(tel)
    run = a_run(run=2)

    async def resumed_run() -> None:
        lost = AttemptRecord("A", 1, "failed", 1_700_000_000.0, 1_700_000_003.0, None,
                             {"code": "worker_lost", "message": "the worker running it died"},
                             worker_id="dead:1:abc")  # fmt: skip
        await hook.on_step_end(run, lost)
        await hook.on_job_start(run)
        await hook.on_job_end(run, JobStatus.SUCCEEDED, {}, None)

    await asyncio.ensure_future(resumed_run())

    lost_span, job = exporter.get_finished_spans()
    assert (lost_span.start_time, lost_span.end_time) == (1_700_000_000 * 10**9, 1_700_000_003 * 10**9)
    assert lost_span.attributes[attr.WORKER_ID] == "dead:1:abc"
    assert lost_span.attributes[attr.ERROR_CODE] == "worker_lost"
    assert parent_of(lost_span) == job.context.span_id and job.attributes[attr.RUN] == 2


async def test_a_run_that_ends_without_finishing_the_job_closes_its_spans_as_abandoned() -> None:
    tel, exporter = in_memory_pipeline()
    hook = TracingHook(tel)
    run = a_run()

    async def lost_lease() -> None:
        await hook.on_job_start(run)
        await hook.on_step_start(run, AttemptRecord("A", 1, "running", time.time()))
        # ... and the run's task ends (LeaseLostError) without on_step_end or on_job_end.

    await asyncio.ensure_future(lost_lease())
    await asyncio.sleep(0)  # done callbacks run on the next loop iteration

    step_span, job = exporter.get_finished_spans()
    assert job.attributes[attr.JOB_STATUS] == "abandoned"
    assert step_span.attributes[attr.STEP_STATUS] == "abandoned"
    assert job.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize("configured", [True, False])
async def test_streamed_chunks_are_span_events_only_when_configured(configured: bool) -> None:
    tel, exporter = in_memory_pipeline(chunk_events=configured)
    hook = TracingHook(tel)
    run = a_run()

    async def streaming() -> None:
        await hook.on_job_start(run)
        t0 = time.time()
        await hook.on_step_start(run, AttemptRecord("render", 1, "running", t0))
        for chunk in ("héllo ", {"n": 1}):
            hook.on_step_chunk(run, "render", 1, chunk)
        await hook.on_step_end(run, AttemptRecord("render", 1, "succeeded", t0, time.time(), 1.0))
        await hook.on_job_end(run, JobStatus.SUCCEEDED, {}, None)

    await asyncio.ensure_future(streaming())

    (render,) = by_name(exporter.get_finished_spans(), "step render")
    if not configured:
        assert render.events == ()
        return
    assert [dict(e.attributes or {}) for e in render.events] == [
        {attr.CHUNK_INDEX: 0, attr.CHUNK_BYTES: 7, attr.CHUNK_PREVIEW: "héllo "},
        {attr.CHUNK_INDEX: 1, attr.CHUNK_BYTES: 7, attr.CHUNK_PREVIEW: '{"n":1}'},
    ]


async def test_the_log_context_is_bound_per_task_and_unbound_when_each_part_ends() -> None:
    hook = LogContextHook()
    run = a_run()
    seen: dict[str, dict[str, Any]] = {}

    async def attempt() -> None:
        record = AttemptRecord("A", 3, "running", time.time())
        await hook.on_step_start(run, record)
        seen["in step"] = structlog.contextvars.get_contextvars()
        await hook.on_step_end(run, record)
        seen["after step"] = structlog.contextvars.get_contextvars()

    async def job() -> None:
        await hook.on_job_start(run)
        await asyncio.ensure_future(attempt())
        seen["in job"] = structlog.contextvars.get_contextvars()
        await hook.on_job_end(run, JobStatus.SUCCEEDED, {}, None)
        seen["after job"] = structlog.contextvars.get_contextvars()

    await asyncio.ensure_future(job())

    assert seen["in step"] == {"job_id": "job-1", "workflow": "wf", "step": "A", "attempt": 3}
    assert seen["after step"] == seen["in job"] == {"job_id": "job-1", "workflow": "wf"}
    assert seen["after job"] == {}
