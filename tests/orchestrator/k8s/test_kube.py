"""``KubernetesCluster`` on the fake API server: the calls it makes and how it fails."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from orchestrator.k8s import ClusterError
from orchestrator.k8s.kube import KubernetesCluster
from tests.orchestrator.k8s.apiserver import FakeApiServer
from tests.orchestrator.k8s.conftest import (
    GATEWAY_LABELS,
    WORKER_LABELS,
    WORKER_SELECTOR,
    kube_settings,
)


async def test_it_lists_by_the_worker_selector_in_the_kubeconfig_namespace_with_its_token(
    apiserver: FakeApiServer, kube: KubernetesCluster
) -> None:
    apiserver.add_pod("w-1", phase="Running", labels=WORKER_LABELS)
    apiserver.add_pod("w-elsewhere", phase="Running", labels=WORKER_LABELS, namespace="other")

    workload = await kube.workload()

    assert workload is not None and workload.pods.running == 1
    assert kube.namespace == "agent-orchestrator"
    assert {(r.method, r.path) for r in apiserver.requests} == {
        ("GET", "/api/v1/namespaces/agent-orchestrator/pods"),
        ("GET", "/apis/batch/v1/namespaces/agent-orchestrator/jobs"),
    }
    assert all(r.query["labelSelector"] == WORKER_SELECTOR for r in apiserver.requests)


async def test_a_hard_cancel_checks_the_pod_is_a_worker_before_deleting_it(
    apiserver: FakeApiServer, kube: KubernetesCluster
) -> None:
    apiserver.add_pod("w-1", phase="Running", labels=WORKER_LABELS)
    apiserver.add_pod("gateway-1", phase="Running", labels=GATEWAY_LABELS)

    assert await kube.delete_worker_pod("gateway-1") is False
    assert await kube.delete_worker_pod("w-1") is True

    assert set(apiserver.pods) == {("agent-orchestrator", "gateway-1")}
    calls = [(r.method, r.query.get("fieldSelector")) for r in apiserver.requests]
    assert calls == [("GET", "metadata.name=gateway-1"), ("GET", "metadata.name=w-1"),
                     ("DELETE", None)]


async def test_a_refusal_of_the_api_is_a_cluster_error_with_its_status(
    apiserver: FakeApiServer, kube: KubernetesCluster
) -> None:
    apiserver.rules = {("", "pods", "list")}  # no batch/jobs list

    with pytest.raises(ClusterError) as caught:
        await kube.workload()

    assert caught.value.code == "cluster_unavailable"
    assert caught.value.details["status"] == 403


async def test_a_wrong_token_is_a_cluster_error(apiserver: FakeApiServer, tmp_path: Path) -> None:
    path = apiserver.kubeconfig(tmp_path)
    path.write_text(path.read_text().replace(apiserver.token, "stolen"))
    cluster = KubernetesCluster.from_kubeconfig(kube_settings(path))
    try:
        with pytest.raises(ClusterError) as caught:
            await cluster.delete_worker_pod("w-1")
        assert caught.value.details["status"] == 401
    finally:
        await cluster.close()


async def test_an_unreachable_api_is_a_cluster_error_within_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = FakeApiServer()
    (tmp_path / "kubeconfig").write_text(
        '{"apiVersion": "v1", "kind": "Config", "current-context": "x",'
        f' "clusters": [{{"name": "x", "cluster": {{"server": "http://127.0.0.1:{port}"}}}}],'
        f' "users": [{{"name": "x", "user": {{"token": "{server.token}"}}}}],'
        ' "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}'
    )
    cluster = KubernetesCluster.from_kubeconfig(kube_settings(tmp_path / "kubeconfig"))
    try:
        assert cluster.namespace == "default"  # no namespace in the context
        with pytest.raises(ClusterError) as caught:
            await asyncio.wait_for(cluster.workload(), 10)
        assert caught.value.details["status"] is None
    finally:
        await cluster.close()
