"""Errors of the LLM layer (DESIGN §16), part of the one error tree (``orchestrator/errors.py``).

A failed call fails the step *attempt* with one of these codes; whether the step retries follows
the step's ``retries`` (``retryable = False`` errors are never retried)::

    OrchestratorError
    ├── ConfigError
    │   └── LLMConfigError             llm_config_invalid   (unknown provider, no key; not retried)
    ├── AuthError
    │   └── RateLimitedError
    │       └── BudgetExceededError    budget_exceeded      (429 at submit; not retried in a step)
    └── LLMError                       llm_error
        ├── LLMRateLimitedError        llm_rate_limited     (429 after the SDK's retries)
        ├── LLMUnavailableError        llm_unavailable      (5xx/529, timeout, connection)
        ├── LLMProtocolError           llm_protocol_error   (a malformed stream)
        └── LLMRequestError            llm_request_invalid  (another 4xx; not retried)
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import ConfigError, OrchestratorError, RateLimitedError


class LLMConfigError(ConfigError):
    """The LLM settings cannot serve a call: unknown provider in a model reference, no key."""

    code = "llm_config_invalid"
    retryable = False


class LLMError(OrchestratorError):
    """An LLM call failed; ``details`` names the provider, the model and the HTTP status."""

    code = "llm_error"
    retryable = True


class LLMRateLimitedError(LLMError):
    """The provider still answered 429 after the SDK's retries (which honour ``retry-after``)."""

    code = "llm_rate_limited"


class LLMUnavailableError(LLMError):
    """The provider answered 5xx/529 after the retries, timed out, or could not be reached."""

    code = "llm_unavailable"


class LLMProtocolError(LLMError):
    """The provider's stream was malformed (bad JSON, unknown shape, ended before its stop)."""

    code = "llm_protocol_error"


class LLMRequestError(LLMError):
    """The provider refused the request itself (400, 401, 403, 404, 422): retrying won't help."""

    code = "llm_request_invalid"
    retryable = False


class BudgetExceededError(RateLimitedError):
    """A tenant's (or user's) LLM budget for the day or month is spent.

    At submit it is a ``429`` whose ``Retry-After`` is the window's reset; inside a step under
    the ``reject`` policy it fails the step without retries.

    Args:
        message: What was exceeded.
        retry_after_seconds: Seconds until the window resets.
        details: ``scope``, ``window``, ``metric``, ``limit``, ``spent``, ``resets_at`` (ISO 8601).
    """

    code = "budget_exceeded"
    retryable = False

    def __init__(
        self, message: str, *, retry_after_seconds: int, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds, details=details)


__all__ = [
    "BudgetExceededError",
    "LLMConfigError",
    "LLMError",
    "LLMProtocolError",
    "LLMRateLimitedError",
    "LLMRequestError",
    "LLMUnavailableError",
]
