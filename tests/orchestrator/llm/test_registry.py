"""Model references, the settings of the LLM layer and their fallbacks to the SDKs' variables."""

from __future__ import annotations

import pytest

from orchestrator.config import LLMSettings, Settings
from orchestrator.llm import LLMConfigError, ModelRef, ProviderRegistry
from orchestrator.llm.anthropic import AnthropicProvider
from orchestrator.llm.memory import MemoryProvider
from orchestrator.llm.openai import OpenAIProvider


def test_model_references_name_a_provider_and_a_model() -> None:
    registry = ProviderRegistry("anthropic:claude-sonnet-4-5")
    assert registry.parse("openai:gpt-4.1") == ModelRef("openai", "gpt-4.1")
    assert registry.parse("ollama:llama3:8b") == ModelRef("ollama", "llama3:8b")
    assert registry.parse("claude-haiku-4-5") == ModelRef("anthropic", "claude-haiku-4-5")
    with pytest.raises(LLMConfigError):
        registry.parse("openai:")


def test_an_unknown_provider_is_a_clear_config_error() -> None:
    registry = ProviderRegistry.from_settings(LLMSettings())
    registry.register(MemoryProvider())
    with pytest.raises(LLMConfigError) as caught:
        registry.resolve("mistral:large")
    assert caught.value.code == "llm_config_invalid"
    assert caught.value.details["known"] == ["anthropic", "memory", "openai"]


async def test_keys_come_from_the_settings_else_from_the_sdks_own_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    bare = ProviderRegistry.from_settings(LLMSettings())
    with pytest.raises(LLMConfigError) as caught:
        bare.resolve("anthropic:claude-sonnet-4-5")
    assert caught.value.details["setting"] == "ORCH_LLM__ANTHROPIC_API_KEY"
    with pytest.raises(LLMConfigError):
        bare.resolve("openai:gpt-4.1")

    monkeypatch.setenv("ANTHROPIC_API_KEY", "from-the-sdk-variable")
    provider, ref = ProviderRegistry.from_settings(LLMSettings()).resolve(None)
    assert isinstance(provider, AnthropicProvider) and ref == ModelRef(
        "anthropic", "claude-sonnet-4-5"
    )
    await provider.aclose()

    # An OpenAI-compatible server without keys needs only its base URL.
    settings = LLMSettings(openai_base_url="http://127.0.0.1:9/v1")
    provider, _ = ProviderRegistry.from_settings(settings).resolve("openai:llama3")
    assert isinstance(provider, OpenAIProvider)
    await provider.aclose()


def test_llm_settings_read_the_environment_and_mask_their_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCH_LLM__DEFAULT_MODEL", "openai:gpt-4.1")
    monkeypatch.setenv("ORCH_LLM__ANTHROPIC_API_KEY", "sk-secret")
    monkeypatch.setenv("ORCH_LLM__OPENAI_API_KEY", "sk-other")
    monkeypatch.setenv("ORCH_LLM__BUDGETS", '[{"tenant": "*", "window": "month", "max_tokens": 5}]')
    monkeypatch.setenv(
        "ORCH_LLM__WORKFLOW_POLICIES",
        '{"wf": {"policy": "fallback_model", "fallback_model": "openai:gpt-4.1-mini"}}',
    )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    llm = settings.llm
    assert llm.default_model == "openai:gpt-4.1" and llm.budgets[0].max_tokens == 5
    assert llm.policy_for("wf").fallback_model == "openai:gpt-4.1-mini"
    assert llm.policy_for("other").policy == "reject"
    masked = settings.masked()["llm"]
    assert "sk-secret" not in str(masked) and "sk-other" not in str(masked)
