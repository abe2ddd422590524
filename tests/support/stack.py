"""An in-process stack for tests: the gateway app on an httpx ASGI client plus an arq worker.

The client is authenticated like a real caller: an admin API key of a fresh tenant is created in
the test database and sent as ``Authorization: Bearer`` by default (``stack.key``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from arq import Worker
from fastapi import FastAPI

from gateway.app import create_app
from orchestrator.auth import ApiKeyStore
from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.services import Services
from worker.runner import build_worker, stop_worker


@dataclass
class InProcessStack:
    """What a test gets: the HTTP client, the gateway's services and the worker (and the app,
    whose ``state.auth`` is the gateway's own authenticator)."""

    client: httpx.AsyncClient
    services: Services
    worker: Worker | None
    tenant: str = ""
    key: str = ""
    app: FastAPI | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The client's credentials, for connections made outside ``client``."""
        return {"Authorization": f"Bearer {self.key}"}


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
            tenant = f"tenant-{uuid.uuid4().hex[:8]}"
            _, key = await ApiKeyStore(services.trace.engine).create(tenant, "admin", "tests")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway",
                headers={"Authorization": f"Bearer {key}"},
            ) as client:
                yield InProcessStack(client, services, worker, tenant, key, app)
    finally:
        if task is not None and worker is not None and worker_services is not None:
            await stop_worker(worker, task)
            await worker_services.close()
        await services.close()
