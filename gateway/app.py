"""The FastAPI application factory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import install_error_handlers
from gateway.routes import jobs, system, workflows
from gateway.streaming import sse, ws
from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.jobs import JobService
from orchestrator.services import Services


class RequestIdMiddleware:
    """Gives every request an id (``X-Request-ID`` if the client sent a sane one), echoed back.

    Pure ASGI rather than ``BaseHTTPMiddleware`` so that streaming responses pass untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if 0 < len(sent) <= 100 and sent.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    registry: WorkflowRegistry | None = None,
) -> FastAPI:
    """Build the gateway.

    Args:
        settings: The process's settings.
        services: Already-open services (the caller closes them); opened in the lifespan if
            ``None``.
        registry: Workflows, when ``services`` is ``None``; imported from settings otherwise.

    Returns:
        The FastAPI app.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        svc = services if services is not None else await Services.open(settings, registry)
        app.state.services = svc
        app.state.jobs = JobService(svc)
        try:
            yield
        finally:
            if owned:
                await svc.close()

    app = FastAPI(
        title="AgentOrchestrator",
        version="0.1.0",
        summary="Step-DAG runtime for AI-agent work: jobs, workflows, live event streams.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (jobs, sse, ws, workflows, system):
        app.include_router(module.router)
    app.add_middleware(RequestIdMiddleware)
    return app


__all__ = ["RequestIdMiddleware", "create_app"]
