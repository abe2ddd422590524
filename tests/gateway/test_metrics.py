"""Prometheus metrics: ``/metrics`` parses with the Prometheus text parser and moves with jobs.

In-process the gateway and the worker share prometheus-client's registry, as in
``orchestrator dev``, so one scrape shows both (worker/metrics.py says how they leave a worker
process otherwise).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
import websockets
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.services import Services
from sdk import StepContext, step, workflow
from tests.conftest import wait_until
from tests.support.stack import in_process_stack
from worker.runner import build_worker

SettingsFactory = Callable[..., Settings]
GATES: dict[str, asyncio.Event] = {}


@step(retries=1, retry_backoff_seconds=0.01)
async def bumpy(text: str, ctx: StepContext) -> str:
    if ctx.attempt == 1:
        raise RuntimeError("bump")
    return text * 3


@step
async def gated(key: str) -> str:
    gate = GATES.setdefault(key, asyncio.Event())
    await asyncio.wait_for(gate.wait(), 30)
    return key


registry = WorkflowRegistry([workflow("metered", bumpy), workflow("gated_metrics", gated)])

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a text exposition, keyed by name and labels (the parser validates)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_metrics_parse_and_move_when_a_job_runs(isolated_settings: SettingsFactory) -> None:
    async with in_process_stack(isolated_settings(), registry) as stack:
        before = await scrape(stack.client)
        response = await stack.client.post(
            "/v1/jobs", json={"workflow": "metered", "inputs": {"text": "ab"}}
        )
        job_id = response.json()["job_id"]

        async def ended() -> bool:
            state = await stack.services.state.get_job(job_id)
            return state is not None and state.status.is_terminal

        await wait_until(ended, what="the job to end")

        async def counted() -> bool:  # the worker's on_job_end hook runs after the state write
            samples = await scrape(stack.client)
            finished = {"workflow": "metered", "status": "succeeded"}
            return value(samples, "orchestrator_jobs_finished_total", **finished) > value(
                before, "orchestrator_jobs_finished_total", **finished
            )

        await wait_until(counted, what="the worker to count the finished job")
        after = await scrape(stack.client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    wf = {"workflow": "metered"}
    assert moved("orchestrator_jobs_submitted_total", **wf) == 1
    assert moved("orchestrator_jobs_finished_total", **wf, status="succeeded") == 1
    assert moved("orchestrator_job_run_duration_seconds_count", **wf, status="succeeded") == 1
    assert moved("orchestrator_queue_wait_seconds_count", **wf) == 1
    step = {**wf, "step": "bumpy"}
    assert moved("orchestrator_step_duration_seconds_count", **step, status="failed") == 1
    assert moved("orchestrator_step_duration_seconds_count", **step, status="succeeded") == 1
    assert moved("orchestrator_step_retries_total", **step) == 1
    assert moved("orchestrator_checkpoint_bytes_count", **step) == 1
    assert moved("orchestrator_checkpoint_bytes_sum", **step) == len('"ababab"')
    assert ("orchestrator_queue_depth", frozenset()) in after
    assert ("orchestrator_jobs_running", frozenset()) in after
    assert value(after, "orchestrator_worker_jobs_running") == value(
        before, "orchestrator_worker_jobs_running"
    )


async def test_the_running_jobs_and_queue_depth_gauges_follow_a_job(
    isolated_settings: SettingsFactory,
) -> None:
    key = "gauges"
    GATES[key] = asyncio.Event()
    async with in_process_stack(isolated_settings(), registry) as stack:
        response = await stack.client.post(
            "/v1/jobs", json={"workflow": "gated_metrics", "inputs": {"key": key}}
        )
        job_id = response.json()["job_id"]

        async def running() -> bool:
            samples = await scrape(stack.client)
            return value(samples, "orchestrator_jobs_running") == 1

        await wait_until(running, what="the job to hold its lease")
        during = await scrape(stack.client)
        GATES[key].set()

        async def idle() -> bool:
            state = await stack.services.state.get_job(job_id)
            samples = await scrape(stack.client)
            return (state is not None and state.status.is_terminal
                    and value(samples, "orchestrator_jobs_running") == 0)  # fmt: skip

        await wait_until(idle, what="the lease to be released")

    assert value(during, "orchestrator_queue_depth") == 1
    assert value(during, "orchestrator_worker_jobs_running") >= 1
    assert value(during, "orchestrator_worker_steps_running") >= 1


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[str]:
    """The gateway on a real loopback socket (streams need one) plus a worker; yields its URL."""
    services = await Services.open(settings, registry)
    worker_services = await Services.open(settings, registry)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, services=services),
                                           host="127.0.0.1", port=0, log_level="warning"))
    worker = build_worker(worker_services, handle_signals=False)
    tasks = [asyncio.ensure_future(server.serve()), asyncio.ensure_future(worker.async_run())]
    try:
        async def started() -> bool:
            return bool(server.started)

        await wait_until(started, what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.gather(tasks[0], return_exceptions=True)
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)
        await worker.close()
        await worker_services.close()
        await services.close()


async def test_stream_clients_count_open_sse_and_websocket_connections(
    isolated_settings: SettingsFactory,
) -> None:
    key = "streams"
    GATES[key] = asyncio.Event()
    # Auth off here: this test counts stream clients; tests/gateway/test_auth*.py cover auth.
    async with served(isolated_settings(auth={"enabled": False})) as host, httpx.AsyncClient(
        base_url=f"http://{host}", timeout=10
    ) as client:
        job_id = (await client.post(
            "/v1/jobs", json={"workflow": "gated_metrics", "inputs": {"key": key}}
        )).json()["job_id"]  # fmt: skip
        base = await scrape(client)

        def clients(samples: Samples, transport: str) -> float:
            return value(samples, "orchestrator_stream_clients", transport=transport) - value(
                base, "orchestrator_stream_clients", transport=transport
            )

        async with client.stream("GET", f"/v1/jobs/{job_id}/events") as sse:
            lines = sse.aiter_lines()
            while not (await anext(lines)).startswith("data:"):
                pass
            async with websockets.connect(f"ws://{host}/v1/jobs/{job_id}/ws") as ws:
                first: dict[str, Any] = json.loads(await ws.recv())
                assert first["type"] == "job.queued"
                during = await scrape(client)
                GATES[key].set()
                async for _ in ws:
                    pass  # until the server closes after the terminal event
            async for _ in lines:
                pass

        async def closed() -> bool:
            samples = await scrape(client)
            return clients(samples, "sse") == 0 and clients(samples, "websocket") == 0

        await wait_until(closed, what="both stream clients to be counted out")

    assert clients(during, "sse") == 1
    assert clients(during, "websocket") == 1
