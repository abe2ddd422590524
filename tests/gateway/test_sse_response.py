"""The SSE response ends its body with its last frame (``gateway/streaming/sse.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gateway.streaming.sse import EventStreamResponse


async def _call(frames: AsyncIterator[tuple[bytes, bool]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:  # the client never goes away
        return {"type": "http.request", "body": b"", "more_body": True}

    scope = {"type": "http", "asgi": {"spec_version": "2.4"}}
    await EventStreamResponse(frames, headers={})(scope, receive, send)  # type: ignore[arg-type]
    return sent


async def test_the_last_frame_ends_the_body_in_the_same_message_and_the_stream_closes() -> None:
    """The terminal event's frame goes with ``more_body=False``, so uvicorn writes it and the
    chunked body's end together (Starlette would send an empty last message: a write and a
    client read more); the frames' iterator still runs to its end (its clean-up: the stream
    slot, the hub subscription) before the response returns."""
    closed: list[bool] = []

    async def frames() -> AsyncIterator[tuple[bytes, bool]]:
        try:
            yield b"data: 1\n\n", False
            yield b"data: 2\n\n", True
        finally:
            closed.append(True)

    sent = await _call(frames())
    assert sent[0]["type"] == "http.response.start"
    bodies = [(m["body"], m["more_body"]) for m in sent[1:]]
    assert bodies == [(b"data: 1\n\n", True), (b"data: 2\n\n", False)]
    assert closed == [True]


async def test_a_stream_that_ends_without_a_last_frame_ends_with_an_empty_message() -> None:
    """A job whose state expired ends its stream with no terminal event: the body still ends."""

    async def frames() -> AsyncIterator[tuple[bytes, bool]]:
        yield b": keep-alive\n", False

    sent = await _call(frames())
    assert [(m["body"], m["more_body"]) for m in sent[1:]] == [
        (b": keep-alive\n", True), (b"", False)]
