"""The cluster seam: what the gateway asks of Kubernetes, as a ``Protocol`` (STYLE rule 2).

Implementations: :class:`~orchestrator.k8s.kube.KubernetesCluster` (the official ``kubernetes``
client behind one ``asyncio.to_thread`` seam), :class:`~orchestrator.k8s.memory.InMemoryCluster`
(tests) and :class:`~orchestrator.k8s.none.NoCluster` (outside a cluster). The gateway needs
exactly two things, and the chart's RBAC Role grants exactly those: list the worker Jobs and
pods (``batch/jobs: list``, ``pods: list``) and delete the pod running a job (``pods: delete``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from orchestrator.errors import OrchestratorError


class ClusterError(OrchestratorError):
    """The Kubernetes API failed or refused a call (``details["status"]`` is its HTTP status)."""

    code = "cluster_unavailable"


@dataclass(frozen=True, slots=True)
class PhaseCounts:
    """How many worker Jobs or pods are in each phase.

    For pods the phases are the pod's ``status.phase``. For Jobs, as KEDA counts them
    (``pkg/scaling/executor/scale_jobs.go``): ``succeeded``/``failed`` from the ``Complete``/
    ``Failed`` condition; an unfinished Job is ``running`` once one of its pods is Running or
    Succeeded, ``pending`` before that.
    """

    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    unknown: int = 0

    def as_dict(self) -> dict[str, int]:
        """``{"pending", "running", "succeeded", "failed", "unknown"}`` counts."""
        return {
            "pending": self.pending,
            "running": self.running,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "unknown": self.unknown,
        }


@dataclass(frozen=True, slots=True)
class WorkerPod:
    """A worker pod as the cluster reports it.

    Attributes:
        name: The pod's name, which is also the worker's hostname.
        phase: ``Pending``, ``Running``, ``Succeeded``, ``Failed`` or ``Unknown``.
        job_name: The Job that owns the pod (its ``job-name`` label), if any.
    """

    name: str
    phase: str
    job_name: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerJob:
    """A worker Job (one per KEDA scale-up unit).

    Attributes:
        name: The Job's name.
        finished: ``Complete`` or ``Failed`` when that condition is True, else ``None``.
    """

    name: str
    finished: str | None = None


@dataclass(frozen=True, slots=True)
class Workload:
    """Worker Jobs and pods of one namespace, counted by phase.

    Attributes:
        namespace: Where they were listed.
        jobs: Jobs by phase (all zero for a worker Deployment, which has none).
        pods: Pods by phase.
    """

    namespace: str
    jobs: PhaseCounts = field(default_factory=PhaseCounts)
    pods: PhaseCounts = field(default_factory=PhaseCounts)

    def as_dict(self) -> dict[str, object]:
        """JSON shape of ``/v1/system/metrics``'s ``kubernetes`` section."""
        return {"namespace": self.namespace, "jobs": self.jobs.as_dict(),
                "pods": self.pods.as_dict()}


def count_workload(namespace: str, jobs: list[WorkerJob], pods: list[WorkerPod]) -> Workload:
    """Count Jobs and pods by phase (see :class:`PhaseCounts` for the Job rule).

    Args:
        namespace: Reported as is.
        jobs: The worker Jobs.
        pods: The worker pods (of Jobs or of a Deployment).

    Returns:
        The counts.
    """
    pod_phases = {"Pending": 0, "Running": 0, "Succeeded": 0, "Failed": 0, "Unknown": 0}
    started_jobs: set[str] = set()
    for pod in pods:
        phase = pod.phase if pod.phase in pod_phases else "Unknown"
        pod_phases[phase] += 1
        if pod.job_name and phase in ("Running", "Succeeded"):
            started_jobs.add(pod.job_name)
    job_phases = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0}
    for job in jobs:
        if job.finished == "Complete":
            job_phases["succeeded"] += 1
        elif job.finished == "Failed":
            job_phases["failed"] += 1
        elif job.name in started_jobs:
            job_phases["running"] += 1
        else:
            job_phases["pending"] += 1
    return Workload(
        namespace=namespace,
        jobs=PhaseCounts(**job_phases),
        pods=PhaseCounts(**{k.lower(): v for k, v in pod_phases.items()}),
    )


def pod_name_of_worker(worker_id: str | None) -> str | None:
    """The pod name in a worker id ``<hostname>:<pid>:<random>`` (in Kubernetes, host = pod).

    Args:
        worker_id: The ``worker`` field of a job's live state, or ``None``.

    Returns:
        The hostname part, or ``None`` when the id is missing or malformed.
    """
    if not worker_id or worker_id.count(":") < 2:
        return None
    host = worker_id.rsplit(":", 2)[0]
    return host or None


@runtime_checkable
class Cluster(Protocol):
    """What the gateway asks of the cluster its workers run in."""

    async def workload(self) -> Workload | None:
        """Count the worker Jobs and pods; ``None`` when not running in a cluster.

        Raises:
            ClusterError: The API failed or refused.
        """
        ...

    async def delete_worker_pod(self, pod_name: str) -> bool:
        """Delete a pod if it is a worker pod (it matches the worker selector).

        Args:
            pod_name: The pod's name (a worker's hostname).

        Returns:
            Whether a pod was deleted (``False``: none of that name is a worker, or no cluster).

        Raises:
            ClusterError: The API failed or refused.
        """
        ...

    async def close(self) -> None:
        """Release the client's connections."""
        ...


__all__ = [
    "Cluster",
    "ClusterError",
    "PhaseCounts",
    "WorkerJob",
    "WorkerPod",
    "Workload",
    "count_workload",
    "pod_name_of_worker",
]
