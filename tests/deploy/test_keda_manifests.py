"""``deploy/keda`` (plain manifests for kubectl users) is what the chart renders, built with the
real kustomize inside kubectl 1.37 (fetched by ``make tools``)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.chart import ROOT, render
from tests.deploy.keda import KedaSchemas

KEDA_MANIFESTS = ROOT / "deploy" / "keda"
# Labels only Helm sets, and the pod annotation that rolls pods on a ConfigMap change (it hashes
# the chart's ConfigMap, which kubectl users manage themselves).
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")
HELM_ONLY_ANNOTATIONS = ("checksum/config",)


def kustomize(kubectl: str, directory: str) -> list[dict[str, Any]]:
    """``kubectl kustomize deploy/keda/<directory>`` as objects."""
    out = subprocess.run([kubectl, "kustomize", str(KEDA_MANIFESTS / directory)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def without_helm_bookkeeping(obj: dict[str, Any]) -> dict[str, Any]:
    """The object less :data:`HELM_ONLY_LABELS` and :data:`HELM_ONLY_ANNOTATIONS`."""
    for key in HELM_ONLY_LABELS:
        obj["metadata"].get("labels", {}).pop(key, None)
    if obj["kind"] == "ScaledJob":
        meta = obj["spec"]["jobTargetRef"]["template"]["metadata"]
        for key in HELM_ONLY_ANNOTATIONS:
            meta.get("annotations", {}).pop(key, None)
        if not meta.get("annotations"):
            meta.pop("annotations", None)
    return obj


def keda_objects(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The KEDA objects by ``(kind, name)``, without Helm's bookkeeping."""
    return {(o["kind"], o["metadata"]["name"]): without_helm_bookkeeping(o) for o in objects
            if o["apiVersion"].startswith("keda.sh/")}


@pytest.mark.parametrize(
    ("directory", "helm_args"),
    [("", []), ("redis", ["--set", "keda.trigger=redis"])],
    ids=["metrics-api", "redis"],
)
def test_the_plain_manifests_equal_the_charts_keda_objects(
    helm: str, kubectl: str, directory: str, helm_args: list[str]
) -> None:
    plain = keda_objects(kustomize(kubectl, directory))
    chart = keda_objects(render(helm, *helm_args))

    assert plain and plain.keys() == chart.keys()
    for key in plain:
        assert plain[key] == chart[key], key


@pytest.mark.parametrize("directory", ["", "redis"])
def test_the_plain_manifests_pass_kedas_schemas(
    kubectl: str, keda: KedaSchemas, directory: str
) -> None:
    objects = kustomize(kubectl, directory)
    assert objects
    assert [e for o in objects for e in keda.errors(o)] == []
