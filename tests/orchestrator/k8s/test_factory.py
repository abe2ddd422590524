"""``open_cluster`` picks the implementation from ``ORCH_KUBERNETES__MODE``."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import KubernetesSettings, Settings
from orchestrator.errors import ConfigError
from orchestrator.k8s import NoCluster, open_cluster
from orchestrator.k8s.kube import KubernetesCluster
from tests.orchestrator.k8s.apiserver import FakeApiServer
from tests.orchestrator.k8s.conftest import WORKER_SELECTOR


async def test_off_and_auto_outside_a_pod_give_no_cluster() -> None:
    assert isinstance(open_cluster(KubernetesSettings(mode="off")), NoCluster)
    assert isinstance(open_cluster(KubernetesSettings(mode="auto"), environ={}), NoCluster)
    cluster = NoCluster()
    assert await cluster.workload() is None
    assert await cluster.delete_worker_pod("anything") is False


async def test_auto_in_a_pod_without_a_service_account_token_gives_no_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Kubernetes sets these in every pod; the token file is missing (automount off).
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    cluster = open_cluster(KubernetesSettings(mode="auto"))
    assert isinstance(cluster, NoCluster)


def test_in_cluster_mode_without_a_service_account_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        open_cluster(KubernetesSettings(mode="in-cluster"))
    assert caught.value.details == {"setting": "ORCH_KUBERNETES__MODE"}


async def test_kubeconfig_mode_builds_the_real_client_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = FakeApiServer().start()
    try:
        monkeypatch.setenv("ORCH_KUBERNETES__MODE", "kubeconfig")
        monkeypatch.setenv("ORCH_KUBERNETES__KUBECONFIG", str(server.kubeconfig(tmp_path)))
        monkeypatch.setenv("ORCH_KUBERNETES__WORKER_SELECTOR", WORKER_SELECTOR)
        monkeypatch.setenv("ORCH_KUBERNETES__NAMESPACE", "jobs")

        cluster = open_cluster(Settings().kubernetes)

        assert isinstance(cluster, KubernetesCluster)
        assert cluster.namespace == "jobs" and cluster.worker_selector == WORKER_SELECTOR
        workload = await cluster.workload()
        assert workload is not None and workload.namespace == "jobs"
        await cluster.close()
    finally:
        server.stop()


def test_a_missing_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    settings = KubernetesSettings(mode="kubeconfig", kubeconfig=str(tmp_path / "nope"))
    with pytest.raises(ConfigError):
        open_cluster(settings)
