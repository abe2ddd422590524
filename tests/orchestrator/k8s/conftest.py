"""Fixtures: the fake API server (real wire format) and clusters on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from orchestrator.config import KubernetesSettings
from orchestrator.k8s.kube import KubernetesCluster
from tests.orchestrator.k8s.apiserver import FakeApiServer

RELEASE = "agent-orchestrator"
WORKER_LABELS = {"app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/component": "worker"}
GATEWAY_LABELS = {"app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/component": "gateway"}
# What the chart sets as ORCH_KUBERNETES__WORKER_SELECTOR for this release.
WORKER_SELECTOR = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=worker"


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    """A running fake API server (real Kubernetes REST wire format)."""
    server = FakeApiServer().start()
    yield server
    server.stop()


def kube_settings(kubeconfig: Path, **overrides: object) -> KubernetesSettings:
    """Settings of a gateway that reaches the cluster through ``kubeconfig``."""
    fields: dict[str, object] = {"mode": "kubeconfig", "kubeconfig": str(kubeconfig),
                                 "worker_selector": WORKER_SELECTOR,
                                 "request_timeout_seconds": 2.0}
    return KubernetesSettings.model_validate(fields | overrides)


@pytest_asyncio.fixture(loop_scope="session")
async def kube(apiserver: FakeApiServer, tmp_path: Path) -> AsyncIterator[KubernetesCluster]:
    """The real client on the fake API server, built from a kubeconfig like a developer's."""
    cluster = KubernetesCluster.from_kubeconfig(kube_settings(apiserver.kubeconfig(tmp_path)))
    yield cluster
    await cluster.close()
