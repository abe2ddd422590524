"""An in-process stack for tests: the gateway app on an httpx ASGI client plus an arq worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from arq import Worker

from gateway.app import create_app
from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.services import Services
from worker.runner import build_worker, stop_worker


@dataclass
class InProcessStack:
    """What a test gets: the HTTP client, the gateway's services and the worker."""

    client: httpx.AsyncClient
    services: Services
    worker: Worker | None


@asynccontextmanager
async def in_process_stack(
    settings: Settings, registry: WorkflowRegistry, *, with_worker: bool = True
) -> AsyncIterator[InProcessStack]:
    """Run the gateway (ASGI, no sockets) and, optionally, a long-lived worker in this loop."""
    services = await Services.open(settings, registry)
    app = create_app(settings, services=services)
    worker_services = await Services.open(settings, registry) if with_worker else None
    worker = build_worker(worker_services, handle_signals=False) if worker_services else None
    task = asyncio.ensure_future(worker.async_run()) if worker else None
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                yield InProcessStack(client, services, worker)
    finally:
        if task is not None and worker is not None and worker_services is not None:
            await stop_worker(worker, task)
            await worker_services.close()
        await services.close()
