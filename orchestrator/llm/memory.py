"""A scripted in-memory provider for unit tests and local development (STYLE rule 2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

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

TOOL_INPUT_PIECE = 16
"""A scripted tool use's arguments are streamed in pieces of this many characters."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer.

    Attributes:
        text: Streamed word by word (each word with its leading space is one delta).
        tool_uses: Tool uses after the text (each one's arguments streamed as JSON pieces).
        usage: Reported usage; default: 10 input tokens and one output token per word.
        stop_reason: Default ``tool_use`` when there are tool uses, else ``end_turn``.
        error: Raised instead of answering (e.g. an ``LLMRateLimitedError``).
    """

    text: str = ""
    tool_uses: tuple[ToolUse, ...] = ()
    usage: Usage | None = None
    stop_reason: str | None = None
    error: Exception | None = None


@dataclass(slots=True)
class MemoryProvider:
    """Answers calls from a script, in order; once the script is spent it echoes the last user
    message. Every request is kept in :attr:`requests`.

    Args:
        replies: The script.
        name: The provider's name in model references (default ``memory``).
    """

    replies: list[Reply] = field(default_factory=list)
    name: str = "memory"
    requests: list[LLMRequest] = field(default_factory=list)

    def script(self, replies: Iterable[Reply]) -> None:
        """Append answers to the script."""
        self.replies.extend(replies)

    async def aclose(self) -> None:
        """Nothing to close."""

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        """Answer with the script's next reply (see :class:`Reply`)."""
        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else Reply(text=_echo(request))
        if reply.error is not None:
            raise reply.error
        words = reply.text.split(" ") if reply.text else []
        for i, word in enumerate(words):
            await asyncio.sleep(0)
            yield TextDelta(word if i == 0 else " " + word)
        for tool_use in reply.tool_uses:
            text = json.dumps(tool_use.input)
            for at in range(0, len(text), TOOL_INPUT_PIECE):  # as providers stream arguments
                await asyncio.sleep(0)
                yield ToolInputDelta(tool_use.name, text[at : at + TOOL_INPUT_PIECE])
            yield ToolUseEvent(tool_use)
        yield UsageEvent(reply.usage or Usage(input_tokens=10, output_tokens=len(words)))
        yield StopEvent(
            reply.stop_reason or ("tool_use" if reply.tool_uses else "end_turn"), request.model
        )


def _echo(request: LLMRequest) -> str:
    for message in reversed(request.messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return f"echo: {message['content']}"
    return "echo"


__all__ = ["MemoryProvider", "Reply"]
