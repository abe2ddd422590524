"""The whole stack as separate processes: ``orchestrator gateway`` and ``orchestrator worker``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """A running gateway, its workers, and what tests need to reach them."""

    url: str
    env: dict[str, str]
    prefix: str
    logs: Path
    gateway: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    key: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """Credentials of the stack's admin API key (made with `orchestrator keys create`)."""
        return {"Authorization": f"Bearer {self.key}"}

    def start_worker(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``orchestrator worker`` (extra CLI args allowed) as a child process."""
        n = len(self.workers)
        log = open(self.logs / f"worker-{n}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "worker", *args],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        return proc

    def stop_worker(self, index: int, *, timeout_seconds: float = 15.0) -> None:
        """Stop worker ``index`` gracefully (SIGTERM), killing it after ``timeout_seconds``."""
        proc = self.workers[index]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_seconds)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        for proc in [*self.workers, self.gateway]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.workers, self.gateway]:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def start_stack(
    redis_url: str,
    pg_url: str,
    tmp_path: Path,
    *,
    workflows: str = "tests.e2e.flows",
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[Stack]:
    """Start a gateway (and ``workers`` long-lived workers), isolated by key prefix and queue."""
    tag = uuid.uuid4().hex[:10]
    port = _free_port()
    env = {
        **os.environ,
        "ORCH_REDIS__URL": redis_url,
        "ORCH_DATABASE__URL": pg_url,
        "ORCH_WORKFLOWS": workflows,
        "ORCH_STATE__KEY_PREFIX": f"e{tag}",
        "ORCH_QUEUE__NAME": f"e{tag}:queue",
        "ORCH_LEASE__TTL_SECONDS": "1.5",
        "ORCH_LEASE__CHECK_INTERVAL_SECONDS": "0.25",
        "ORCH_WORKER__POLL_DELAY_SECONDS": "0.02",
        "ORCH_WORKER__SHUTDOWN_GRACE_SECONDS": "1",
        "ORCH_GATEWAY__PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    # A real admin key through the CLI; the CLI's `submit` sends it (ORCH_GATEWAY__API_KEY).
    created = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "keys", "create", "--tenant", f"e2e-{tag}",
         "--role", "admin", "--name", "e2e"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    env["ORCH_GATEWAY__API_KEY"] = key
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    gw_log = open(logs / "gateway.log", "wb")
    gateway = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "gateway", "--port", str(port)],
        cwd=ROOT, env=env, stdout=gw_log, stderr=subprocess.STDOUT,
    )
    s = Stack(f"http://127.0.0.1:{port}", env, f"e{tag}", logs, gateway, key=key)
    for _ in range(workers):
        s.start_worker()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if gateway.poll() is not None:
                pytest.fail(f"gateway exited: {(logs / 'gateway.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{s.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("gateway not ready in time")
            time.sleep(0.05)  # readiness poll, bounded by the deadline
        yield s
    finally:
        s.stop()
        gw_log.close()


@pytest.fixture
def stack(redis_url: str, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    """Gateway + one long-lived worker running tests/e2e/flows.py."""
    with start_stack(redis_url, pg_url, tmp_path) as s:
        yield s
