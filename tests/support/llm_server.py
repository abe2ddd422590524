"""A local server speaking the Anthropic Messages and OpenAI Chat Completions wire formats.

It stands in for the paid APIs in tests (the official SDKs talk to it over HTTP; nothing is
monkeypatched) where ``fakellm`` cannot serve: it counts and logs every request, answers a
streaming request with 429/500/529 and ``retry-after``, sends malformed streams, reports cache
usage, and holds a stream at a gate until the test opens it. Run it in its own process::

    python -m tests.support.llm_server PORT

Control endpoints (JSON): ``POST /_rules`` adds ``{"match": substring of the last user message
or null, "model": name or null, "responses": [...]}`` (responses are served in order; the last
repeats); ``POST /_gates/{name}`` opens a gate; ``GET /_log`` lists requests; ``POST /_reset``.
A response: ``{"text", "tool_uses": [{"name", "input"}], "usage": {"input_tokens",
"output_tokens", "cache_read", "cache_write"}, "status", "retry_after", "malformed": bool,
"hold": gate (before anything is sent), "gate": gate (after the first delta)}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

RULES: list[dict[str, Any]] = []
LOG: list[dict[str, Any]] = []
GATES: dict[str, asyncio.Event] = {}
DEFAULT = {"text": "Hello from the test server.", "usage": {"input_tokens": 12, "output_tokens": 6}}


def _gate(name: str) -> asyncio.Event:
    return GATES.setdefault(name, asyncio.Event())


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(
                str(b.get("text") or b.get("content") or "") for b in content if isinstance(b, dict)
            )
    return ""


def _respond(body: dict[str, Any]) -> dict[str, Any]:
    text = _last_user_text(body)
    for rule in RULES:
        if rule.get("match") and rule["match"] not in text:
            continue
        if rule.get("model") and rule["model"] != body.get("model"):
            continue
        responses = rule["responses"]
        return responses.pop(0) if len(responses) > 1 else responses[0]
    return DEFAULT


async def _handle(request: Request, api: str) -> Response:
    body = await request.json()
    reply = _respond(body)
    LOG.append({
        "api": api, "model": body.get("model"), "stream": bool(body.get("stream")),
        "user": _last_user_text(body), "at": time.time(), "status": reply.get("status", 200),
        "tools": [t.get("name") or t.get("function", {}).get("name")
                  for t in body.get("tools") or []],
        "stream_options": body.get("stream_options"),
        "system": body.get("system"),
    })  # fmt: skip
    if reply.get("hold"):
        await _gate(reply["hold"]).wait()
    status = int(reply.get("status", 200))
    if status >= 400:
        headers = {"retry-after": str(reply["retry_after"])} if "retry_after" in reply else {}
        kind = (
            "overloaded_error"
            if status == 529
            else "rate_limit_error"
            if status == 429
            else "api_error"
        )
        payload = (
            {"type": "error", "error": {"type": kind, "message": "scripted"}}
            if api == "anthropic"
            else {"error": {"message": "scripted", "type": kind}}
        )
        return JSONResponse(payload, status_code=status, headers=headers)
    stream = _anthropic(body, reply) if api == "anthropic" else _openai(body, reply)
    return StreamingResponse(stream, media_type="text/event-stream")


def _pieces(text: str) -> list[str]:
    words = text.split(" ") if text else []
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


async def _anthropic(body: dict[str, Any], reply: dict[str, Any]) -> AsyncIterator[str]:
    def event(kind: str, data: dict[str, Any]) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    usage = {**DEFAULT["usage"], **reply.get("usage", {})}
    yield event("message_start", {"message": {
        "id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant",
        "content": [], "model": body.get("model"), "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1,
                  "cache_read_input_tokens": usage.get("cache_read", 0),
                  "cache_creation_input_tokens": usage.get("cache_write", 0)}}})  # fmt: skip
    index = 0
    text = reply.get("text", "")
    if text:
        yield event(
            "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
        )
        for n, piece in enumerate(_pieces(text)):
            yield event(
                "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}
            )
            if n == 0 and reply.get("malformed"):
                yield 'event: content_block_delta\ndata: {"type": "content_block_delta", "index\n\n'
                return
            if n == 0 and reply.get("gate"):
                await _gate(reply["gate"]).wait()
        yield event("content_block_stop", {"index": 0})
        index = 1
    for tool in reply.get("tool_uses", []):
        yield event("content_block_start", {"index": index, "content_block": {
            "type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:12]}", "name": tool["name"],
            "input": {}}})  # fmt: skip
        raw = json.dumps(tool.get("input", {}))
        half = len(raw) // 2
        for part in (raw[:half], raw[half:]):
            yield event("content_block_delta", {"index": index, "delta": {
                "type": "input_json_delta", "partial_json": part}})  # fmt: skip
        yield event("content_block_stop", {"index": index})
        index += 1
    stop = "tool_use" if reply.get("tool_uses") else "end_turn"
    yield event(
        "message_delta",
        {
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield event("message_stop", {})


async def _openai(body: dict[str, Any], reply: dict[str, Any]) -> AsyncIterator[str]:
    ident, created, model = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time()), body.get("model")

    def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> str:
        data = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": usage,
        }
        return f"data: {json.dumps(data)}\n\n"

    usage = {**DEFAULT["usage"], **reply.get("usage", {})}
    yield chunk(
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
    )
    for n, piece in enumerate(_pieces(reply.get("text", ""))):
        yield chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        if n == 0 and reply.get("malformed"):
            yield 'data: {"id": "broken\n\n'
            return
        if n == 0 and reply.get("gate"):
            await _gate(reply["gate"]).wait()
    for i, tool in enumerate(reply.get("tool_uses", [])):
        yield chunk([{"index": 0, "delta": {"tool_calls": [{
            "index": i, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
            "function": {"name": tool["name"], "arguments": json.dumps(tool.get("input", {}))}}]},
            "finish_reason": None}])  # fmt: skip
    finish = "tool_calls" if reply.get("tool_uses") else "stop"
    yield chunk([{"index": 0, "delta": {}, "finish_reason": finish}])
    if (body.get("stream_options") or {}).get("include_usage"):
        cached = usage.get("cache_read", 0)
        yield chunk(
            [],
            {
                "prompt_tokens": usage["input_tokens"] + cached,
                "completion_tokens": usage["output_tokens"],
                "total_tokens": usage["input_tokens"] + cached + usage["output_tokens"],
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        )
    yield "data: [DONE]\n\n"


async def messages(request: Request) -> Response:
    return await _handle(request, "anthropic")


async def completions(request: Request) -> Response:
    return await _handle(request, "openai")


async def add_rule(request: Request) -> Response:
    RULES.append(await request.json())
    return JSONResponse({"rules": len(RULES)})


async def open_gate(request: Request) -> Response:
    _gate(request.path_params["name"]).set()
    return JSONResponse({"opened": request.path_params["name"]})


async def log(request: Request) -> Response:
    return JSONResponse(LOG)


async def reset(request: Request) -> Response:
    RULES.clear()
    LOG.clear()
    GATES.clear()
    return JSONResponse({"reset": True})


app = Starlette(routes=[
    Route("/v1/messages", messages, methods=["POST"]),
    Route("/v1/chat/completions", completions, methods=["POST"]),
    Route("/_rules", add_rule, methods=["POST"]),
    Route("/_gates/{name}", open_gate, methods=["POST"]),
    Route("/_log", log),
    Route("/_reset", reset, methods=["POST"]),
])  # fmt: skip


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
