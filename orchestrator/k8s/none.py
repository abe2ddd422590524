"""``NoCluster``: the cluster seam outside Kubernetes (local dev, plain VMs)."""

from __future__ import annotations

from orchestrator.k8s.base import Workload


class NoCluster:
    """Not running in a cluster: no workload to report, no pod to delete."""

    async def workload(self) -> Workload | None:
        """Return ``None``: there is no cluster."""
        return None

    async def delete_worker_pod(self, pod_name: str) -> bool:
        """Return ``False``: there is no pod to delete."""
        return False

    async def close(self) -> None:
        """Nothing to release."""


__all__ = ["NoCluster"]
