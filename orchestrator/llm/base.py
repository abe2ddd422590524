"""The LLM seam (DESIGN §16): one streaming call to a model, as typed events.

A :class:`Provider` turns an :class:`LLMRequest` into an async iterator of :data:`LLMEvent`:
text deltas, complete tool uses, the call's usage and its stop. Providers speak their vendor's
wire format through the official SDK (:mod:`orchestrator.llm.anthropic`,
:mod:`orchestrator.llm.openai`); :mod:`orchestrator.llm.memory` is the scripted one for tests.
Messages use the Anthropic Messages shape (``{"role": "user"|"assistant", "content": str |
[blocks]}``); the OpenAI provider translates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from orchestrator.types import JSONValue


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one call (or a sum of calls).

    Attributes:
        input_tokens: Prompt tokens billed at the full input rate (excluding cache reads/writes).
        output_tokens: Generated tokens.
        cache_read_tokens: Prompt tokens read from the provider's prompt cache.
        cache_write_tokens: Prompt tokens written to the provider's prompt cache.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    @property
    def total_tokens(self) -> int:
        """All four counts added (what token budgets count)."""
        return (
            self.input_tokens + self.output_tokens + self.cache_read_tokens
            + self.cache_write_tokens
        )  # fmt: skip

    def to_json(self) -> dict[str, int]:
        """The usage as a JSON object with the attribute names."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Usage:
        """Parse :meth:`to_json`'s object (missing counts are 0)."""
        data = data or {}
        return cls(*(int(data.get(k) or 0) for k in (
            "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")))  # fmt: skip


@dataclass(frozen=True, slots=True)
class ToolUse:
    """A tool call the model asked for.

    Attributes:
        id: The provider's call id (``toolu_...``, ``call_...``); echo it in the tool result.
        name: The tool's name as offered.
        input: The arguments, a JSON object.
    """

    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model: its name, description and JSON Schema of its input.

    Attributes:
        name: The tool's name (an MCP tool ``server/tool`` is offered as given; providers that
            restrict names get it with ``/`` replaced, see the providers).
        description: What it does, for the model.
        input_schema: JSON Schema of the arguments object.
    """

    name: str
    description: str
    input_schema: dict[str, Any]

    @classmethod
    def of(cls, tool: Any) -> ToolSpec:
        """Accept a ``ToolSpec``, a mapping or any object with ``name``, ``description`` and
        ``input_schema`` (``inputSchema`` and ``parameters`` are also read), e.g. an entry of
        ``ctx.tools.list()``.

        Raises:
            TypeError: No ``name`` can be found.
        """
        if isinstance(tool, ToolSpec):
            return tool

        def get(key: str) -> Any:
            return tool.get(key) if isinstance(tool, Mapping) else getattr(tool, key, None)

        name = get("name")
        if not isinstance(name, str) or not name:
            raise TypeError(f"a tool needs a name, got {tool!r}")
        schema = get("input_schema") or get("inputSchema") or get("parameters") or {
            "type": "object", "properties": {},
        }  # fmt: skip
        return cls(name, str(get("description") or ""), dict(schema))


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One call: what a provider needs, and what the call's fingerprint covers (DESIGN §13).

    Attributes:
        model: The provider's model name (no ``provider:`` prefix), e.g. ``claude-sonnet-4-5``.
        messages: Anthropic-shaped messages.
        system: The system prompt.
        tools: Tools offered.
        max_tokens: Upper bound on generated tokens.
        temperature: Sampling temperature, provider default when ``None``.
        tool_choice: ``{"type": "auto"|"any"|"tool", "name"?}`` (Anthropic's shape), or ``None``.
    """

    model: str
    messages: list[dict[str, Any]]
    system: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 1024
    temperature: float | None = None
    tool_choice: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The request as JSON (for fingerprints and logs)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of generated text, in order."""

    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ToolUseEvent:
    """A complete tool use (its arguments fully streamed)."""

    tool_use: ToolUse
    type: Literal["tool_use"] = "tool_use"


@dataclass(frozen=True, slots=True)
class ToolInputDelta:
    """A piece of a tool use's arguments as the model writes them: raw JSON text, in order
    (joined, the pieces of one tool use are its arguments' JSON). A :class:`ToolUseEvent`
    with the parsed arguments follows the last piece."""

    name: str
    partial_json: str
    type: Literal["tool_input"] = "tool_input"


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """The call's usage as the provider reported it; a later one replaces an earlier one."""

    usage: Usage
    type: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True)
