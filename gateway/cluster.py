"""The gateway's use of the cluster seam: the metrics section and the hard cancel."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import HTTPConnection

from orchestrator.k8s import Cluster, ClusterError, NoCluster, pod_name_of_worker
from orchestrator.services import Services

log = structlog.get_logger("gateway.cluster")


async def get_cluster(conn: HTTPConnection) -> Cluster:
    """The :class:`Cluster` opened in the lifespan (:class:`NoCluster` if none was attached);
    ``async`` so that FastAPI does not run it in its thread pool."""
    cluster: Cluster = getattr(conn.app.state, "cluster", None) or NoCluster()
    return cluster


async def cluster_metrics(cluster: Cluster) -> dict[str, Any] | None:
    """The ``kubernetes`` section of ``/v1/system/metrics``.

    Returns:
        ``None`` outside a cluster; else ``{"namespace", "jobs", "pods"}`` with counts by
        phase, or ``{"error": {"code", "message"}}`` when the API fails (the rest of the
        metrics still answer).
    """
    try:
        workload = await cluster.workload()
    except ClusterError as exc:
        log.warning("cannot list worker jobs and pods", error=exc.message)
        return {"error": {"code": exc.code, "message": exc.message}}
    return None if workload is None else workload.as_dict()


async def delete_job_pod(services: Services, cluster: Cluster, job_id: str) -> str | None:
    """Delete the worker pod running a job (a hard cancel), found by the job's worker id.

    The job's live state names its worker as ``<hostname>:<pid>:<random>``; in Kubernetes the
    hostname is the pod's name. Only a pod matching the worker selector is deleted. A failure
    is logged, not raised: the cooperative cancel has already been recorded.

    Args:
        services: The gateway's services (for the job's live state).
        cluster: The cluster seam.
        job_id: The job being cancelled.

    Returns:
        The deleted pod's name, or ``None`` when no pod was deleted.
    """
    state = await services.state.get_job(job_id)
    pod = pod_name_of_worker(state.worker if state is not None else None)
    if pod is None:
        return None
    try:
        deleted = await cluster.delete_worker_pod(pod)
    except ClusterError as exc:
        log.warning("hard cancel: cannot delete the worker pod", job_id=job_id, pod=pod,
                    error=exc.message)
        return None
    if deleted:
        log.info("hard cancel: deleted the worker pod", job_id=job_id, pod=pod)
    return pod if deleted else None


__all__ = ["cluster_metrics", "delete_job_pod", "get_cluster"]
