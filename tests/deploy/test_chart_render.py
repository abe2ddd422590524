"""The Helm chart, offline: ``helm lint --strict`` and ``helm template`` with a real helm binary
for the default values and every documented combination; core kinds validated with
``kubernetes-validate`` (strict) for the oldest and newest supported Kubernetes; KEDA kinds with
KEDA's own CRD schemas (``tests/deploy/keda.py``)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.chart import (
    CHART,
    COMBINATIONS,
    by_kind,
    one,
    pod_specs,
    run_helm,
    settings_map,
    values_args,
)
from tests.deploy.keda import KedaSchemas

KEDA_KINDS = {"ScaledJob", "TriggerAuthentication"}
# The chart's kubeVersion is >=1.25; kubernetes-validate ships schemas up to 1.37.
KUBERNETES_VERSIONS = ("1.25", "1.37")
Rendered = dict[str, list[dict[str, Any]]]


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_helm_lint_strict_passes(helm: str, combination: str) -> None:
    result = run_helm(helm, "lint", "--strict", CHART, *values_args(combination), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_core_kinds_are_valid_kubernetes_objects(rendered: Rendered, combination: str) -> None:
    errors = []
    for obj in rendered[combination]:
        if obj["kind"] in KEDA_KINDS:
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{version} {obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert errors == []


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_keda_kinds_match_kedas_crds_and_scaler_keys(
    rendered: Rendered, keda: KedaSchemas, combination: str
) -> None:
    objects = rendered[combination]
    errors = [e for obj in objects if obj["kind"] in KEDA_KINDS for e in keda.errors(obj)]
    for job in by_kind(objects, "ScaledJob"):
        for trigger in job["spec"]["triggers"]:
            for auth in by_kind(objects, "TriggerAuthentication"):
                if auth["metadata"]["name"] == trigger.get("authenticationRef", {}).get("name"):
                    errors += keda.auth_parameter_errors(auth, trigger["type"])
    assert errors == []


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_the_pod_template_of_the_scaled_job_is_a_valid_batch_job(
    rendered: Rendered, combination: str
) -> None:
    for job in by_kind(rendered[combination], "ScaledJob"):
        as_job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "check"},
                  "spec": job["spec"]["jobTargetRef"]}
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(as_job, version, strict=True)


def test_the_default_scaled_job_follows_design_section_8(rendered: Rendered) -> None:
    job = one(rendered["default"], "ScaledJob", "-worker")
    spec = job["spec"]
    target = spec["jobTargetRef"]
    assert spec["scalingStrategy"] == {"strategy": "default"}
    assert spec["rollout"] == {"strategy": "gradual"}
    assert target["backoffLimit"] == 0
    assert target["activeDeadlineSeconds"] > 3600 + 30  # job timeout + idle timeout
    assert spec["pollingInterval"] == 5 and spec["maxReplicaCount"] == 20
    assert spec["minReplicaCount"] == 0
    assert spec["successfulJobsHistoryLimit"] == 3 and spec["failedJobsHistoryLimit"] == 5
    pod = target["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["args"] == ["worker", "--one-job"]
    assert pod["automountServiceAccountToken"] is False
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "metrics-api"
    assert trigger["metadata"] == {
        "url": "http://agent-orchestrator-gateway.agent-orchestrator.svc.cluster.local:8000"
        "/v1/system/queue-depth",
        "format": "json",
        "valueLocation": "depth",
        "targetValue": "1",
        "activationTargetValue": "0",
        "authMode": "bearer",
    }
    auth = one(rendered["default"], "TriggerAuthentication", "-worker")
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "token", "name": "agent-orchestrator", "key": "gateway-api-key"}
    ]


def test_the_redis_trigger_counts_the_arq_queue_one_job_per_pod(rendered: Rendered) -> None:
    job = one(rendered["redis-trigger"], "ScaledJob", "-worker")
    (trigger,) = job["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == "arq:queue"
    assert trigger["metadata"]["listLength"] == "1"
    assert all(isinstance(v, str) for v in trigger["metadata"].values())
    auth = one(rendered["redis-trigger"], "TriggerAuthentication", "-worker")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": "redis-auth", "key": "password"}
    ]


def test_without_keda_the_workers_are_a_plain_deployment(rendered: Rendered) -> None:
    objects = rendered["no-keda"]
    assert not by_kind(objects, "ScaledJob") and not by_kind(objects, "TriggerAuthentication")
    worker = one(objects, "Deployment", "-worker")
    assert worker["spec"]["replicas"] == 3
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]
    config = settings_map(objects)
    assert config["data"]["ORCH_WORKER__MAX_JOBS"] == "8"


def test_the_gateway_has_probes_a_service_and_optional_ingress_hpa_and_pdb(
    rendered: Rendered,
) -> None:
    gateway = one(rendered["default"], "Deployment", "-gateway")
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["gateway"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    service = one(rendered["default"], "Service", "-gateway")
    assert service["spec"]["selector"] == gateway["spec"]["selector"]["matchLabels"]
    for kind in ("Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert not by_kind(rendered["default"], kind)
        assert len(by_kind(rendered["gateway-exposed"], kind)) == 1
    exposed = one(rendered["gateway-exposed"], "Deployment", "-gateway")
    assert "replicas" not in exposed["spec"]  # the HPA owns it


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_every_pod_runs_as_non_root_with_limits_and_a_read_only_root(
    rendered: Rendered, combination: str
) -> None:
    for obj in rendered[combination]:
        for pod in pod_specs(obj):
            assert pod["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
            for container in pod["containers"]:
                context = container["securityContext"]
                assert context["readOnlyRootFilesystem"] is True
                assert context["allowPrivilegeEscalation"] is False
                assert context["capabilities"] == {"drop": ["ALL"]}
                assert container["resources"]["requests"] and container["resources"]["limits"]


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_every_secret_and_config_map_a_pod_references_exists_or_is_declared_existing(
    rendered: Rendered, combination: str
) -> None:
    objects = rendered[combination]
    secrets = {o["metadata"]["name"]: set(o.get("data", {})) for o in by_kind(objects, "Secret")}
    maps = {o["metadata"]["name"] for o in by_kind(objects, "ConfigMap")}
    external = {"platform-redis", "platform-postgres", "orchestrator-tokens", "redis-auth"}
    for obj in objects:
        for pod in pod_specs(obj):
            for container in pod["containers"]:
                for source in container.get("envFrom", []):
                    assert source["configMapRef"]["name"] in maps
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref is None or ref["name"] in external:
                        continue
                    assert ref["key"] in secrets.get(ref["name"], set()), (obj["kind"], env)


def test_the_migration_runs_as_a_hook_before_install_and_upgrade(rendered: Rendered) -> None:
    job = one(rendered["default"], "Job", "-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["migrate"]
    # Pre-install hooks run before the chart's own Secret exists: the hook has its own copy,
    # created first (lower weight).
    (url,) = [e for e in container["env"] if e["name"] == "ORCH_DATABASE__URL"]
    secret = one(rendered["default"], "Secret", "-migrate")
    assert url["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations["helm.sh/hook-weight"])
    # With an existing database Secret the hook reads that one.
    existing = one(rendered["existing-secrets"], "Job", "-migrate")
    env = existing["spec"]["template"]["spec"]["containers"][0]["env"]
    (url,) = [e for e in env if e["name"] == "ORCH_DATABASE__URL"]
    assert url["valueFrom"]["secretKeyRef"] == {"name": "platform-postgres", "key": "url"}
    assert not [s for s in by_kind(rendered["existing-secrets"], "Secret")]


def test_the_gateway_is_told_its_worker_selector_and_the_workers_carry_it(
    rendered: Rendered,
) -> None:
    objects = rendered["default"]
    data = settings_map(objects)["data"]
    assert data["ORCH_KUBERNETES__MODE"] == "in-cluster"
    selector = dict(part.split("=") for part in data["ORCH_KUBERNETES__WORKER_SELECTOR"].split(","))
    job = one(objects, "ScaledJob", "-worker")
    # KEDA copies the ScaledJob's labels onto the Jobs it creates; pods get the template's.
    assert selector.items() <= job["metadata"]["labels"].items()
    assert selector.items() <= job["spec"]["jobTargetRef"]["template"]["metadata"]["labels"].items()
    gateway = one(objects, "Deployment", "-gateway")
    assert not selector.items() <= gateway["spec"]["template"]["metadata"]["labels"].items()
    assert settings_map(rendered["existing-secrets"])["data"]["ORCH_KUBERNETES__MODE"] == "off"


def test_workflow_code_can_be_mounted_on_the_images_python_path(rendered: Rendered) -> None:
    objects = rendered["workflow-volume"]
    assert settings_map(objects)["data"]["ORCH_WORKFLOWS"] == "myflows.briefs,examples.hello"
    for obj in (one(objects, "ScaledJob"), one(objects, "Deployment", "-gateway")):
        (pod,) = pod_specs(obj)
        mounts = pod["containers"][0]["volumeMounts"]
        assert {"name": "workflows", "mountPath": "/app/workflows", "readOnly": True} in mounts
        assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
        assert pod["containers"][0]["image"] == "registry.example.com/agents/agent-orchestrator:0.1.0"


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_the_install_notes_tell_how_to_submit_a_first_job(helm: str, combination: str) -> None:
    result = run_helm(helm, "install", "agent-orchestrator", CHART, "--namespace",
                      "agent-orchestrator", "--dry-run=client", *values_args(combination))
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "orchestrator submit hello --input name=world --stream" in notes
    assert '"/v1/jobs"' in notes.replace("$ORCH_GATEWAY__URL", "")
    assert "ORCH_GATEWAY__API_KEY=$(kubectl get secret" in notes
