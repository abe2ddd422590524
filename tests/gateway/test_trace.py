"""``GET /v1/jobs/{id}/trace``: the step-level waterfall and the trace id that links to APM."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.telemetry import setup_telemetry
from sdk import StepContext, step, workflow
from tests.support.jobs import wait_for_end
from tests.support.stack import InProcessStack, in_process_stack

SettingsFactory = Callable[..., Settings]


@step(retries=1, retry_backoff_seconds=0.01)
async def wobbly(word: str, ctx: StepContext) -> str:
    if ctx.attempt == 1:
        raise RuntimeError("wobble")
    return word


@step(depends_on=[wobbly])
async def shout(wobbly: str) -> str:
    return wobbly.upper()


registry = WorkflowRegistry([workflow("waterfall", shout)])


@pytest.fixture
def traced() -> Iterator[None]:
    shutdown = setup_telemetry(Settings(), "gateway-test", span_exporter=InMemorySpanExporter(),
                               set_global=False)
    try:
        yield
    finally:
        shutdown()


async def run(stack: InProcessStack) -> str:
    response = await stack.client.post(
        "/v1/jobs", json={"workflow": "waterfall", "inputs": {"word": "hey"}}
    )
    assert response.status_code == 202, response.text
    job_id = str(response.json()["job_id"])
    await wait_for_end(stack.services, job_id)  # and its trace rows written
    return job_id


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


async def test_the_trace_lists_every_attempt_in_start_order_with_worker_status_and_error(
    isolated_settings: SettingsFactory, traced: None
) -> None:
    settings = isolated_settings(
        telemetry={"trace_url_template": "https://apm.example/trace/{trace_id}"}
    )
    async with in_process_stack(settings, registry) as stack:
        job_id = await run(stack)
        response = await stack.client.get(f"/v1/jobs/{job_id}/trace")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["job_id"] == job_id and body["workflow"] == "waterfall"
    assert body["status"] == "succeeded"
    assert re.fullmatch(r"[0-9a-f]{32}", body["trace_id"])
    assert body["trace_url"] == f"https://apm.example/trace/{body['trace_id']}"
    assert body["queue_wait_ms"] >= 0 and body["duration_ms"] >= body["queue_wait_ms"]
    steps = body["steps"]
    assert [(s["step"], s["attempt"], s["status"]) for s in steps] == [
        ("wobbly", 1, "failed"), ("wobbly", 2, "succeeded"), ("shout", 1, "succeeded"),
    ]  # fmt: skip
    failed: dict[str, Any] = steps[0]
    assert failed["error"]["code"] == "step_failed"
    assert "wobble" in failed["error"]["message"]
    for s in steps:
        assert s["worker_id"] and s["duration_ms"] >= 0
        assert parse(s["finished_at"]) >= parse(s["started_at"]) >= parse(body["created_at"])
        assert s["offset_ms"] >= 0
    assert steps[1]["output_bytes"] == len('"hey"')
    assert [s["offset_ms"] for s in steps] == sorted(s["offset_ms"] for s in steps)


async def test_without_tracing_the_trace_has_no_trace_id_but_still_its_steps(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), registry) as stack:
        job_id = await run(stack)
        body = (await stack.client.get(f"/v1/jobs/{job_id}/trace")).json()

    assert body["trace_id"] is None and body["trace_url"] is None
    assert len(body["steps"]) == 3


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_the_trace_of_an_unknown_job_is_a_404_job_not_found(
    isolated_settings: SettingsFactory, job_id: str
) -> None:
    async with in_process_stack(isolated_settings(), registry, with_worker=False) as stack:
        response = await stack.client.get(f"/v1/jobs/{job_id}/trace")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_not_found"
