"""The row of one LLM call (table ``llm_calls``), a plain dataclass (no SQLAlchemy import)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.llm.base import Usage


@dataclass(frozen=True, slots=True)
class LLMCallRecord:
    """One real LLM call of a step attempt (a replayed call has none).

    Attributes:
        job_id, step, attempt: The step attempt (``step`` may be a fan-out instance ``s[2]``).
        seq: The call's durable-call sequence number within the attempt (DESIGN §13).
        workflow, tenant_id, user_id: Whose call it was (for usage reports and budgets).
        provider, model: Who answered (after a budget fallback: the fallback model).
        requested_model: The reference asked for, when a budget fallback replaced it.
        usage: Tokens.
        cost_usd: From ``genai-prices``; ``None`` when unknown.
        latency_ms, time_to_first_token_ms: Milliseconds.
        stop_reason: The provider's stop reason.
        created_at: When the call ended (aware datetime).
    """

    job_id: str
    step: str
    attempt: int
    seq: int
    workflow: str | None
    tenant_id: str | None
    user_id: str | None
    provider: str
    model: str
    requested_model: str | None
    usage: Usage
    cost_usd: float | None
    latency_ms: float | None
    time_to_first_token_ms: float | None
    stop_reason: str | None
    created_at: datetime
    replayed: bool = False


__all__ = ["LLMCallRecord"]
