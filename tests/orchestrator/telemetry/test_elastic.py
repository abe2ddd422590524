"""The Elastic APM pipeline (``ORCH_TELEMETRY__EXPORTER=elastic-apm``) through the agent's bridge.

The agent runs for real with an in-memory transport (tests/support/elastic.py); the facts it
checks are those of ``shared/notes/keda-arq-k8s.md`` §7: explicit-span injection, a remote
parent making a Transaction, spans of the active transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from orchestrator.config import Settings
from orchestrator.telemetry import Telemetry, current, setup_telemetry
from orchestrator.types import JobStatus
from tests.support import elastic
from worker.hooks import AttemptRecord, JobRun
from worker.telemetry import TracingHook


@pytest.fixture
def apm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    """The elastic-apm pipeline with an in-memory transport and no network or instrumentation."""
    for key, value in {
        "TRANSPORT_CLASS": "tests.support.elastic.CapturingTransport",
        "INSTRUMENT": "false",
        "CLOUD_PROVIDER": "none",
        "CENTRAL_CONFIG": "false",
        "METRICS_INTERVAL": "0s",
        "SERVER_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(f"ELASTIC_APM_{key}", value)
    elastic.EVENTS.clear()
    shutdown = setup_telemetry(
        Settings(telemetry={"exporter": "elastic-apm", "service_name": "apm-test"}), "svc"
    )
    try:
        yield current()
    finally:
        shutdown()


def events(kind: str) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for t, e in elastic.EVENTS if t == kind}


def test_the_submit_span_injects_a_traceparent_only_when_passed_explicitly(
    apm: Telemetry,
) -> None:
    from opentelemetry import propagate

    with apm.tracer.start_as_current_span("request", kind=SpanKind.SERVER):
        with apm.tracer.start_as_current_span("enqueue", kind=SpanKind.PRODUCER) as span:
            bare: dict[str, str] = {}
            propagate.inject(bare)
            carrier = apm.inject(span)
            ids = apm.current_ids()

    assert apm.kind == "elastic-apm"
    assert bare == {}  # what the notes warn about: the OTel context does not see bridge spans
    assert ids is not None and carrier["traceparent"] == f"00-{ids[0]}-{ids[1]}-01"


async def test_job_and_steps_continue_the_submits_trace_as_transaction_and_spans(
    apm: Telemetry,
) -> None:
    with apm.tracer.start_as_current_span("request", kind=SpanKind.SERVER):
        with apm.tracer.start_as_current_span("enqueue", kind=SpanKind.PRODUCER) as span:
            carrier = apm.inject(span)
    hook = TracingHook(apm)
    run = JobRun("job-1", "wf", 1, "w1", carrier)
    seen: list[tuple[str, str] | None] = []

    async def attempt(step: str, status: str) -> None:
        t0 = time.time()
        await hook.on_step_start(run, AttemptRecord(step, 1, "running", t0))
        seen.append(apm.current_ids())
        error = {"code": "step_failed", "message": "boom"} if status == "failed" else None
        await hook.on_step_end(run, AttemptRecord(step, 1, status, t0, time.time(), 1.0, error))

    async def job() -> None:
        await hook.on_job_start(run)
        await asyncio.gather(
            asyncio.ensure_future(attempt("a", "succeeded")),
            asyncio.ensure_future(attempt("b", "failed")),
        )
        await hook.on_job_end(run, JobStatus.FAILED, None, {"code": "step_failed"})

    await asyncio.ensure_future(job())

    spans, transactions = events("span"), events("transaction")
    trace_id = carrier["traceparent"].split("-")[1]
    job_tx = transactions["job wf"]
    assert job_tx["trace_id"] == trace_id
    assert job_tx["parent_id"] == spans["enqueue"]["id"]
    assert job_tx["outcome"] == "failure"
    for name in ("step a", "step b"):
        assert spans[name]["transaction_id"] == job_tx["id"]
        assert spans[name]["parent_id"] == job_tx["id"]
    assert spans["step b"]["outcome"] == "failure"
    assert [ids[0] if ids else None for ids in seen] == [trace_id, trace_id]
