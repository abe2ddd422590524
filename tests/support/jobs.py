"""Job helpers shared by the in-process suites: submit, wait for an end, read events, run a worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from arq import Worker

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.events import Event
from orchestrator.services import Services
from orchestrator.state.records import JobState
from tests.conftest import wait_until
from tests.support.stack import InProcessStack
from worker.runner import build_worker, stop_worker


async def submit(stack: InProcessStack, workflow: str, inputs: dict[str, Any] | None = None) -> str:
    response = await stack.client.post(
        "/v1/jobs", json={"workflow": workflow, "inputs": inputs or {}}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


async def wait_for_end(services: Services, job_id: str, timeout_seconds: float = 10.0) -> JobState:
    """Wait until the job ended and its worker let it go: its trace row is written then."""

    async def ended() -> bool:
        state = await services.state.get_job(job_id)
        if state is None or not state.status.is_terminal:
            return False
        return await services.redis.zscore(services.keys.leases(), job_id) is None

    await wait_until(ended, timeout_seconds=timeout_seconds, what=f"job {job_id} to end")
    state = await services.state.get_job(job_id)
    assert state is not None
    return state


async def wait_for_step_status(
    services: Services, job_id: str, step: str, status: str, timeout_seconds: float = 10.0
) -> None:
    async def reached() -> bool:
        state = await services.state.get_job(job_id)
        return state is not None and step in state.steps and state.steps[step].status == status

    await wait_until(reached, timeout_seconds=timeout_seconds, what=f"{step} to be {status}")


async def events_of(services: Services, job_id: str) -> list[Event]:
    """Every stored event of the job, read page by page."""
    events: list[Event] = []
    while True:
        page = await services.state.read_events(job_id, events[-1].id if events else None)
        events.extend(page)
        if len(page) < 1000:
            return events


def of_type(events: list[Event], kind: str, step: str | None = None) -> list[Event]:
    return [e for e in events if e.type == kind and (step is None or e.step == step)]


@asynccontextmanager
async def worker_running(
    settings: Settings, registry: WorkflowRegistry
) -> AsyncIterator[Worker]:
    """A long-lived arq worker on its own connections, started after the job was prepared."""
    services = await Services.open(settings, registry)
    worker = build_worker(services, handle_signals=False)
    task = asyncio.ensure_future(worker.async_run())
    try:
        yield worker
    finally:
        await stop_worker(worker, task)
        await services.close()


# -- a whole DAG ----------------------------------------------------------------------------
