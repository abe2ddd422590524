"""What `orchestrator gateway` and `orchestrator worker` say about themselves (JSON logs, since
their output is a file here, not a terminal): the start line and the access log."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
WAIT_SECONDS = 20.0


def log_lines(stack: Stack, name: str, event: str) -> list[dict[str, Any]]:
    """JSON lines of ``logs/<name>.log`` whose event is ``event``, waiting for one (bounded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = []
        for line in (stack.logs / f"{name}.log").read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == event:
                found.append(entry)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)  # the process writes its log asynchronously; bounded by the deadline


def test_the_gateway_and_the_worker_log_one_start_line_with_secrets_masked(
    live_stack: Stack,
) -> None:
    (gateway,) = log_lines(live_stack, "gateway", "gateway starting")
    (worker,) = log_lines(live_stack, "worker-0", "worker starting")

    for line in (gateway, worker):
        assert set(line["workflows"]) >= {"e2e_brief", "cli_approve"}
        assert all(len(v) > 0 for v in line["workflows"].values())  # each with its version
        assert line["redis"].startswith("redis://") and line["database"].startswith("postgresql")
    assert gateway["address"].endswith(live_stack.url.rsplit(":", 1)[1])
    assert gateway["auth"] == "API keys"
    assert worker["mode"] == "long-lived"


def test_the_gateway_writes_an_access_log_line_per_request(live_stack: Stack) -> None:
    rid = f"access-{time.monotonic_ns()}"
    response = httpx.get(
        f"{live_stack.url}/v1/workflows", headers={**live_stack.headers, "X-Request-ID": rid}
    )
    assert response.status_code == 200

    deadline = time.monotonic() + WAIT_SECONDS
    while not (
        mine := [
            e for e in log_lines(live_stack, "gateway", "request") if e.get("request_id") == rid
        ]
    ):
        assert time.monotonic() < deadline, "no access log line for the request"
        time.sleep(0.05)  # bounded by the deadline
    assert mine[0]["method"] == "GET" and mine[0]["path"] == "/v1/workflows"
    assert mine[0]["status"] == 200 and mine[0]["duration_ms"] >= 0
    assert not [e for e in log_lines(live_stack, "gateway", "request") if e["path"] == "/readyz"]
