"""The Anthropic provider: the official ``anthropic`` SDK, streaming Messages API.

Source: Anthropic Messages API streaming events (``message_start``, ``content_block_start``,
``content_block_delta`` with ``text_delta``/``input_json_delta``, ``content_block_stop``,
``message_delta``, ``message_stop``), https://docs.anthropic.com/en/api/messages-streaming.
Parallel tool use needs nothing special: several ``tool_use`` blocks arrive in one answer.
Retries on 408/409/429/5xx (529 included) are the SDK's own, which honour ``retry-after``
(and ``retry-after-ms``); :func:`~orchestrator.llm.wire.map_status` maps what remains.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from orchestrator.llm.base import (
    LLMEvent,
    LLMRequest,
    StopEvent,
    TextDelta,
    ToolInputDelta,
    ToolUse,
    ToolUseEvent,
    Usage,
    UsageEvent,
)
from orchestrator.llm.errors import LLMError
from orchestrator.llm.wire import map_status, name_map, protocol_error, wire_name


class AnthropicProvider:
    """Calls ``/v1/messages`` with ``stream=true`` through ``anthropic.AsyncAnthropic``.

    Args:
        api_key: The API key; ``None`` lets the SDK read ``ANTHROPIC_API_KEY``.
        base_url: Another endpoint (a proxy, a test server); ``None``: the SDK's
            (``ANTHROPIC_BASE_URL`` or api.anthropic.com).
        timeout_seconds: Timeout of one HTTP request (connect, read between events).
        max_retries: The SDK's retries of 408/409/429/5xx with backoff honouring ``retry-after``.
    """

    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_seconds: float = 600.0,
        max_retries: int = 2,
    ) -> None:
        import anthropic

        self._sdk = anthropic
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout_seconds, max_retries=max_retries
        )

    async def aclose(self) -> None:
        """Close the SDK client's connection pool."""
        await self._client.close()

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": _wire_messages(request.messages),
            "max_tokens": request.max_tokens,
            "stream": True,
        }
        if request.system:
            params["system"] = request.system
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.tools:
            params["tools"] = [
                {"name": wire_name(t.name), "description": t.description,
                 "input_schema": t.input_schema}
                for t in request.tools
            ]  # fmt: skip
        if request.tool_choice:
            choice = dict(request.tool_choice)
            if "name" in choice:
                choice["name"] = wire_name(str(choice["name"]))
            params["tool_choice"] = choice
        return params

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        """One streaming call (see :meth:`orchestrator.llm.base.Provider.stream`)."""
        sdk = self._sdk
        names = name_map(request.tools)
        try:
            events = await self._client.messages.create(**self._params(request))
        except sdk.APIStatusError as exc:
            raise map_status(self.name, request.model, exc.status_code, str(exc)) from exc
        except (sdk.APITimeoutError, sdk.APIConnectionError) as exc:
            raise map_status(self.name, request.model, None, str(exc)) from exc
        blocks: dict[int, dict[str, Any]] = {}
        usage: dict[str, int] = {}
        model = request.model
        stop_reason: str | None = None
        stopped = False
        try:
            async for event in events:
                kind = event.type
                if kind == "message_start":
                    model = event.message.model or model
                    _merge_usage(usage, event.message.usage)
                elif kind == "content_block_start":
                    block = event.content_block
                    if block.type == "tool_use":
                        blocks[event.index] = {"id": block.id, "name": block.name, "json": "",
                                               "as": names.get(block.name, block.name)}  # fmt: skip
                elif kind == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta":
                        if delta.text:
                            yield TextDelta(delta.text)
                    elif delta.type == "input_json_delta":
                        if event.index not in blocks:
                            raise protocol_error(
                                self.name, model, "input_json_delta outside a tool_use block"
                            )
                        blocks[event.index]["json"] += delta.partial_json
                        if delta.partial_json:
                            yield ToolInputDelta(blocks[event.index]["as"], delta.partial_json)
                elif kind == "content_block_stop":
                    tool = blocks.pop(event.index, None)
                    if tool is not None:
                        yield ToolUseEvent(_tool_use(self.name, model, tool, names))
                elif kind == "message_delta":
                    stop_reason = event.delta.stop_reason or stop_reason
                    _merge_usage(usage, event.usage)
                elif kind == "message_stop":
                    stopped = True
        except LLMError:
            raise
        except sdk.APIStatusError as exc:  # an `error` event in the stream (e.g. overloaded)
            raise map_status(self.name, model, exc.status_code, str(exc)) from exc
        except (sdk.APITimeoutError, sdk.APIConnectionError) as exc:
            raise map_status(self.name, model, None, str(exc)) from exc
        except Exception as exc:  # the SDK could not parse what the server sent
            raise protocol_error(self.name, model, f"{type(exc).__name__}: {exc}") from exc
        if not stopped:
            raise protocol_error(self.name, model, "the stream ended before message_stop")
        yield UsageEvent(Usage(
            input_tokens=usage.get("input_tokens", 0),
            output_tokens=usage.get("output_tokens", 0),
            cache_read_tokens=usage.get("cache_read_input_tokens", 0),
            cache_write_tokens=usage.get("cache_creation_input_tokens", 0),
        ))  # fmt: skip
        yield StopEvent(stop_reason or "end_turn", model)


def _merge_usage(into: dict[str, int], usage: Any) -> None:
    """Keep the latest value of each count (``message_delta``'s are cumulative)."""
    if usage is None:
        return
    for key in (
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    ):
        value = getattr(usage, key, None)
        if value is not None:
            into[key] = int(value)


def _tool_use(provider: str, model: str, tool: dict[str, Any], names: dict[str, str]) -> ToolUse:
    try:
        arguments = json.loads(tool["json"]) if tool["json"] else {}
    except json.JSONDecodeError as exc:
        raise protocol_error(provider, model, f"tool_use input is not JSON: {exc}") from exc
    if not isinstance(arguments, dict):
        raise protocol_error(provider, model, "tool_use input is not a JSON object")
    return ToolUse(str(tool["id"]), names.get(tool["name"], tool["name"]), arguments)


def _wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with the tool names in ``tool_use`` blocks put on the wire."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = [
                {**b, "name": wire_name(b["name"])}
                if isinstance(b, dict) and b.get("type") == "tool_use" else b
                for b in content
            ]  # fmt: skip
            message = {**message, "content": content}
        out.append(message)
    return out


__all__ = ["AnthropicProvider"]
