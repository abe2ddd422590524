"""``InMemoryCluster``: the cluster seam over plain lists, for unit tests (STYLE rule 2)."""

from __future__ import annotations

from orchestrator.k8s.base import WorkerJob, WorkerPod, Workload, count_workload


class InMemoryCluster:
    """Worker Jobs and pods kept in lists; deletions recorded.

    Args:
        namespace: Reported in :meth:`workload`.
        jobs: Initial worker Jobs.
        pods: Initial worker pods (only these count as workers).
    """

    def __init__(
        self,
        *,
        namespace: str = "default",
        jobs: list[WorkerJob] | None = None,
        pods: list[WorkerPod] | None = None,
    ) -> None:
        self.namespace = namespace
        self.jobs = list(jobs or [])
        self.pods = list(pods or [])
        self.deleted: list[str] = []
        self.closed = False

    async def workload(self) -> Workload | None:
        """Count the listed Jobs and pods by phase."""
        return count_workload(self.namespace, self.jobs, self.pods)

    async def delete_worker_pod(self, pod_name: str) -> bool:
        """Remove the pod of that name, if listed; record the deletion."""
        for pod in self.pods:
            if pod.name == pod_name:
                self.pods.remove(pod)
                self.deleted.append(pod_name)
                return True
        return False

    async def close(self) -> None:
        """Mark the cluster closed."""
        self.closed = True


__all__ = ["InMemoryCluster"]
