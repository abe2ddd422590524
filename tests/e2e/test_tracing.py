"""End to end: one trace across the gateway and a one-job worker process, over real OTLP/HTTP.

Both processes run with ``ORCH_TELEMETRY__EXPORTER=otlp`` (protocol http) pointed at an OTLP
receiver in this test (tests/support/otlp.py decodes the real protobuf requests). The worker's
batch processor waits 60 s between exports, so its spans arrive only because a one-job worker
flushes before it exits (DESIGN §7).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Stack, start_stack
from tests.support.otlp import OtlpReceiver, ReceivedSpan, otlp_receiver

pytestmark = pytest.mark.e2e

WORKER_EXIT_TIMEOUT_SECONDS = 60


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as r:
        yield r


@pytest.fixture
def traced_stack(
    redis_url: str, pg_url: str, tmp_path: Path, receiver: OtlpReceiver
) -> Iterator[Stack]:
    """A gateway exporting spans over OTLP/HTTP; workers are started by the test."""
    extra_env = {
        "ORCH_WORKFLOWS": "tests.e2e.tracing_flows",
        "ORCH_TELEMETRY__EXPORTER": "otlp",
        "ORCH_TELEMETRY__OTLP_PROTOCOL": "http",
        "ORCH_TELEMETRY__OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # the gateway exports within 0.1 s
    }
    with start_stack(
        redis_url, pg_url, tmp_path, workflows="tests.e2e.tracing_flows",
        extra_env=extra_env, workers=0,
    ) as stack:
        yield stack


def submitted_count(url: str, headers: dict[str, str]) -> float:
    text = httpx.get(f"{url}/metrics", headers=headers, timeout=5).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "orchestrator_jobs_submitted_total" and s.labels == {"workflow": "e2e_traced"}
    )


def test_one_trace_spans_gateway_job_and_every_step_attempt_across_processes(
    traced_stack: Stack, receiver: OtlpReceiver
) -> None:
    stack = traced_stack
    # Only the flush at exit can deliver this worker's spans within the test's time.
    stack.env["OTEL_BSP_SCHEDULE_DELAY"] = "60000"
    worker = stack.start_worker("--one-job")
    submitted_before = submitted_count(stack.url, stack.headers)

    response = httpx.post(
        f"{stack.url}/v1/jobs", json={"workflow": "e2e_traced", "inputs": {"topic": "otel"}},
        headers=stack.headers, timeout=10,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert worker.wait(WORKER_EXIT_TIMEOUT_SECONDS) == 0
    assert httpx.get(f"{stack.url}/v1/jobs/{job_id}", headers=stack.headers, timeout=5).json()["status"] == "succeeded"
    assert submitted_count(stack.url, stack.headers) == submitted_before + 1

    def complete(spans: list[ReceivedSpan]) -> bool:
        names = [s.name for s in spans]
        return "enqueue e2e_traced" in names and names.count("step wobble") == 2 and (
            "step settle" in names and "job e2e_traced" in names
        )

    spans = receiver.wait_for(complete)
    (enqueue,) = [s for s in spans if s.name == "enqueue e2e_traced"]
    trace = [s for s in spans if s.trace_id == enqueue.trace_id]
    by_id = {s.span_id: s for s in trace}

    (job,) = [s for s in trace if s.name == "job e2e_traced"]
    request = by_id[enqueue.parent_id]
    assert (request.service, request.kind) == ("orchestrator-gateway", "server")
    assert "/v1/jobs" in request.name
    assert (enqueue.service, enqueue.kind) == ("orchestrator-gateway", "producer")
    assert enqueue.attributes["orchestrator.job_id"] == job_id
    assert (job.service, job.kind, job.parent_id) == ("orchestrator-worker", "consumer",
                                                      enqueue.span_id)  # fmt: skip
    assert job.attributes["orchestrator.job_id"] == job_id and not job.error

    attempts = sorted(
        (s for s in trace if s.name.startswith("step ")),
        key=lambda s: (s.name, s.attributes["orchestrator.attempt"]),
    )
    assert [(s.name, s.attributes["orchestrator.attempt"], s.error) for s in attempts] == [
        ("step settle", 1, False), ("step wobble", 1, True), ("step wobble", 2, False),
    ]  # fmt: skip
    for s in attempts:
        assert s.parent_id == job.span_id and s.service == "orchestrator-worker"
        assert s.attributes["orchestrator.job_id"] == job_id
    failed = attempts[1]
    assert failed.events == ["exception"] and failed.attributes["orchestrator.step.status"] == "failed"

    waterfall = httpx.get(f"{stack.url}/v1/jobs/{job_id}/trace", headers=stack.headers, timeout=5).json()
    assert waterfall["trace_id"] == enqueue.trace_id
    assert [(s["step"], s["attempt"], s["status"]) for s in waterfall["steps"]] == [
        ("wobble", 1, "failed"), ("wobble", 2, "succeeded"), ("settle", 1, "succeeded"),
    ]  # fmt: skip

    worker_lines = [
        json.loads(line)
        for line in (stack.logs / "worker-0.log").read_text().splitlines()
        if line.startswith("{")
    ]
    hello: list[dict[str, Any]] = [
        line for line in worker_lines if line.get("event") == "traced step says hello"
    ]
    assert len(hello) == 2
    step_spans = {s.attributes["orchestrator.attempt"]: s for s in attempts[1:]}
    for line in hello:
        assert line["job_id"] == job_id and line["step"] == "wobble"
        assert line["trace_id"] == enqueue.trace_id
        assert line["span_id"] == step_spans[line["attempt"]].span_id
