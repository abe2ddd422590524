"""The chart's Role grants exactly what the gateway's cluster client calls, nothing more.

The Role rendered by helm is loaded into the fake API server (``tests/orchestrator/k8s/
apiserver.py``, the real REST wire format), which refuses with 403 whatever it does not grant.
The real ``kubernetes`` client then does everything the gateway does; every call must pass, and
every granted verb must have been used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.k8s.kube import KubernetesCluster
from tests.deploy.chart import by_kind, one, settings_map
from tests.orchestrator.k8s.apiserver import FakeApiServer
from tests.orchestrator.k8s.conftest import GATEWAY_LABELS, WORKER_LABELS, kube_settings

Rendered = dict[str, list[dict[str, Any]]]


def grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """A Role's rules as ``(api_group, resource, verb)`` triples."""
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


async def test_the_role_grants_exactly_the_calls_of_the_gateway(
    rendered: Rendered, tmp_path: Path
) -> None:
    objects = rendered["default"]
    role = one(objects, "Role")
    assert not by_kind(objects, "ClusterRole") and not by_kind(objects, "ClusterRoleBinding")
    server = FakeApiServer(rules=grants(role)).start()
    selector = settings_map(objects)["data"]["ORCH_KUBERNETES__WORKER_SELECTOR"]
    settings = kube_settings(server.kubeconfig(tmp_path), worker_selector=selector)
    cluster = KubernetesCluster.from_kubeconfig(settings)
    try:
        server.add_job("w-1", labels=WORKER_LABELS)
        server.add_pod("w-1-x", phase="Running", labels=WORKER_LABELS, job="w-1")
        server.add_pod("gateway-1", phase="Running", labels=GATEWAY_LABELS)

        workload = await cluster.workload()
        assert workload is not None and workload.jobs.running == 1
        assert await cluster.delete_worker_pod("gateway-1") is False
        assert await cluster.delete_worker_pod("w-1-x") is True
        assert await cluster.delete_worker_pod("w-1-x") is False
    finally:
        await cluster.close()
        server.stop()

    used = {(r.api_group, r.resource, r.verb) for r in server.requests}
    assert used == grants(role) == {("batch", "jobs", "list"), ("", "pods", "list"),
                                    ("", "pods", "delete")}


def test_the_role_is_bound_to_the_gateways_service_account_only(rendered: Rendered) -> None:
    objects = rendered["default"]
    binding = one(objects, "RoleBinding")
    gateway = one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": one(objects, "Role")["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount",
                                    "name": gateway["serviceAccountName"],
                                    "namespace": "agent-orchestrator"}]
    assert gateway["automountServiceAccountToken"] is True
    worker = one(objects, "ScaledJob")["spec"]["jobTargetRef"]["template"]["spec"]
    assert worker["automountServiceAccountToken"] is False


def test_without_rbac_there_is_no_role_and_cluster_awareness_is_off(rendered: Rendered) -> None:
    objects = rendered["existing-secrets"]
    assert not by_kind(objects, "Role") and not by_kind(objects, "RoleBinding")
    gateway = one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]
    assert gateway["automountServiceAccountToken"] is False
