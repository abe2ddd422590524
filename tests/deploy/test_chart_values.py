"""The chart's values: every key documented, typos refused by values.schema.json, guards enforced."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.deploy.chart import CHART, COMBINATIONS, by_kind, one, render, run_helm

KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?P<rest>.*)$")


def undocumented_keys(text: str) -> list[str]:
    """Keys of a values.yaml without a ``# --`` comment (helm-docs style) above them.

    A key whose value is a block mapping may go without one when all its children have theirs
    (a section); a documented key's children need none (e.g. ``resources``).
    """
    lines = text.splitlines()
    missing: list[str] = []
    documented_above: list[tuple[int, bool]] = []  # (indent, documented) of open parents
    path: list[tuple[int, str]] = []
    for number, line in enumerate(lines):
        match = KEY.match(line)
        if not match or line.lstrip().startswith("-"):
            continue
        indent = len(match["indent"])
        while documented_above and documented_above[-1][0] >= indent:
            documented_above.pop()
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, match["key"]))
        comment = []
        for previous in reversed(lines[:number]):
            if previous.strip().startswith("#"):
                comment.append(previous.strip())
            else:
                break
        documented = any(c.startswith("# --") for c in comment)
        inherited = any(d for _, d in documented_above)
        is_section = match["rest"].strip() == "" and not _is_list_next(lines, number)
        if not documented and not inherited and not is_section:
            missing.append(".".join(key for _, key in path))
        documented_above.append((indent, documented))
    return missing


def _is_list_next(lines: list[str], number: int) -> bool:
    following = next((ln for ln in lines[number + 1:] if ln.strip()), "")
    return following.lstrip().startswith("- ")


def test_every_value_is_documented_with_a_helm_docs_comment() -> None:
    assert undocumented_keys((CHART / "values.yaml").read_text()) == []


def test_the_documentation_check_sees_an_undocumented_key() -> None:
    text = "a:\n  # -- fine\n  b: 1\n  c: 2\n# -- documented map\nd:\n  e: 1\n"
    assert undocumented_keys(text) == ["a.c"]


def test_the_values_schema_is_valid_and_accepts_every_documented_combination() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(defaults, schema)
    for path in filter(None, COMBINATIONS.values()):
        merged = _merge(defaults, yaml.safe_load(path.read_text()))
        jsonschema.validate(merged, schema)


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(
            base.get(key), dict) else value
    return out


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("keda.pollingIntervall=5", "pollingIntervall"),
        ("keda.trigger=kafka", "keda/trigger"),
        ("gateway.replicaCount=two", "gateway/replicaCount"),
        ("workflows.modules={my-flows}", "workflows/modules"),
    ],
)
def test_helm_refuses_a_misspelled_or_ill_typed_value(
    helm: str, setting: str, complaint: str
) -> None:
    result = run_helm(helm, "template", "x", CHART, "--set", setting, check=False)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_a_job_deadline_shorter_than_the_job_timeout_is_refused(helm: str) -> None:
    result = run_helm(helm, "template", "x", CHART, "--set", "keda.activeDeadlineSeconds=3600",
                      check=False)
    assert result.returncode != 0
    assert "keda.activeDeadlineSeconds (3600) must exceed" in result.stderr


def test_the_dashboards_config_map_renders_nothing_while_there_are_no_dashboards(
    helm: str, tmp_path: Path
) -> None:
    chart = tmp_path / "agent-orchestrator"
    shutil.copytree(CHART, chart)
    for dashboard in (chart / "dashboards").glob("*.json"):
        dashboard.unlink()

    objects = render(helm, "--set", "grafana.dashboards.enabled=true", chart=chart)
    assert not [o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith(
        "-dashboards")]


def test_the_dashboards_config_map_carries_each_dashboard_for_grafanas_sidecar(
    helm: str, tmp_path: Path
) -> None:
    chart = tmp_path / "agent-orchestrator"
    shutil.copytree(CHART, chart)
    dashboard = {"title": "AgentOrchestrator", "panels": []}
    (chart / "dashboards" / "orchestrator.json").write_text(json.dumps(dashboard))

    assert not [o for o in render(helm, chart=chart) if o["metadata"]["name"].endswith(
        "-dashboards")]
    objects = render(helm, "--set", "grafana.dashboards.enabled=true", chart=chart)
    config = one(objects, "ConfigMap", "-dashboards")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config["data"]["orchestrator.json"]) == dashboard
    # ... and every dashboard the chart ships, each a JSON document.
    assert set(config["data"]) == {p.name for p in (chart / "dashboards").glob("*.json")}
    assert all(isinstance(json.loads(text), dict) for text in config["data"].values())