class StopEvent:
    """The end of the call: the provider's stop reason and the model that answered."""

    stop_reason: str
    model: str
    type: Literal["stop"] = "stop"


LLMEvent = TextDelta | ToolInputDelta | ToolUseEvent | UsageEvent | StopEvent
"""What :meth:`Provider.stream` yields."""


@dataclass(slots=True)
class LLMResult:
    """The outcome of one ``ctx.llm`` call.

    Attributes:
        text: All text deltas joined.
        tool_uses: Tool calls the model asked for, in order (several for parallel tool use).
        usage: Tokens.
        cost_usd: Price from ``genai-prices``; ``None`` when the model is unknown to it.
        model: The model reference that answered, ``provider:model``.
        provider: The provider's name (``anthropic``, ``openai``, ...).
        stop_reason: ``end_turn``, ``tool_use``, ``max_tokens``, ``stop``, ...
        replayed: Answered from the durable-call record of an earlier attempt (no request sent).
        fallback_from: The model reference asked for when the budget policy swapped it.
        latency_ms: Wall time of the real call, milliseconds.
        time_to_first_token_ms: Until the first text delta or tool use, milliseconds.
    """

    text: str
    tool_uses: list[ToolUse] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    model: str = ""
    provider: str = ""
    stop_reason: str = ""
    replayed: bool = False
    fallback_from: str | None = None
    latency_ms: float | None = None
    time_to_first_token_ms: float | None = None

    def to_json(self) -> dict[str, JSONValue]:
        """The result as JSON (what the durable call records)."""
        data = asdict(self)
        data.pop("replayed")
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, replayed: bool = False) -> LLMResult:
        """Parse :meth:`to_json`'s object."""
        return cls(
            text=str(data.get("text") or ""),
            tool_uses=[ToolUse(str(t["id"]), str(t["name"]), dict(t.get("input") or {}))
                       for t in data.get("tool_uses") or []],
            usage=Usage.from_json(data.get("usage")),
            cost_usd=None if data.get("cost_usd") is None else float(data["cost_usd"]),
            model=str(data.get("model") or ""),
            provider=str(data.get("provider") or ""),
            stop_reason=str(data.get("stop_reason") or ""),
            replayed=replayed,
            fallback_from=data.get("fallback_from"),
            latency_ms=data.get("latency_ms"),
            time_to_first_token_ms=data.get("time_to_first_token_ms"),
        )  # fmt: skip


class Provider(Protocol):
    """One LLM vendor's API (STYLE rule 18: spoken through its official SDK).

    Attributes:
        name: The provider's name in model references (``anthropic`` in
            ``anthropic:claude-sonnet-4-5``) and in ``gen_ai.provider.name``.
    """

    name: str

    def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        """Make one streaming call.

        Yields text deltas and tool uses as they complete, then one :class:`UsageEvent` (or
        more; the last wins) and exactly one :class:`StopEvent`, last.

        Raises:
            LLMRateLimitedError: 429 after the configured retries (``retry-after`` honoured).
            LLMUnavailableError: 5xx/529 after the retries, a timeout, no connection.
            LLMRequestError: Another 4xx.
            LLMProtocolError: The stream was malformed or ended without its stop.
        """
        ...

    async def aclose(self) -> None:
        """Close the SDK client's connections."""
        ...


def tool_specs(tools: Iterable[Any] | None) -> tuple[ToolSpec, ...]:
    """Normalise a ``tools=`` argument (see :meth:`ToolSpec.of`)."""
    return tuple(ToolSpec.of(t) for t in tools or ())


__all__ = [
    "LLMEvent",
    "LLMRequest",
    "LLMResult",
    "Provider",
    "StopEvent",
    "TextDelta",
    "ToolSpec",
    "ToolUse",
    "ToolUseEvent",
    "Usage",
    "UsageEvent",
    "tool_specs",
]
