"""The FastAPI application factory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import ui
from gateway.access import AccessLogMiddleware
from gateway.auth import GatewayAuth
from gateway.docs import install_docs
from gateway.errors import install_error_handlers
from gateway.mcp_server import McpEndpoint
from gateway.metrics import MetricsRefreshMiddleware
from gateway.openapi import install_openapi
from gateway.routes import (
    agent,
    audit,
    batch,
    control,
    flows,
    jobs,
    policy,
    sessions,
    system,
    tags,
    tasks,
    tools,
    usage,
    workflows,
)
from gateway.routes import trace as trace_routes
from gateway.security import BodySizeLimitMiddleware, SecurityHeadersMiddleware
from gateway.streaming import sse, ws
from gateway.streaming.hub import StreamHub
from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.heap import freeze_long_lived
from orchestrator.jobs import JobService
from orchestrator.k8s import open_cluster
from orchestrator.logs import REQUEST_ID
from orchestrator.mcp.factory import build_manager
from orchestrator.services import Services
from orchestrator.telemetry import Telemetry
from orchestrator.telemetry import attributes as attr
from orchestrator.telemetry import current as current_telemetry

TRACE_EXCLUDED_PATHS = "/healthz,/readyz,/metrics,/v1/system/queue-depth"
"""Probes and scrapes: no request spans (regular expressions, searched in the URL)."""


ROUTERS = tuple(
    m.router
    for m in (
        batch,
        jobs,
        control,
        trace_routes,
        sse,
        ws,
        workflows,
        flows,
        sessions,
        system,
        audit,
        tools,
        usage,
        tags,
        policy,
        agent,
        tasks,
    )
)
"""Every router of the API; each route declares its permission (tests/gateway/test_auth_matrix.py)."""


class RequestIdMiddleware:
    """Gives every request an id (``X-Request-ID`` if the client sent a sane one), echoed back.

    The id is also the ``request_id`` of the request's log lines (:data:`REQUEST_ID`) and an
    attribute of its span. Pure ASGI rather than ``BaseHTTPMiddleware`` so that streaming
    responses pass untouched.
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

        trace.get_current_span().set_attribute(attr.REQUEST_ID, request_id)
        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    registry: WorkflowRegistry | None = None,
    freeze_heap: bool = False,
) -> FastAPI:
    """Build the gateway.

    Args:
        settings: The process's settings.
        services: Already-open services (the caller closes them); opened in the lifespan if
            ``None``.
        registry: Workflows, when ``services`` is ``None``; imported from settings otherwise.
        freeze_heap: Once started, freeze the process's objects out of the cyclic collector's
            passes and turn the collector on (:func:`orchestrator.heap.freeze_long_lived`): for
            the process that serves this app until it exits (``orchestrator gateway``), not
            for an app of many in one process (tests).

    Returns:
        The FastAPI app.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        svc = services if services is not None else await Services.open(settings, registry)
        app.state.services = svc
        app.state.jobs = JobService(svc)
        app.state.auth = GatewayAuth.open(svc)
        app.state.cluster = open_cluster(settings.kubernetes)
        app.state.hub = StreamHub(svc.state)
        app.state.tools = build_manager(svc)  # MCP connections open on first use
        ui.open_sessions(app)
        if freeze_heap:
            freeze_long_lived()
        try:
            yield
        finally:
            await app.state.mcp.close()  # /mcp's session manager, if a request started it
            await app.state.tools.close()
            await app.state.auth.limits.close()
            await app.state.hub.close()
            await app.state.cluster.close()
            if owned:
                await svc.close()

    app = FastAPI(
        title="AgentOrchestrator",
        version="0.1.0",
        summary="Step-DAG runtime for AI-agent work: jobs, workflows, live event streams.",
        lifespan=lifespan,
        docs_url=None,  # served from vendored assets by install_docs, not from a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    app.state.mcp = McpEndpoint(app)
    app.add_route("/mcp", app.state.mcp, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    install_openapi(app)
    install_docs(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(AccessLogMiddleware)  # inside the request id: its lines carry the id
    if settings.ui.enabled:
        ui.mount(app)  # the dashboard at /ui (DESIGN §19)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.auth.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsRefreshMiddleware)
    if settings.auth.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.auth.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Last-Event-ID",
                "X-API-Key",
                "X-Request-ID",
            ],
            expose_headers=["Location", "Retry-After", "X-Request-ID", "Idempotent-Replayed"],
            max_age=600,
        )
    instrument(app, current_telemetry())
    return app


def instrument(app: FastAPI, telemetry: Telemetry) -> None:
    """Make every HTTP request a span of ``telemetry``'s pipeline (nothing for ``none``).

    OpenTelemetry: the official FastAPI instrumentation, outermost, so that the request id
    middleware sees its span. Elastic APM: the agent's own Starlette middleware, whose
    transaction the submit's PRODUCER span joins.
    """
    if telemetry.kind == "otel":
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=getattr(telemetry, "provider", None),
            excluded_urls=TRACE_EXCLUDED_PATHS,
            exclude_spans=["receive", "send"],
        )
    elif telemetry.kind == "elastic-apm":
        from elasticapm.contrib.starlette import ElasticAPM

        app.add_middleware(
            ElasticAPM,  # type: ignore[arg-type]  # its stubs type the ASGI app loosely
            client=getattr(telemetry, "client", None),
        )


__all__ = ["ROUTERS", "RequestIdMiddleware", "create_app", "instrument"]
