"""Prometheus metrics of the gateway (``/metrics``), on prometheus-client's default registry.

Gauges read from Redis (queue depth, running jobs) are refreshed right before each scrape by
:class:`MetricsRefreshMiddleware`. Job and step metrics are the worker's (worker/metrics.py):
in ``orchestrator dev`` they share this registry; otherwise see docs/operations.md.
"""

from __future__ import annotations

import asyncio

import structlog
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.errors import OrchestratorError
from orchestrator.services import Services

log = structlog.get_logger("gateway.metrics")

REFRESH_TIMEOUT_SECONDS = 2.0
"""A scrape never waits longer than this for Redis; the gauges keep their last values then."""

JOBS_SUBMITTED = Counter(
    "orchestrator_jobs_submitted_total", "Jobs accepted by POST /v1/jobs.", ["workflow"]
)
QUEUE_DEPTH = Gauge(
    "orchestrator_queue_depth", "Due-or-running arq jobs (ZCOUNT arq:queue -inf now)."
)
STREAM_CLIENTS = Gauge(
    "orchestrator_stream_clients", "Connected SSE and WebSocket clients.", ["transport"]
)

JOBS_RUNNING = Gauge(
    "orchestrator_jobs_running",
    "Jobs holding a live worker lease; with KEDA one-job pods, the busy worker pods.",
)


async def refresh(services: Services) -> None:
    """Update the gauges read from Redis: queue depth and jobs running (ZCARD of the leases)."""
    try:
        async with asyncio.timeout(REFRESH_TIMEOUT_SECONDS):
            QUEUE_DEPTH.set(await services.queue.depth())
            JOBS_RUNNING.set(await services.redis.zcard(services.keys.leases()))
    except (OrchestratorError, RedisError, TimeoutError, OSError) as exc:
        # A scrape must still answer: the gauges keep their last values.
        log.warning("metrics refresh failed", error=f"{type(exc).__name__}: {exc}")


class MetricsRefreshMiddleware:
    """Runs :func:`refresh` before ``GET /metrics`` is answered (pure ASGI, other paths pass)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") == "/metrics":
            services = getattr(scope["app"].state, "services", None)
            if isinstance(services, Services):
                await refresh(services)
        await self.app(scope, receive, send)


__all__ = [
    "JOBS_RUNNING",
    "JOBS_SUBMITTED",
    "QUEUE_DEPTH",
    "STREAM_CLIENTS",
    "MetricsRefreshMiddleware",
    "refresh",
]
