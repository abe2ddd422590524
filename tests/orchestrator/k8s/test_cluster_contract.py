"""One contract suite for the cluster seam, run against the in-memory cluster and the real
``kubernetes`` client talking to the fake API server (STYLE rule 15)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
import pytest_asyncio

from orchestrator.k8s import Cluster, InMemoryCluster, PhaseCounts, WorkerJob, WorkerPod
from orchestrator.k8s.kube import KubernetesCluster
from tests.orchestrator.k8s.apiserver import FakeApiServer
from tests.orchestrator.k8s.conftest import GATEWAY_LABELS, WORKER_LABELS, kube_settings


class World(Protocol):
    """Puts workers (and a gateway pod) into the cluster behind a :class:`Cluster`."""

    cluster: Cluster

    def add_pod(self, name: str, phase: str, job: str | None = None,
                worker: bool = True) -> None: ...

    def add_job(self, name: str, finished: str | None = None) -> None: ...


@dataclass
class MemoryWorld:
    cluster: InMemoryCluster

    def add_pod(self, name: str, phase: str, job: str | None = None,
                worker: bool = True) -> None:
        if worker:  # the in-memory cluster only holds what the worker selector matches
            self.cluster.pods.append(WorkerPod(name=name, phase=phase, job_name=job))

    def add_job(self, name: str, finished: str | None = None) -> None:
        self.cluster.jobs.append(WorkerJob(name=name, finished=finished))


@dataclass
class KubeWorld:
    cluster: KubernetesCluster
    server: FakeApiServer

    def add_pod(self, name: str, phase: str, job: str | None = None,
                worker: bool = True) -> None:
        self.server.add_pod(name, phase=phase, job=job,
                            labels=WORKER_LABELS if worker else GATEWAY_LABELS)

    def add_job(self, name: str, finished: str | None = None) -> None:
        self.server.add_job(name, labels=WORKER_LABELS, finished=finished)


@pytest_asyncio.fixture(params=["memory", "kubernetes"], loop_scope="session")
async def world(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[World]:
    if request.param == "memory":
        yield MemoryWorld(InMemoryCluster(namespace="agent-orchestrator"))
        return
    server = FakeApiServer().start()
    cluster = KubernetesCluster.from_kubeconfig(kube_settings(server.kubeconfig(tmp_path)))
    try:
        yield KubeWorld(cluster, server)
    finally:
        await cluster.close()
        server.stop()


async def test_an_empty_cluster_has_no_workers(world: World) -> None:
    workload = await world.cluster.workload()

    assert workload is not None
    assert workload.namespace == "agent-orchestrator"
    assert workload.jobs == PhaseCounts() and workload.pods == PhaseCounts()


async def test_jobs_and_pods_are_counted_by_phase_as_keda_counts_jobs(world: World) -> None:
    world.add_job("w-done", finished="Complete")
    world.add_pod("w-done-p", "Succeeded", job="w-done")
    world.add_job("w-crashed", finished="Failed")
    world.add_pod("w-crashed-p", "Failed", job="w-crashed")
    world.add_job("w-busy")
    world.add_pod("w-busy-p", "Running", job="w-busy")
    world.add_job("w-starting")
    world.add_pod("w-starting-p", "Pending", job="w-starting")
    world.add_pod("gateway-7d9-x", "Running", worker=False)

    workload = await world.cluster.workload()

    assert workload is not None
    assert workload.jobs == PhaseCounts(pending=1, running=1, succeeded=1, failed=1)
    assert workload.pods == PhaseCounts(pending=1, running=1, succeeded=1, failed=1)
    assert workload.as_dict()["jobs"] == {"pending": 1, "running": 1, "succeeded": 1,
                                          "failed": 1, "unknown": 0}


async def test_deleting_a_worker_pod_removes_it(world: World) -> None:
    world.add_job("w-busy")
    world.add_pod("w-busy-p", "Running", job="w-busy")

    assert await world.cluster.delete_worker_pod("w-busy-p") is True

    workload = await world.cluster.workload()
    assert workload is not None and workload.pods == PhaseCounts()


async def test_deleting_an_unknown_pod_deletes_nothing(world: World) -> None:
    world.add_pod("w-busy-p", "Running", job="w-busy")

    assert await world.cluster.delete_worker_pod("w-gone") is False

    workload = await world.cluster.workload()
    assert workload is not None and workload.pods.running == 1


async def test_a_pod_that_is_not_a_worker_is_never_deleted(world: World) -> None:
    world.add_pod("gateway-7d9-x", "Running", worker=False)

    assert await world.cluster.delete_worker_pod("gateway-7d9-x") is False
