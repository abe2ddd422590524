"""The OpenAI provider: the official ``openai`` SDK, Chat Completions streaming.

Works with any OpenAI-compatible server through ``base_url`` (vLLM, Ollama, a LiteLLM proxy).
Usage comes from the last chunk, which the server sends when asked with
``stream_options={"include_usage": true}``; ``prompt_tokens_details.cached_tokens`` are the
cache reads (OpenAI has no cache-write count). Source: the Chat Completions streaming reference,
https://platform.openai.com/docs/api-reference/chat-streaming. Retries on 408/409/429/5xx are
the SDK's own, honouring ``retry-after`` (and ``retry-after-ms``).
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

NO_KEY = "unused"
"""Sent as the key to an OpenAI-compatible server configured without one (the SDK needs one)."""


class OpenAIProvider:
    """Calls ``/chat/completions`` with ``stream=true`` through ``openai.AsyncOpenAI``.

    Args:
        api_key: The API key; ``None``: ``OPENAI_API_KEY``, else (with a ``base_url``)
            :data:`NO_KEY` for servers that need none.
        base_url: Any OpenAI-compatible endpoint (``.../v1``); ``None``: the SDK's
            (``OPENAI_BASE_URL`` or api.openai.com).
        timeout_seconds: Timeout of one HTTP request.
        max_retries: The SDK's retries of 408/409/429/5xx with backoff honouring ``retry-after``.
        name: The provider's name in model references (a second compatible server may be
            registered under another name).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_seconds: float = 600.0,
        max_retries: int = 2,
        name: str = "openai",
    ) -> None:
        import os

        import openai

        self.name = name
        self._sdk = openai
        key = api_key or os.environ.get("OPENAI_API_KEY") or (NO_KEY if base_url else None)
        self._client = openai.AsyncOpenAI(
            api_key=key, base_url=base_url, timeout=timeout_seconds, max_retries=max_retries
        )

    async def aclose(self) -> None:
        """Close the SDK client's connection pool."""
        await self._client.close()

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": to_openai_messages(request.messages, request.system),
            "max_tokens": request.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.tools:
            params["tools"] = [
                {"type": "function", "function": {
                    "name": wire_name(t.name), "description": t.description,
                    "parameters": t.input_schema}}
                for t in request.tools
            ]  # fmt: skip
        choice = request.tool_choice
        if choice:
            kind = choice.get("type")
            params["tool_choice"] = (
                {"type": "function", "function": {"name": wire_name(str(choice["name"]))}}
                if kind == "tool" else "required" if kind == "any" else "auto"
            )  # fmt: skip
        return params

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        """One streaming call (see :meth:`orchestrator.llm.base.Provider.stream`)."""
        sdk = self._sdk
        names = name_map(request.tools)
        try:
            chunks = await self._client.chat.completions.create(**self._params(request))
        except sdk.APIStatusError as exc:
            raise map_status(self.name, request.model, exc.status_code, str(exc)) from exc
        except (sdk.APITimeoutError, sdk.APIConnectionError) as exc:
            raise map_status(self.name, request.model, None, str(exc)) from exc
        calls: dict[int, dict[str, Any]] = {}
        usage: Usage | None = None
        model = request.model
        finish: str | None = None
        try:
            async for chunk in chunks:
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = _usage(chunk.usage)
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta is not None and delta.content:
                        yield TextDelta(delta.content)
                    for call in (delta.tool_calls if delta is not None else None) or []:
                        slot = calls.setdefault(call.index, {"id": "", "name": "", "json": ""})
                        if call.id:
                            slot["id"] = call.id
                        if call.function is not None:
                            slot["name"] += call.function.name or ""
                            slot["json"] += call.function.arguments or ""
                            if call.function.arguments and slot["name"]:
                                yield ToolInputDelta(names.get(slot["name"], slot["name"]),
                                                     call.function.arguments)  # fmt: skip
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except LLMError:
            raise
        except sdk.APIStatusError as exc:
            raise map_status(self.name, model, exc.status_code, str(exc)) from exc
        except (sdk.APITimeoutError, sdk.APIConnectionError) as exc:
            raise map_status(self.name, model, None, str(exc)) from exc
        except Exception as exc:
            raise protocol_error(self.name, model, f"{type(exc).__name__}: {exc}") from exc
        if finish is None:
            raise protocol_error(self.name, model, "the stream ended without a finish_reason")
        for index in sorted(calls):
            slot = calls[index]
            try:
                arguments = json.loads(slot["json"]) if slot["json"] else {}
            except json.JSONDecodeError as exc:
                raise protocol_error(
                    self.name, model, f"tool arguments are not JSON: {exc}"
                ) from exc
            yield ToolUseEvent(
                ToolUse(
                    slot["id"],
                    names.get(slot["name"], slot["name"]),
                    arguments if isinstance(arguments, dict) else {},
                )
            )
        yield UsageEvent(usage or Usage())
        yield StopEvent(finish, model)


def _usage(usage: Any) -> Usage:
    prompt = int(usage.prompt_tokens or 0)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=int(usage.completion_tokens or 0),
        cache_read_tokens=cached,
    )


def to_openai_messages(messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    """Anthropic-shaped messages as Chat Completions messages.

    ``text`` blocks are joined; an assistant's ``tool_use`` blocks become ``tool_calls``; a
    user's ``tool_result`` blocks become ``tool`` messages (before the rest of its text).
    """
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        role = message.get("role", "user")
        content = message.get("content")
        if not isinstance(content, list):
            out.append({"role": role, "content": content})
            continue
        texts = [
            str(b.get("text", ""))
            for b in content
            if isinstance(b, dict) and b.get("type") == "text"
        ]
        if role == "assistant":
            uses = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
            entry: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
            if uses:
                entry["tool_calls"] = [
                    {"id": u["id"], "type": "function", "function": {
                        "name": wire_name(u["name"]), "arguments": json.dumps(u.get("input") or {})}}
                    for u in uses
                ]  # fmt: skip
            out.append(entry)
            continue
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                result = block.get("content")
                if isinstance(result, list):
                    result = "".join(str(b.get("text", "")) for b in result if isinstance(b, dict))
                out.append(
                    {
                        "role": "tool",
                        "tool_call_id": block["tool_use_id"],
                        "content": str(result if result is not None else ""),
                    }
                )
        if texts:
            out.append({"role": role, "content": "".join(texts)})
    return out


__all__ = ["NO_KEY", "OpenAIProvider", "to_openai_messages"]
