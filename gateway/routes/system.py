"""System routes: queue depth (for KEDA), metrics summary, health, readiness, Prometheus."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.auth import require
from gateway.cluster import cluster_metrics, get_cluster
from gateway.deps import get_services
from gateway.errors import error_body
from gateway.metrics import QUEUE_DEPTH
from orchestrator.auth import Permission
from orchestrator.errors import OrchestratorError
from orchestrator.k8s import Cluster
from orchestrator.services import Services

router = APIRouter(tags=["system"])

READY_TIMEOUT_SECONDS = 2.0

SYSTEM = [Depends(require(Permission.SYSTEM_READ))]
"""Queue depth, metrics, Prometheus: the metrics token (KEDA, Prometheus) or an operator/admin."""
PUBLIC = [Depends(require(Permission.PUBLIC))]
"""Probes: no credentials (kubelets send none)."""


@router.get("/v1/system/queue-depth", dependencies=SYSTEM)
async def queue_depth(services: Annotated[Services, Depends(get_services)]) -> dict[str, int]:
    """``{"depth": N}``: due-or-running arq jobs; KEDA's metrics-api trigger reads ``depth``."""
    depth = await services.queue.depth()
    QUEUE_DEPTH.set(depth)
    return {"depth": depth}


@router.get("/v1/system/metrics", dependencies=SYSTEM)
async def system_metrics(
    services: Annotated[Services, Depends(get_services)],
    cluster: Annotated[Cluster, Depends(get_cluster)],
) -> dict[str, Any]:
    """Queue depth, jobs by status, a step latency summary (p50/p95/p99 per step) and, in a
    cluster, the worker Jobs and pods by phase (``kubernetes``; ``null`` outside a cluster)."""
    depth, by_status, latency, k8s = await asyncio.gather(
        services.queue.depth(),
        services.trace.count_jobs_by_status(),
        services.trace.step_latency_summary(),
        cluster_metrics(cluster),
    )
    return {"queue_depth": depth, "jobs_by_status": by_status, "step_latency": latency,
            "kubernetes": k8s}


@router.get("/healthz", dependencies=PUBLIC)
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=PUBLIC, responses={503: {"description": "Redis or the database is unreachable"}})
async def readyz(services: Annotated[Services, Depends(get_services)]) -> Response:
    """Readiness: Redis and the trace store both answer within 2 s, and the trace store is
    migrated to the code's Alembic head (else ``migrations`` says to run `orchestrator migrate`)."""
    checks: dict[str, str] = {}
    for name, ping in (("redis", services.state.ping), ("database", services.trace.ping)):
        try:
            await asyncio.wait_for(ping(), READY_TIMEOUT_SECONDS)
            checks[name] = "ok"
        except (OrchestratorError, TimeoutError) as exc:
            checks[name] = getattr(exc, "message", None) or "timeout"
    if checks["database"] == "ok":
        checks["migrations"] = await _migrations(services)
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse(
        error_body("not_ready", "a dependency is unreachable", {"checks": checks}), status_code=503
    )


async def _migrations(services: Services) -> str:
    from orchestrator.trace.migrate import head

    try:
        revision = await asyncio.wait_for(services.trace.revision(), READY_TIMEOUT_SECONDS)
    except (OrchestratorError, TimeoutError):
        return "could not read the revision"
    wanted = head()
    if revision == wanted:
        return "ok"
    return f"at {revision or 'no revision'}, needs {wanted}: run `orchestrator migrate`"


@router.get("/metrics", include_in_schema=False, dependencies=SYSTEM)
async def prometheus_metrics(services: Annotated[Services, Depends(get_services)]) -> Response:
    """Prometheus text exposition."""
    try:
        QUEUE_DEPTH.set(await services.queue.depth())
    except OrchestratorError:
        pass  # the scrape still answers; the gauge keeps its last value
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


__all__ = ["router"]
