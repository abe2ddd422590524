"""The providers against a local server that speaks the vendors' wire formats.

The real ``anthropic`` and ``openai`` SDKs send real HTTP requests; what stands in for the paid
APIs is tests/support/llm_server.py (a Starlette process emitting genuine SSE in the Anthropic
Messages and OpenAI Chat Completions formats). Nothing is monkeypatched.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from orchestrator.llm.anthropic import AnthropicProvider
from orchestrator.llm.base import (
    LLMRequest,
    Provider,
    StopEvent,
    TextDelta,
    ToolInputDelta,
    ToolSpec,
    ToolUseEvent,
    Usage,
    UsageEvent,
)
from orchestrator.llm.errors import LLMError
from orchestrator.llm.openai import OpenAIProvider
from tests.support.llm import LLMServer

TOOLS = (
    ToolSpec("git/git_log", "Commits of a repository",
             {"type": "object", "properties": {"max_count": {"type": "integer"}}}),
    ToolSpec("time/now", "The time", {"type": "object", "properties": {}}),
)  # fmt: skip


def providers(server: LLMServer, max_retries: int = 2) -> list[Provider]:
    return [
        AnthropicProvider(api_key="test-key", base_url=server.anthropic_url,
                          max_retries=max_retries, timeout_seconds=10),
        OpenAIProvider(api_key="test-key", base_url=server.openai_url, max_retries=max_retries,
                       timeout_seconds=10),
    ]  # fmt: skip


async def collect(provider: Provider, request: LLMRequest) -> list[Any]:
    try:
        return [event async for event in provider.stream(request)]
    finally:
        await provider.aclose()


@pytest.mark.parametrize("index", [0, 1], ids=["anthropic", "openai"])
async def test_a_streamed_answer_arrives_as_text_deltas_then_usage_then_the_stop(
    llm_server: LLMServer,
    index: int,
) -> None:
    llm_server.rule(
        [
            {
                "text": "one two three",
                "usage": {"input_tokens": 100, "output_tokens": 3, "cache_read": 40},
            }
        ]
    )
    provider = providers(llm_server)[index]
    events = await collect(
        provider,
        LLMRequest(
            model="m-1", messages=[{"role": "user", "content": "count"}], system="Be brief."
        ),
    )
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["one", " two", " three"]
    usage = next(e.usage for e in events if isinstance(e, UsageEvent))
    assert usage == Usage(input_tokens=100, output_tokens=3, cache_read_tokens=40)
    assert isinstance(events[-1], StopEvent)
    assert events[-1].stop_reason in ("end_turn", "stop")
    entry = llm_server.log()[0]
    assert entry["stream"] is True and entry["model"] == "m-1"
    if index == 1:
        assert entry["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("index", [0, 1], ids=["anthropic", "openai"])
async def test_parallel_tool_uses_come_back_with_the_names_the_step_offered(
    llm_server: LLMServer,
    index: int,
) -> None:
    llm_server.rule(
        [
            {
                "text": "",
                "tool_uses": [
                    {"name": "git__git_log", "input": {"max_count": 5}},
                    {"name": "time__now", "input": {}},
                ],
            }
        ]
    )
    events = await collect(
        providers(llm_server)[index],
        LLMRequest(
            model="m-1", messages=[{"role": "user", "content": "what changed?"}], tools=TOOLS
        ),
    )
    uses = [e.tool_use for e in events if isinstance(e, ToolUseEvent)]
    assert [(u.name, u.input) for u in uses] == [
        ("git/git_log", {"max_count": 5}),
        ("time/now", {}),
    ]
    assert all(u.id for u in uses)
    assert llm_server.log()[0]["tools"] == ["git__git_log", "time__now"]
    # the arguments also arrive as they are written: JSON pieces under the offered names
    pieces: dict[str, str] = {}
    for e in events:
        if isinstance(e, ToolInputDelta):
            pieces[e.name] = pieces.get(e.name, "") + e.partial_json
    assert json.loads(pieces["git/git_log"]) == {"max_count": 5}


@pytest.mark.parametrize("index", [0, 1], ids=["anthropic", "openai"])
@pytest.mark.parametrize(("status", "code"), [(429, "llm_rate_limited"), (500, "llm_unavailable")])
async def test_429_and_500_are_retried_honouring_retry_after_then_fail_with_a_clear_code(
    llm_server: LLMServer,
    index: int,
    status: int,
    code: str,
) -> None:
    llm_server.rule([{"status": status, "retry_after": "0.3"}])
    with pytest.raises(LLMError) as caught:
        await collect(
            providers(llm_server, max_retries=2)[index],
            LLMRequest(model="m-1", messages=[{"role": "user", "content": "hi"}]),
        )
    assert caught.value.code == code
    assert caught.value.details["status"] == status
    log = llm_server.log()
    assert len(log) == 3  # the first request and the SDK's two retries
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(log)]
    assert all(gap >= 0.27 for gap in gaps), gaps  # the server's retry-after was waited


async def test_anthropic_529_overloaded_is_unavailable_after_the_retries(
    llm_server: LLMServer,
) -> None:
    llm_server.rule([{"status": 529, "retry_after": "0.05"}])
    with pytest.raises(LLMError) as caught:
        await collect(
            providers(llm_server, max_retries=1)[0],
            LLMRequest(model="m-1", messages=[{"role": "user", "content": "hi"}]),
        )
    assert caught.value.code == "llm_unavailable"
    assert len(llm_server.log()) == 2


async def test_a_429_then_an_answer_succeeds_within_the_retries(llm_server: LLMServer) -> None:
    llm_server.rule([{"status": 429, "retry_after": "0.05"}, {"text": "finally"}])
    events = await collect(
        providers(llm_server)[0],
        LLMRequest(model="m-1", messages=[{"role": "user", "content": "hi"}]),
    )
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "finally"
    assert len(llm_server.log()) == 2


@pytest.mark.parametrize("index", [0, 1], ids=["anthropic", "openai"])
async def test_a_malformed_stream_is_a_protocol_error(llm_server: LLMServer, index: int) -> None:
    llm_server.rule([{"text": "half a sentence", "malformed": True}])
    with pytest.raises(LLMError) as caught:
        await collect(
            providers(llm_server)[index],
            LLMRequest(model="m-1", messages=[{"role": "user", "content": "hi"}]),
        )
    assert caught.value.code == "llm_protocol_error"
    assert len(llm_server.log()) == 1  # a broken stream is not retried by the SDK


async def test_a_refused_request_is_not_retried(llm_server: LLMServer) -> None:
    llm_server.rule([{"status": 400}])
    with pytest.raises(LLMError) as caught:
        await collect(
            providers(llm_server)[1],
            LLMRequest(model="m-1", messages=[{"role": "user", "content": "hi"}]),
        )
    assert caught.value.code == "llm_request_invalid"
    assert caught.value.retryable is False
    assert len(llm_server.log()) == 1


@pytest.mark.parametrize("index", [0, 1], ids=["anthropic", "openai"])
async def test_a_server_that_does_not_answer_in_time_is_unavailable(
    llm_server: LLMServer, index: int
) -> None:
    llm_server.rule([{"text": "late", "hold": "never"}])
    provider = [
        AnthropicProvider(api_key="k", base_url=llm_server.anthropic_url, max_retries=0,
                          timeout_seconds=0.5),
        OpenAIProvider(api_key="k", base_url=llm_server.openai_url, max_retries=0,
                       timeout_seconds=0.5),
    ][index]  # fmt: skip
    try:
        with pytest.raises(LLMError) as caught:
            await collect(
                provider, LLMRequest(model="m-1", messages=[{"role": "user", "content": "hi"}])
            )
    finally:
        llm_server.open_gate("never")
    assert caught.value.code == "llm_unavailable" and caught.value.details["status"] is None
