"""Cost of a call from the ``genai-prices`` library (Pydantic's price data; no table of ours)."""

from __future__ import annotations

import functools

import structlog

from orchestrator.llm.base import Usage

_log = structlog.get_logger("orchestrator.llm")

_PRICED_PROVIDERS = frozenset({"anthropic", "openai", "google", "groq", "mistral", "deepseek"})


@functools.lru_cache(maxsize=256)
def _warn_once(provider: str, model: str, reason: str) -> None:
    _log.warning(
        "no price for this model; its cost is recorded as null",
        provider=provider,
        model=model,
        reason=reason,
    )


def price_usd(provider: str, model: str, usage: Usage) -> float | None:
    """What ``usage`` of ``model`` costs, in US dollars.

    Args:
        provider: Our provider name; a name ``genai-prices`` knows is passed as its
            ``provider_id``, another (an OpenAI-compatible server, ``memory``) lets it find the
            model by name alone.
        model: The model's name at the provider (e.g. ``claude-sonnet-4-5``).
        usage: The call's tokens (``input_tokens`` exclusive of cache reads and writes).

    Returns:
        The price, or ``None`` (and one warning per model) when ``genai-prices`` does not know
        the model or is not installed: an unknown price is never guessed.
    """
    try:
        from genai_prices import Usage as PriceUsage
        from genai_prices import calc_price
    except ImportError:
        _warn_once(provider, model, "genai-prices is not installed")
        return None
    try:
        calculation = calc_price(
            PriceUsage(
                # genai-prices counts cache reads and writes inside input_tokens
                input_tokens=usage.input_tokens
                + usage.cache_read_tokens
                + usage.cache_write_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
            ),
            model_ref=model,
            provider_id=provider if provider in _PRICED_PROVIDERS else None,
        )
    except LookupError as exc:
        _warn_once(provider, model, str(exc))
        return None
    return float(calculation.total_price)


def warm_up() -> None:
    """Import ``genai-prices`` and load its data (half a second): call it in a thread at
    start-up so that a worker's first priced call does not stall its event loop."""
    price_usd("anthropic", "claude-sonnet-4-5", Usage(input_tokens=1))


__all__ = ["price_usd", "warm_up"]
