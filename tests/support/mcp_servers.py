"""Real MCP servers for the tests: the SDK-built test server (HTTP or stdio), mcp-server-git and
mcp-server-time (stdio), as server configurations and running processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TEST_SERVER = Path(__file__).resolve().parent / "mcp_test_server.py"
READY_TIMEOUT_SECONDS = 20.0
GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HttpServer:
    """A running test server: its MCP URL and its side-effect statistics."""

    base: str
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{self.base}/stats", timeout=5).json()
        return data

    def reset(self) -> None:
        httpx.post(f"{self.base}/reset", timeout=5)


@contextmanager
def http_test_server(tokens_file: Path | None = None) -> Iterator[HttpServer]:
    """Start the SDK-built test server over streamable HTTP on a free port; stopped after."""
    port = free_port()
    args = [sys.executable, str(TEST_SERVER), "--port", str(port)]
    if tokens_file is not None:
        args += ["--tokens-file", str(tokens_file)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = HttpServer(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError("the MCP test server exited at start")
            try:
                server.stats()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the MCP test server did not start in time") from None
                time.sleep(0.05)  # readiness poll, bounded by the deadline
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def http_config(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "transport": "http", "url": url, **extra}


def stdio_test_server_config(
    name: str, state_file: Path | None = None, **extra: Any
) -> dict[str, Any]:
    """The test server over stdio; with ``state_file`` it writes its statistics there."""
    args = [str(TEST_SERVER), "--stdio"]
    if state_file is not None:
        args += ["--state-file", str(state_file)]
    return {"name": name, "transport": "stdio", "command": sys.executable, "args": args, **extra}


def read_state(state_file: Path) -> dict[str, Any]:
    """The statistics a stdio test server wrote (empty before its first call)."""
    import json

    try:
        data: dict[str, Any] = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return {}
    return data


def git_config(name: str = "git", **extra: Any) -> dict[str, Any]:
    return {"name": name, "transport": "stdio", "command": sys.executable,
            "args": ["-m", "mcp_server_git"], **extra}  # fmt: skip


def time_config(name: str = "time", **extra: Any) -> dict[str, Any]:
    return {"name": name, "transport": "stdio", "command": sys.executable,
            "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"], **extra}  # fmt: skip


def make_git_repo(root: Path, commits: int = 3) -> Path:
    """A normal (non-bare) repository with ``commits`` commits (mcp-server-git needs one)."""
    root.mkdir(parents=True, exist_ok=True)

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, env=GIT_ENV, check=True, capture_output=True,
                       timeout=30)  # fmt: skip

    git("init", "-q", "-b", "main")
    for n in range(commits):
        (root / f"f{n}.txt").write_text(f"{n}\n")
        git("add", f"f{n}.txt")
        git("-c", "user.name=Tess", "-c", "user.email=t@example.org", "commit", "-q", "-m",
            f"commit number {n}")  # fmt: skip
    return root


def children_running(marker: str) -> list[int]:
    """Pids of this process's children whose command line contains ``marker``."""
    out = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(os.getpid())],
                         capture_output=True, text=True, timeout=10).stdout  # fmt: skip
    return [int(line.split(None, 1)[0]) for line in out.splitlines() if marker in line]


__all__ = [
    "HttpServer",
    "children_running",
    "free_port",
    "git_config",
    "http_config",
    "http_test_server",
    "make_git_repo",
    "read_state",
    "stdio_test_server_config",
    "time_config",
]
