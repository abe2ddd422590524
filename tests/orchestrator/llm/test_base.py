"""The LLM seam's shapes: tools given as objects or dicts, results as JSON and back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from orchestrator.llm import LLMResult, ToolSpec, ToolUse, Usage
from orchestrator.llm.base import tool_specs
from orchestrator.llm.wire import wire_name


@dataclass(frozen=True)
class ListedTool:
    """Shaped like an entry of ``await ctx.tools.list()`` (the MCP tool plane's ToolInfo)."""

    name: str
    server: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=dict)


def test_tools_are_accepted_as_listed_objects_dicts_or_mcp_shaped_dicts() -> None:
    schema = {"type": "object", "properties": {"max_count": {"type": "integer"}}}
    specs = tool_specs([
        ListedTool("git/git_log", "git", "Commits", schema),
        {"name": "time/now", "description": "The time", "inputSchema": {"type": "object"}},
        ToolSpec("echo", "", {}),
    ])  # fmt: skip
    assert specs == (ToolSpec("git/git_log", "Commits", schema),
                     ToolSpec("time/now", "The time", {"type": "object"}),
                     ToolSpec("echo", "", {}))  # fmt: skip
    with pytest.raises(TypeError):
        ToolSpec.of({"description": "no name"})


def test_mcp_tool_names_are_made_acceptable_to_the_vendors() -> None:
    assert wire_name("git/git_log") == "git__git_log"
    assert wire_name("weird name.v2") == "weird_name_v2"
    assert len(wire_name("x" * 100)) == 64


def test_a_result_survives_its_durable_record() -> None:
    result = LLMResult(text="hi", tool_uses=[ToolUse("t", "git/git_log", {"n": 1})],
                       usage=Usage(1, 2, 3, 4), cost_usd=0.5, model="anthropic:m",
                       provider="anthropic", stop_reason="tool_use", fallback_from="anthropic:big",
                       latency_ms=3.0, time_to_first_token_ms=1.0)  # fmt: skip
    again = LLMResult.from_json(result.to_json(), replayed=True)
    assert again.replayed and not result.replayed
    again.replayed = False
    assert again == result
    assert Usage(1, 2, 3, 4).total_tokens == 10
