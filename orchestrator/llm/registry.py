"""Model references (``anthropic:claude-sonnet-4-5``) → a provider and its model name."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.config import LLMSettings
from orchestrator.llm.base import Provider
from orchestrator.llm.errors import LLMConfigError

PROVIDERS = ("anthropic", "openai")
"""Providers built from settings; others (``memory``, a second compatible server) are
:meth:`ProviderRegistry.register`-ed."""


@dataclass(frozen=True, slots=True)
class ModelRef:
    """``provider:model``.

    Attributes:
        provider: The provider's name.
        model: The model's name at that provider (may itself contain ``:``).
    """

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


def _sdk_provider(module: str, name: str) -> Callable[..., Provider]:
    """A provider class, whose module imports its vendor's SDK.

    Raises:
        LLMConfigError: The SDK is not installed (it comes with the ``agents`` extra).
    """
    import importlib

    try:
        factory: Callable[..., Provider] = getattr(
            importlib.import_module(f"orchestrator.llm.{module}"), name
        )
        return factory
    except ImportError as exc:
        raise LLMConfigError(
            f"the {module} SDK is not installed: pip install 'agent-orchestrator[agents]'",
            details={"provider": module, "error": str(exc)},
        ) from exc


class ProviderRegistry:
    """The providers of one process, built lazily (an SDK client each) and shared by all steps.

    Args:
        default_model: The reference used when a call names no model.
        factories: Provider name → a function building it (called once, on first use).
    """

    def __init__(
        self, default_model: str, factories: dict[str, Callable[[], Provider]] | None = None
    ) -> None:
        self._factories: dict[str, Callable[[], Provider]] = dict(factories or {})
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()  # providers may be built in a worker thread
        self.default = self.parse(default_model)

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> ProviderRegistry:
        """The registry of ``ORCH_LLM__*``: ``anthropic`` and ``openai`` (each SDK's own
        ``*_API_KEY``/``*_BASE_URL`` variables fill in what the settings leave unset)."""

        def anthropic() -> Provider:
            key = settings.anthropic_api_key
            api_key = key.get_secret_value() if key else os.environ.get("ANTHROPIC_API_KEY")
            if not api_key:
                raise LLMConfigError(
                    "no Anthropic API key: set ORCH_LLM__ANTHROPIC_API_KEY or ANTHROPIC_API_KEY",
                    details={"setting": "ORCH_LLM__ANTHROPIC_API_KEY"},
                )
            factory = _sdk_provider("anthropic", "AnthropicProvider")
            return factory(
                api_key=api_key, base_url=settings.anthropic_base_url,
                timeout_seconds=settings.timeout_seconds, max_retries=settings.max_retries,
            )  # fmt: skip

        def openai() -> Provider:
            key = settings.openai_api_key
            base_url = settings.openai_base_url or os.environ.get("OPENAI_BASE_URL")
            api_key = key.get_secret_value() if key else os.environ.get("OPENAI_API_KEY")
            if not api_key and not base_url:
                raise LLMConfigError(
                    "no OpenAI API key: set ORCH_LLM__OPENAI_API_KEY or OPENAI_API_KEY (or "
                    "ORCH_LLM__OPENAI_BASE_URL for a compatible server without keys)",
                    details={"setting": "ORCH_LLM__OPENAI_API_KEY"},
                )
            factory = _sdk_provider("openai", "OpenAIProvider")
            return factory(
                api_key=api_key, base_url=base_url,
                timeout_seconds=settings.timeout_seconds, max_retries=settings.max_retries,
            )  # fmt: skip

        return cls(settings.default_model, {"anthropic": anthropic, "openai": openai})

    def parse(self, reference: str) -> ModelRef:
        """Split ``provider:model``; a bare model name belongs to the default's provider.

        Raises:
            LLMConfigError: Empty reference or model.
        """
        provider, sep, model = reference.partition(":")
        if not sep:
            default = getattr(self, "default", None)
            provider, model = (default.provider if default else ""), reference
        if not provider or not model:
            raise LLMConfigError(
                f"model reference {reference!r} must be provider:model, e.g. "
                "anthropic:claude-sonnet-4-5", details={"model": reference},
            )  # fmt: skip
        return ModelRef(provider, model)

    def register(self, provider: Provider) -> None:
        """Add (or replace) a ready provider under its ``name``."""
        self._providers[provider.name] = provider

    def resolve(self, reference: str | None) -> tuple[Provider, ModelRef]:
        """The provider and model of ``reference`` (the default when ``None``).

        Raises:
            LLMConfigError: Unknown provider, malformed reference, or a provider whose key is
                not configured.
        """
        ref = self.default if reference is None else self.parse(reference)
        provider = self._providers.get(ref.provider)
        if provider is not None:
            return provider, ref
        with self._lock:
            provider = self._providers.get(ref.provider)
            if provider is not None:
                return provider, ref
            factory = self._factories.get(ref.provider)
            if factory is None:
                known = sorted({*self._providers, *self._factories})
                raise LLMConfigError(
                    f"unknown LLM provider {ref.provider!r} in {str(ref)!r} (known: "
                    f"{', '.join(known)})", details={"model": str(ref), "known": known},
                )  # fmt: skip
            provider = self._providers[ref.provider] = factory()
        return provider, ref

    async def aresolve(self, reference: str | None) -> tuple[Provider, ModelRef]:
        """:meth:`resolve` without blocking the event loop: a provider's first use imports its
        SDK (seconds on a busy machine: a worker's lease heartbeat shares the loop), so it is
        built in a thread.

        Raises:
            LLMConfigError: As :meth:`resolve`.
        """
        ref = self.default if reference is None else self.parse(reference)
        provider = self._providers.get(ref.provider)
        if provider is not None:
            return provider, ref
        return await asyncio.to_thread(self.resolve, reference)

    async def aclose(self) -> None:
        """Close every provider built so far."""
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()


__all__ = ["PROVIDERS", "ModelRef", "ProviderRegistry"]
