"""Cluster awareness: the gateway's view of the worker Jobs and pods, and hard cancel.

A pluggable seam (STYLE rule 2): :class:`Cluster` in ``base``, the ``kubernetes``-client
implementation in ``kube`` (imported lazily by :func:`open_cluster`), :class:`InMemoryCluster`
for tests and :class:`NoCluster` outside a cluster.
"""

from orchestrator.k8s.base import (
    Cluster,
    ClusterError,
    PhaseCounts,
    WorkerJob,
    WorkerPod,
    Workload,
    count_workload,
    pod_name_of_worker,
)
from orchestrator.k8s.factory import open_cluster
from orchestrator.k8s.memory import InMemoryCluster
from orchestrator.k8s.none import NoCluster

__all__ = [
    "Cluster",
    "ClusterError",
    "InMemoryCluster",
    "NoCluster",
    "PhaseCounts",
    "WorkerJob",
    "WorkerPod",
    "Workload",
    "count_workload",
    "open_cluster",
    "pod_name_of_worker",
]
