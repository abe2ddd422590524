"""The Grafana dashboard: valid JSON, shipped identically with the Helm chart, naming only
metrics that the gateway or the worker expose."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import gateway.metrics
import worker.metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "agent-orchestrator.json"
CHART_COPY = ROOT / "deploy" / "helm" / "agent-orchestrator" / "dashboards" / "agent-orchestrator.json"
METRIC = re.compile(r"\b(orchestrator_[a-zA-Z0-9_:]+)")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def exposed_names() -> set[str]:
    """Series names the gateway's and worker's registries can expose (labelled or not)."""
    assert gateway.metrics.JOBS_RUNNING and worker.metrics.STEP_DURATION  # both registered
    names: set[str] = set()
    for family in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def expressions(dashboard: dict[str, Any]) -> Iterator[str]:
    """Every PromQL expression: panel targets and templating queries."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for p in items:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(dashboard["panels"]):
        for t in p.get("targets", []):
            yield t["expr"]
    for var in dashboard["templating"]["list"]:
        query = var.get("query")
        if isinstance(query, dict):
            yield query["query"]


def test_the_chart_ships_the_same_dashboard() -> None:
    assert CHART_COPY.read_bytes() == DASHBOARD.read_bytes()


def test_the_dashboard_is_a_grafana_dashboard_with_unique_panel_ids(
    dashboard: dict[str, Any],
) -> None:
    assert dashboard["uid"] == "agent-orchestrator" and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for p in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= set(p["gridPos"]) and p["gridPos"]["w"] <= 24
        if p["type"] != "row":
            assert p["targets"] and all(t["expr"].strip() for t in p["targets"])
            assert [t["refId"] for t in p["targets"]] == sorted({t["refId"] for t in p["targets"]})


def test_every_metric_the_dashboard_names_is_exposed(dashboard: dict[str, Any]) -> None:
    named = {m for expr in expressions(dashboard) for m in METRIC.findall(expr)}

    assert named, "the dashboard names no metric"
    assert named - exposed_names() == set()


@pytest.mark.parametrize(
    ("title", "needle"),
    [
        ("Jobs by status", "orchestrator_jobs_finished_total"),
        ("Step latency p50 / p95 / p99", "orchestrator_step_duration_seconds_bucket"),
        ("Queue depth vs worker pods", "orchestrator_queue_depth"),
        ("Error rate by workflow", 'status="failed"'),
    ],
)
def test_the_dashboard_has_the_panels_operations_asks_for(
    dashboard: dict[str, Any], title: str, needle: str
) -> None:
    (panel,) = [p for p in dashboard["panels"] if p["title"] == title]
    assert any(needle in t["expr"] for t in panel["targets"])


def test_latency_panels_show_p50_p95_and_p99(dashboard: dict[str, Any]) -> None:
    (panel,) = [p for p in dashboard["panels"] if p["title"].startswith("Step latency")]
    quantiles = sorted(re.findall(r"histogram_quantile\((0\.\d+)", " ".join(
        t["expr"] for t in panel["targets"])))  # fmt: skip
    assert quantiles == ["0.5", "0.95", "0.99"]
