"""What both SDK providers share: tool names on the wire and SDK errors mapped to ours."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.llm.base import ToolSpec
from orchestrator.llm.errors import (
    LLMError,
    LLMProtocolError,
    LLMRateLimitedError,
    LLMRequestError,
    LLMUnavailableError,
)

_WIRE_NAME = re.compile(r"[^a-zA-Z0-9_-]")


def wire_name(name: str) -> str:
    """A tool name both vendors accept (``^[a-zA-Z0-9_-]{1,64}$``): an MCP ``server/tool``
    becomes ``server__tool``; other characters become ``_``."""
    return _WIRE_NAME.sub("_", name.replace("/", "__"))[:64]


def name_map(tools: tuple[ToolSpec, ...]) -> dict[str, str]:
    """Wire name → the name the step offered, to give tool uses back their own names."""
    return {wire_name(t.name): t.name for t in tools}


def map_status(provider: str, model: str, status: int | None, message: str) -> LLMError:
    """Our error for a provider's HTTP status (after the SDK's own retries).

    Args:
        provider: ``anthropic``, ``openai``.
        model: The model asked for.
        status: The HTTP status, ``None`` for a timeout or no connection.
        message: The SDK's message (kept in details, never parsed).

    Returns:
        ``llm_rate_limited`` for 429; ``llm_unavailable`` for 5xx (Anthropic's 529 included),
        408, timeouts and connection errors; ``llm_request_invalid`` for other 4xx.
    """
    details: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "status": status,
        "error": message[:500],
    }
    if status == 429:
        return LLMRateLimitedError(f"{provider} rate-limited the call (429)", details=details)
    if status is None or status >= 500 or status == 408:
        return LLMUnavailableError(
            f"{provider} is unavailable ({status or 'no answer'})", details=details
        )
    return LLMRequestError(f"{provider} refused the request ({status})", details=details)


def protocol_error(provider: str, model: str, reason: str) -> LLMProtocolError:
    """A malformed stream from ``provider``."""
    return LLMProtocolError(
        f"{provider} sent a malformed stream: {reason}",
        details={"provider": provider, "model": model, "reason": reason[:500]},
    )


__all__ = ["map_status", "name_map", "protocol_error", "wire_name"]
