"""The gateway in a cluster: workers in ``/v1/system/metrics`` and ``cancel?hard=true``.

The gateway's real ``kubernetes`` client talks to the fake API server of
``tests/orchestrator/k8s/apiserver.py`` (the real REST wire format; no kube-apiserver can run
here), configured the way a developer would: ``ORCH_KUBERNETES__MODE=kubeconfig``. Redis,
PostgreSQL and the arq worker are real.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.types import JobStatus
from sdk import step, workflow
from tests.conftest import wait_until
from tests.orchestrator.k8s.apiserver import FakeApiServer
from tests.orchestrator.k8s.conftest import GATEWAY_LABELS, WORKER_LABELS, WORKER_SELECTOR
from tests.support.stack import in_process_stack

SettingsFactory = Callable[..., Settings]
RELEASE = asyncio.Event()


@step
async def wait_for_release() -> str:
    """Runs until the test sets :data:`RELEASE` (or a cancel stops it)."""
    await asyncio.wait_for(RELEASE.wait(), 30)
    return "released"


held = workflow("held", wait_for_release)


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    """A running fake API server (real Kubernetes REST wire format)."""
    server = FakeApiServer().start()
    yield server
    server.stop()


def in_cluster(settings: SettingsFactory, server: FakeApiServer, tmp_path: Path) -> Settings:
    """Test settings whose gateway reaches ``server`` through a kubeconfig."""
    return settings(kubernetes={"mode": "kubeconfig",
                                "kubeconfig": str(server.kubeconfig(tmp_path)),
                                "worker_selector": WORKER_SELECTOR})


async def metrics(settings: Settings, registry: WorkflowRegistry) -> dict[str, Any]:
    """``GET /v1/system/metrics`` of a gateway on ``settings``."""
    async with in_process_stack(settings, registry, with_worker=False) as stack:
        response = await stack.client.get("/v1/system/metrics")
        assert response.status_code == 200, response.text
        return dict(response.json())


async def test_outside_a_cluster_the_metrics_have_no_kubernetes_section(
    isolated_settings: SettingsFactory,
) -> None:
    body = await metrics(isolated_settings(), WorkflowRegistry([held]))
    assert body["kubernetes"] is None
    assert {"queue_depth", "jobs_by_status", "step_latency"} <= body.keys()


async def test_in_a_cluster_the_metrics_count_worker_jobs_and_pods(
    isolated_settings: SettingsFactory, apiserver: FakeApiServer, tmp_path: Path
) -> None:
    apiserver.add_job("w-a", labels=WORKER_LABELS)
    apiserver.add_pod("w-a-1", phase="Running", labels=WORKER_LABELS, job="w-a")
    apiserver.add_job("w-b", labels=WORKER_LABELS, finished="Complete")
    apiserver.add_pod("w-b-1", phase="Succeeded", labels=WORKER_LABELS, job="w-b")
    apiserver.add_pod("gateway-1", phase="Running", labels=GATEWAY_LABELS)

    body = await metrics(in_cluster(isolated_settings, apiserver, tmp_path),
                         WorkflowRegistry([held]))

    assert body["kubernetes"] == {
        "namespace": "agent-orchestrator",
        "jobs": {"pending": 0, "running": 1, "succeeded": 1, "failed": 0, "unknown": 0},
        "pods": {"pending": 0, "running": 1, "succeeded": 1, "failed": 0, "unknown": 0},
    }


async def test_a_cluster_api_failure_leaves_the_other_metrics_answering(
    isolated_settings: SettingsFactory, apiserver: FakeApiServer, tmp_path: Path
) -> None:
    apiserver.rules = set()  # a Role that grants nothing

    body = await metrics(in_cluster(isolated_settings, apiserver, tmp_path),
                         WorkflowRegistry([held]))

    assert body["kubernetes"]["error"]["code"] == "cluster_unavailable"
    assert isinstance(body["queue_depth"], int)


async def test_a_hard_cancel_deletes_the_pod_running_the_job(
    isolated_settings: SettingsFactory, apiserver: FakeApiServer, tmp_path: Path
) -> None:
    # The in-process worker's id is "<hostname>:<pid>:<rand>"; in Kubernetes the hostname is
    # the pod's name, so the fake cluster has a worker pod of that name.
    pod = socket.gethostname()
    apiserver.add_pod(pod, phase="Running", labels=WORKER_LABELS, job="w-held")
    settings = in_cluster(isolated_settings, apiserver, tmp_path)
    RELEASE.clear()
    try:
        async with in_process_stack(settings, WorkflowRegistry([held])) as stack:
            response = await stack.client.post("/v1/jobs", json={"workflow": "held"})
            job_id = response.json()["job_id"]

            async def running() -> bool:
                state = await stack.services.state.get_job(job_id)
                return state is not None and state.status == JobStatus.RUNNING

            await wait_until(running, what="the job to run")
            state = await stack.services.state.get_job(job_id)
            assert state is not None and state.worker and state.worker.startswith(f"{pod}:")

            cancel = await stack.client.post(f"/v1/jobs/{job_id}/cancel", params={"hard": True})

            assert cancel.status_code == 202 and cancel.json()["status"] == "cancelling"
            assert ("agent-orchestrator", pod) not in apiserver.pods
            assert [r.verb for r in apiserver.requests] == ["list", "delete"]

            async def cancelled() -> bool:
                state = await stack.services.state.get_job(job_id)
                return state is not None and state.status == JobStatus.CANCELLED

            await wait_until(cancelled, what="the cooperative cancel to end the job")
    finally:
        RELEASE.set()


async def test_a_hard_cancel_of_a_queued_job_deletes_no_pod(
    isolated_settings: SettingsFactory, apiserver: FakeApiServer, tmp_path: Path
) -> None:
    settings = in_cluster(isolated_settings, apiserver, tmp_path)
    async with in_process_stack(settings, WorkflowRegistry([held]), with_worker=False) as stack:
        response = await stack.client.post("/v1/jobs", json={"workflow": "held"})
        job_id = response.json()["job_id"]

        cancel = await stack.client.post(f"/v1/jobs/{job_id}/cancel", params={"hard": True})

        # Still queued: cancelled at once, no worker and so no pod to delete.
        assert cancel.status_code == 202 and cancel.json()["status"] == "cancelled"
        assert apiserver.requests == []
