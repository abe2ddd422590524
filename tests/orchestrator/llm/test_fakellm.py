"""The providers against ``fakellm`` (PyPI), a mock server of the Anthropic and OpenAI APIs.

What stands in for the paid APIs: ``fakellm serve`` in its own process with YAML rules; the real
``anthropic`` and ``openai`` SDKs talk to it over HTTP. (fakellm streams no usage on the OpenAI
side and cannot fail a streaming request; those cases use tests/support/llm_server.py.)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.llm.anthropic import AnthropicProvider
from orchestrator.llm.base import (
    LLMRequest,
    StopEvent,
    TextDelta,
    ToolSpec,
    ToolUseEvent,
    UsageEvent,
)
from orchestrator.llm.openai import OpenAIProvider

RULES = """\
version: 1
rules:
  - name: two_tools
    when:
      messages_contain: "what changed"
    respond:
      tool_calls:
        - name: git__git_log
          arguments: {max_count: 3}
        - name: time__now
          arguments: {}
  - name: greeting
    when:
      messages_contain: "hello"
    respond:
      content: "Hi there from fakellm"
"""


@pytest.fixture(scope="module")
def fakellm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``fakellm serve`` on a free port; yields its base URL."""
    config = tmp_path_factory.mktemp("fakellm") / "fakellm.yaml"
    config.write_text(RULES)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("fakellm", path=str(Path(sys.executable).parent))
    assert exe is not None, "fakellm is in the dev extra (make install)"
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port), "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/_fakellm/stats", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "fakellm did not start"
                time.sleep(0.05)  # readiness poll, bounded
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def test_anthropic_parallel_tool_uses_through_fakellm(fakellm: str) -> None:
    provider = AnthropicProvider(api_key="k", base_url=fakellm, max_retries=0)
    tools = (
        ToolSpec("git/git_log", "", {"type": "object"}),
        ToolSpec("time/now", "", {"type": "object"}),
    )
    try:
        events = [
            e
            async for e in provider.stream(
                LLMRequest(
                    model="claude-sonnet-4-5",
                    messages=[{"role": "user", "content": "what changed?"}],
                    tools=tools,
                )
            )
        ]
    finally:
        await provider.aclose()
    uses = [e.tool_use for e in events if isinstance(e, ToolUseEvent)]
    assert [(u.name, u.input) for u in uses] == [
        ("git/git_log", {"max_count": 3}),
        ("time/now", {}),
    ]
    assert isinstance(events[-1], StopEvent) and events[-1].stop_reason == "tool_use"
    assert any(isinstance(e, UsageEvent) and e.usage.output_tokens >= 1 for e in events)


async def test_openai_text_through_fakellm(fakellm: str) -> None:
    provider = OpenAIProvider(base_url=f"{fakellm}/v1", max_retries=0)
    try:
        events = [
            e
            async for e in provider.stream(
                LLMRequest(model="gpt-4.1", messages=[{"role": "user", "content": "hello"}])
            )
        ]
    finally:
        await provider.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hi there from fakellm"
    assert isinstance(events[-1], StopEvent) and events[-1].stop_reason == "stop"
    async with httpx.AsyncClient() as client:
        stats = (await client.get(f"{fakellm}/_fakellm/stats", timeout=5)).json()
    assert stats["by_rule"]["greeting"] >= 1
