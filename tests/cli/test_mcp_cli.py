"""``orchestrator mcp``: servers, tools and one call on the real mcp-server-time; one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.mcp_servers import time_config

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, servers: object = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env["ORCH_MCP__SERVERS"] = json.dumps(servers if servers is not None else [time_config()])
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", "mcp", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_servers_tools_and_a_call() -> None:
    servers = cli("servers")
    tools = cli("tools")
    called = cli("call", "time/get_current_time", "--arg", "timezone=UTC")

    assert servers.returncode == 0 and "time\tstdio\t" in servers.stdout
    assert tools.returncode == 0 and "time/get_current_time\t" in tools.stdout
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)
    assert result["structured_content"]["timezone"] == "UTC" and result["is_error"] is False


def test_errors_are_one_line_with_their_code() -> None:
    unknown = cli("call", "time/nope")
    invalid = cli("call", "time/get_current_time", "--arg", "timezone=7")
    bad_config = cli("servers", servers=[{"name": "x", "transport": "http"}])

    for result, code in ((unknown, "tool_not_found"), (invalid, "tool_arguments_invalid"),
                         (bad_config, "config_invalid")):  # fmt: skip
        assert result.returncode == 2
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"error [{code}]")
        assert "Traceback" not in result.stderr


def test_login_says_in_one_line_when_the_token_manager_is_absent() -> None:
    import importlib.util

    result = cli("login", "time")
    if importlib.util.find_spec("orchestrator.mcp.login") is None:
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
