"""The LLM layer (DESIGN §16): providers behind one Protocol, ``ctx.llm``, usage, cost, budgets.

- :mod:`~orchestrator.llm.base`: the :class:`Provider` Protocol and the typed shapes.
- :mod:`~orchestrator.llm.anthropic`, :mod:`~orchestrator.llm.openai`: the official SDKs.
- :mod:`~orchestrator.llm.memory`: a scripted provider for unit tests.
- :mod:`~orchestrator.llm.registry`: model references ``provider:model`` → provider.
- :mod:`~orchestrator.llm.step`: ``ctx.llm`` (durable through ``ctx.calls``, metered).
- :mod:`~orchestrator.llm.pricing`: cost from ``genai-prices``.
- :mod:`~orchestrator.llm.budgets`: spend per tenant/user and window in Redis.

The SDKs are imported only when their provider is first used.
"""

from orchestrator.llm.base import (
    LLMEvent,
    LLMRequest,
    LLMResult,
    Provider,
    StopEvent,
    TextDelta,
    ToolSpec,
    ToolUse,
    ToolUseEvent,
    Usage,
    UsageEvent,
)
from orchestrator.llm.errors import (
    BudgetExceededError,
    LLMConfigError,
    LLMError,
    LLMProtocolError,
    LLMRateLimitedError,
    LLMRequestError,
    LLMUnavailableError,
)
from orchestrator.llm.registry import ModelRef, ProviderRegistry
from orchestrator.llm.step import CallSite, LLMStream, StepLLM

__all__ = [
    "BudgetExceededError",
    "CallSite",
    "LLMConfigError",
    "LLMError",
    "LLMEvent",
    "LLMProtocolError",
    "LLMRateLimitedError",
    "LLMRequest",
    "LLMRequestError",
    "LLMResult",
    "LLMStream",
    "LLMUnavailableError",
    "ModelRef",
    "Provider",
    "ProviderRegistry",
    "StepLLM",
    "StopEvent",
    "TextDelta",
    "ToolSpec",
    "ToolUse",
    "ToolUseEvent",
    "Usage",
    "UsageEvent",
]
