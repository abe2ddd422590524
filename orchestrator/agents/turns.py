"""How an engine's turns become messages and events (DESIGN §17).

Messages are Anthropic-shaped: the assistant's answer (its text and tool uses) and ONE user
message whose ``tool_result`` answers the envelope's tool use (and every other tool use of the
answer with an error, as the API wants each answered). Also: an envelope's summary for its
``agent.envelope`` event, the citation a successful tool call makes, and cutting long values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestrator.agents.envelope import (
    Citation,
    Envelope,
    ErrorEnvelope,
    PlanEnvelope,
    ReplyEnvelope,
    ToolEnvelope,
    ToolsEnvelope,
)


def assistant_message(result: Any) -> dict[str, Any]:
    """The model's answer as the assistant message of the history (its text and tool uses)."""
    blocks: list[dict[str, Any]] = []
    if result.text:
        blocks.append({"type": "text", "text": result.text})
    for use in result.tool_uses:
        blocks.append({"type": "tool_use", "id": use.id, "name": use.name, "input": use.input})
    return {"role": "assistant", "content": blocks or result.text or "(no answer)"}


def tool_reply(
    result: Any, use_id: str, payload: Mapping[str, Any], *, error: bool = False
) -> dict[str, Any]:
    """ONE user message answering the envelope's tool use with every result (and, should the
    model have made other tool uses in the same answer, an error result for each: the API
    wants every tool use answered)."""
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": use_id,
                             "content": json.dumps(payload, default=str)}  # fmt: skip
    if error:
        block["is_error"] = True
    return {"role": "user", "content": [block, *ignored_uses(result, use_id)]}


def ignored_uses(result: Any, answered: str | None) -> list[dict[str, Any]]:
    """An error ``tool_result`` for each tool use of the answer other than ``answered``."""
    return [{"type": "tool_result", "tool_use_id": u.id, "is_error": True,
             "content": "ignored: call only the envelope tool, once per turn"}
            for u in result.tool_uses if u.id != answered]  # fmt: skip


def error_reply(result: Any, use_id: str | None, errors: list[dict[str, str]]) -> dict[str, Any]:
    """The user message telling the model its envelope was invalid (``errors``: field, message)."""
    payload = {"error": "envelope_invalid", "errors": errors,
               "hint": "call the envelope tool again with a valid envelope"}  # fmt: skip
    if use_id is None:
        others = ignored_uses(result, None)
        text = json.dumps(payload)
        if not others:
            return {"role": "user", "content": text}
        return {"role": "user", "content": [*others, {"type": "text", "text": text}]}
    return tool_reply(result, use_id, payload, error=True)


def summary(envelope: Envelope) -> dict[str, Any]:
    """What an ``agent.envelope`` event says of ``envelope`` (type, confidence, what it asks for)."""
    data: dict[str, Any] = {"type": envelope.type, "confidence": envelope.confidence,
                            "reasoning": envelope.reasoning}  # fmt: skip
    if isinstance(envelope, ToolEnvelope):
        data["tools"] = [envelope.name]
    elif isinstance(envelope, ToolsEnvelope):
        data["tools"] = [c.name for c in envelope.calls]
    elif isinstance(envelope, PlanEnvelope):
        data["steps"] = [{"tool": s.name, "description": s.description} for s in envelope.steps]
        data["flow"] = envelope.flow or ("proposed" if envelope.flow_definition else None)
    elif isinstance(envelope, ReplyEnvelope) and envelope.ask:
        data["ask"] = envelope.ask
    elif isinstance(envelope, ErrorEnvelope):
        data["message"] = envelope.message
    return data


def citation(tool: str, args: Mapping[str, Any], output: Any) -> Citation:
    """A source of the answer: a successful tool call (its URL when the result names one)."""
    text = output if isinstance(output, str) else json.dumps(output, default=str)
    url = first_url(output)
    title = f"{tool} {json.dumps(dict(args), sort_keys=True, default=str)}"[:500]
    return Citation(source=url or tool, title=title, snippet=text[:300] or None)


def first_url(value: Any) -> str | None:
    """The first ``url``/``uri``/``link`` string found in a tool's output, if any."""
    if isinstance(value, dict):
        for key in ("url", "uri", "link"):
            if isinstance(value.get(key), str):
                return str(value[key])[:2000]
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = first_url(item)
            if found:
                return found
    return None


def cut(value: Any, max_chars: int) -> Any:
    """``value`` as it is, or its JSON text cut to ``max_chars`` with a note of its length."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= max_chars:
        return value
    return text[:max_chars] + f"... [cut: {len(text)} characters in all]"


__all__ = [
    "assistant_message",
    "citation",
    "cut",
    "error_reply",
    "first_url",
    "ignored_uses",
    "summary",
    "tool_reply",
]
