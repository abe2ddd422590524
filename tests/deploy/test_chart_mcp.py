"""The chart's MCP configuration: servers in a ConfigMap mounted as ORCH_MCP__CONFIG, secrets only
as references to existing Secrets, and a file the processes accept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.mcp.config import OAuth2Auth, read_config_file
from tests.deploy.chart import by_kind, one, settings_map

Rendered = dict[str, list[dict[str, Any]]]
MOUNT = "/etc/orchestrator/mcp"


def pods(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs = []
    for obj in objects:
        template = obj.get("spec", {}).get("template") or obj.get("spec", {}).get(
            "jobTargetRef", {}
        ).get("template")
        if obj["kind"] in ("Deployment", "ScaledJob") and template:
            specs.append(template["spec"])
    return specs


def test_servers_become_a_mounted_config_file_the_processes_accept(
    rendered: Rendered, tmp_path: Path
) -> None:
    objects = rendered["mcp"]
    config_map = one(objects, "ConfigMap", "-mcp")
    path = tmp_path / "servers.yaml"
    path.write_text(config_map["data"]["servers.yaml"])

    git, crm = read_config_file(str(path))

    assert settings_map(objects)["data"]["ORCH_MCP__CONFIG"] == f"{MOUNT}/servers.yaml"
    assert git.name == "git" and crm.transport == "http"
    assert isinstance(crm.auth, OAuth2Auth) and crm.auth.scopes == ["crm.read"]
    specs = pods(objects)
    assert len(specs) >= 2  # the gateway and the workers
    for spec in specs:
        volume = next(v for v in spec["volumes"] if v["name"] == "mcp-config")
        assert volume["configMap"]["name"] == config_map["metadata"]["name"]
        for container in spec["containers"]:
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert MOUNT in mounts
            env = {e["name"]: e for e in container.get("env", [])}
            ref = env["CRM_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "orchestrator-tokens", "key": "crm-client-secret"}


def test_without_servers_there_is_no_mcp_config_map_or_mount(rendered: Rendered) -> None:
    objects = rendered["default"]

    assert not [m for m in by_kind(objects, "ConfigMap") if m["metadata"]["name"].endswith("-mcp")]
    assert "ORCH_MCP__CONFIG" not in settings_map(objects)["data"]
    for spec in pods(objects):
        assert all(v["name"] != "mcp-config" for v in spec["volumes"])
