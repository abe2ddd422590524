"""The local LLM wire-format server (tests/support/llm_server.py) in its own process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 20.0


class LLMServer:
    """A handle on the running server: its URLs, rules, gates and request log."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.anthropic_url = url  # the Anthropic SDK appends /v1/messages
        self.openai_url = f"{url}/v1"  # the OpenAI SDK appends /chat/completions

    def rule(
        self, responses: list[dict[str, Any]], *, match: str | None = None,
        model: str | None = None, first: str | None = None, tool: str | None = None,
    ) -> None:  # fmt: skip
        """Answer requests whose last user message contains ``match`` (and of ``model``, whose
        first user message contains ``first``, offering a tool named ``tool``)."""
        httpx.post(
            f"{self.url}/_rules",
            json={"match": match, "model": model, "first": first, "tool": tool,
                  "responses": responses},
            timeout=5,
        ).raise_for_status()

    def open_gate(self, name: str) -> None:
        """Let the streams waiting at ``name`` go on."""
        httpx.post(f"{self.url}/_gates/{name}", timeout=5).raise_for_status()

    def log(self, match: str | None = None, *, first: str | None = None) -> list[dict[str, Any]]:
        """Requests received so far (those whose last user message contains ``match``, and
        whose first contains ``first``); each with its ``messages``, ``system`` and ``tools``."""
        entries: list[dict[str, Any]] = httpx.get(f"{self.url}/_log", timeout=5).json()
        return [e for e in entries if (match is None or match in e["user"])
                and (first is None or first in e["first"])]  # fmt: skip

    def reset(self) -> None:
        """Forget rules, gates and the log."""
        httpx.post(f"{self.url}/_reset", timeout=5).raise_for_status()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def llm_server_process() -> Iterator[LLMServer]:
    """One server process for the session (tests reset it through ``llm_server``)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.llm_server", str(port)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    server = LLMServer(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"the LLM test server exited: {proc.stderr.read() if proc.stderr else ''!r}"
                )
            try:
                httpx.get(f"{server.url}/_log", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("the LLM test server did not start in time")
                time.sleep(0.05)  # readiness poll, bounded by the deadline
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def llm_server(llm_server_process: LLMServer) -> LLMServer:
    """The session's server, reset (no rules, empty log) for this test."""
    llm_server_process.reset()
    return llm_server_process


__all__ = ["LLMServer", "llm_server", "llm_server_process"]
