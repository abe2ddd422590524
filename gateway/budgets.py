"""The submit-time LLM budget check (DESIGN §16): a spent budget refuses new jobs with a 429."""

from __future__ import annotations

from orchestrator.jobs import Actor
from orchestrator.llm.budgets import BudgetGuard
from orchestrator.services import Services


async def check_budget(services: Services, actor: Actor) -> None:
    """Refuse a submit when a budget of the caller's tenant (or the caller) is spent.

    Raises:
        BudgetExceededError: ``429 budget_exceeded`` with ``Retry-After`` = seconds until the
            window resets, and the reset time in ``details.resets_at``.
        redis.RedisError: Redis is unreachable.
    """
    budgets = services.settings.llm.budgets
    if not budgets:
        return
    await BudgetGuard(services.redis, services.keys, budgets).check(actor.tenant_id, actor.id)


__all__ = ["check_budget"]
