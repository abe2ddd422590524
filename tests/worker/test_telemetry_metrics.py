"""How worker metrics leave the process: its own /metrics port, or a push when it exits."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from worker.metrics import push, serve, step_label
from worker.runner import run_worker

SettingsFactory = Callable[..., Settings]


class Pushgateway:
    """Records what is PUT to it, like a Prometheus Pushgateway's ``/metrics/job/...`` API."""

    def __init__(self, status: int = 200) -> None:
        self.pushes: list[tuple[str, str]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                gateway.pushes.append((self.path, body.decode()))
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pushgateway() -> Iterator[Pushgateway]:
    gateway = Pushgateway()
    yield gateway
    gateway.close()


def test_a_worker_serves_its_metrics_on_its_own_port() -> None:
    server = serve(0, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        server.stop()

    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"orchestrator_step_duration_seconds", "orchestrator_jobs_finished"} <= names


async def test_a_push_puts_the_registry_under_the_worker_id(pushgateway: Pushgateway) -> None:
    await push(pushgateway.url, "host:12:abc")

    ((path, body),) = pushgateway.pushes
    assert path == "/metrics/job/orchestrator-worker/instance/host%3A12%3Aabc"
    assert "orchestrator_step_duration_seconds" in body


async def test_a_failed_push_is_logged_not_raised() -> None:
    gateway = Pushgateway(status=500)
    try:
        await push(gateway.url, "w", timeout_seconds=2)
    finally:
        gateway.close()
    assert len(gateway.pushes) == 1


async def test_a_one_job_worker_pushes_its_metrics_when_it_exits(
    isolated_settings: SettingsFactory, pushgateway: Pushgateway
) -> None:
    settings = isolated_settings(
        worker={"idle_timeout_seconds": 0.2},
        telemetry={"pushgateway_url": pushgateway.url},
    )

    ran = await run_worker(settings, one_job=True, registry=WorkflowRegistry([]))

    assert ran == 0
    ((path, _),) = pushgateway.pushes
    assert path.startswith("/metrics/job/orchestrator-worker/instance/")


def test_fan_out_instances_share_their_steps_label() -> None:
    assert step_label("summarize[12]") == "summarize"
    assert step_label("plain") == "plain"
