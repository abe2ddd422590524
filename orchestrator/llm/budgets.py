"""LLM budgets as a scheduling input (DESIGN §16): spend per tenant/user and window in Redis.

Limits come from ``ORCH_LLM__BUDGETS``. Spend is added atomically after each real call (one
``MULTI``: ``HINCRBY`` of nano-dollars and tokens, ``EXPIREAT`` at the window's end plus a
margin) and checked at submit and before each call. The counters are a cache of the
``llm_calls`` table: :func:`reconcile` recomputes them from it (after a Redis loss, or to
correct spend whose row was written but whose increment was lost).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from orchestrator.config import LLMBudget
from orchestrator.keys import BUDGET_TTL_MARGIN_SECONDS, Keys
from orchestrator.llm.errors import BudgetExceededError

NANO = 1_000_000_000
"""Cost is counted in nano-dollars (integers: exact and atomic with ``HINCRBY``)."""


@dataclass(frozen=True, slots=True)
class Window:
    """One calendar window (UTC).

    Attributes:
        kind: ``day`` or ``month``.
        id: ``d20261203`` or ``m202612`` (part of the Redis key).
        start: Its first instant.
        end: The first instant after it (the reset time).
    """

    kind: str
    id: str
    start: datetime
    end: datetime


def window_of(kind: str, at: datetime) -> Window:
    """The ``day`` or ``month`` window containing ``at`` (aware datetime, converted to UTC)."""
    at = at.astimezone(UTC)
    if kind == "day":
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return Window(kind, start.strftime("d%Y%m%d"), start, start + timedelta(days=1))
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(
        month=start.month + 1)  # fmt: skip
    return Window(kind, start.strftime("m%Y%m"), start, end)


def _scope_user(rule: LLMBudget, user: str | None) -> tuple[bool, str | None]:
    """Whether ``rule`` applies to ``user``, and the user part of its counter's key."""
    if rule.user is None:
        return True, None
    if user is None:
        return False, None
    return (rule.user in ("*", user)), user


class SpendReader(Protocol):
    """What :func:`reconcile` needs from the trace store."""

    async def llm_spend(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Rows ``{tenant_id, user_id, cost_usd, tokens}`` summed per tenant and user."""
        ...


class BudgetGuard:
    """Checks and counts LLM spend against ``ORCH_LLM__BUDGETS``.

    Args:
        redis: A redis-py asyncio client (the state Redis).
        keys: The key builder.
        budgets: The limits; empty: every check passes and nothing is counted.
    """

    def __init__(self, redis: Any, keys: Keys, budgets: Sequence[LLMBudget]) -> None:
        self.redis = redis
        self.keys = keys
        self.budgets = list(budgets)

    def _rules(self, tenant: str | None) -> Iterable[LLMBudget]:
        return [b for b in self.budgets if b.tenant in ("*", tenant or "-")]

    async def check(
        self, tenant: str | None, user: str | None, *, now: datetime | None = None
    ) -> None:
        """Raise when a limit that applies to ``tenant``/``user`` is reached.

        Raises:
            BudgetExceededError: ``details`` has ``scope`` (``tenant``/``user``), ``window``,
                ``metric`` (``cost_usd``/``tokens``), ``limit``, ``spent`` and ``resets_at``;
                ``retry_after_seconds`` counts down to ``resets_at``.
            redis.RedisError: Redis is unreachable.
        """
        rules = []
        for rule in self._rules(tenant):
            applies, scope_user = _scope_user(rule, user)
            if applies:
                rules.append((rule, scope_user))
        if not rules:
            return
        now = now or datetime.now(UTC)
        windows = [window_of(rule.window, now) for rule, _ in rules]
        async with self.redis.pipeline(transaction=False) as pipe:
            for (_, scope_user), window in zip(rules, windows, strict=True):
                pipe.hmget(
                    self.keys.budget(tenant or "-", scope_user, window.id), "cost_nusd", "tokens"
                )
            counts = await pipe.execute()
        for (rule, scope_user), window, (cost, tokens) in zip(rules, windows, counts, strict=True):
            spent_usd = int(cost or 0) / NANO
            spent_tokens = int(tokens or 0)
            over = None
            if rule.max_cost_usd is not None and spent_usd >= rule.max_cost_usd:
                over = ("cost_usd", rule.max_cost_usd, spent_usd)
            elif rule.max_tokens is not None and spent_tokens >= rule.max_tokens:
                over = ("tokens", rule.max_tokens, spent_tokens)
            if over is None:
                continue
            metric, limit, spent = over
            retry_after = max(1, math.ceil((window.end - now).total_seconds()))
            raise BudgetExceededError(
                f"the {'user' if scope_user else 'tenant'}'s LLM budget for this "
                f"{window.kind} is spent ({metric} {spent:g} of {limit:g})",
                retry_after_seconds=retry_after,
                details={
                    "scope": "user" if scope_user else "tenant", "tenant_id": tenant,
                    "user_id": scope_user, "window": window.kind, "metric": metric,
                    "limit": limit, "spent": spent, "resets_at": window.end.isoformat(),
                },
            )  # fmt: skip

    def _scopes(self, tenant: str | None, user: str | None) -> set[tuple[str | None, str]]:
        """(user part, window kind) of every counter a call of ``tenant``/``user`` adds to."""
        scopes: set[tuple[str | None, str]] = set()
        for rule in self._rules(tenant):
            applies, scope_user = _scope_user(rule, user)
            if applies:
                scopes.add((scope_user, rule.window))
        return scopes

    async def add(
        self,
        tenant: str | None,
        user: str | None,
        *,
        cost_usd: float | None,
        tokens: int,
        at: datetime | None = None,
    ) -> None:
        """Count one call's spend in every window a limit watches (atomically, one ``MULTI``).

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        scopes = self._scopes(tenant, user)
        if not scopes:
            return
        at = at or datetime.now(UTC)
        nano = round((cost_usd or 0.0) * NANO)
        async with self.redis.pipeline(transaction=True) as pipe:
            for scope_user, kind in sorted(scopes, key=str):
                window = window_of(kind, at)
                key = self.keys.budget(tenant or "-", scope_user, window.id)
                pipe.hincrby(key, "cost_nusd", nano)
                pipe.hincrby(key, "tokens", tokens)
                pipe.expireat(key, int(window.end.timestamp()) + BUDGET_TTL_MARGIN_SECONDS)
            await pipe.execute()

    async def spent(
        self, tenant: str, user: str | None, kind: str, *, now: datetime | None = None
    ) -> tuple[float, int]:
        """``(cost_usd, tokens)`` counted for a scope in the current ``kind`` window."""
        window = window_of(kind, now or datetime.now(UTC))
        cost, tokens = await self.redis.hmget(
            self.keys.budget(tenant, user, window.id), "cost_nusd", "tokens"
        )
        return int(cost or 0) / NANO, int(tokens or 0)


async def reconcile(guard: BudgetGuard, store: SpendReader, *, now: datetime | None = None) -> int:
    """Recompute the current day's and month's counters from the ``llm_calls`` table.

    Every tenant and user with spend in a window gets its counters overwritten (one ``MULTI``
    per window) with the table's sums; replayed calls are not in the table twice.

    Returns:
        How many counters were written.
    """
    now = now or datetime.now(UTC)
    written = 0
    for kind in ("day", "month"):
        window = window_of(kind, now)
        rows = await store.llm_spend(window.start, window.end)
        tenants: dict[str, list[float | int]] = {}
        async with guard.redis.pipeline(transaction=True) as pipe:
            for row in rows:
                tenant = row["tenant_id"] or "-"
                cost, tokens = float(row["cost_usd"] or 0), int(row["tokens"] or 0)
                total = tenants.setdefault(tenant, [0.0, 0])
                total[0] += cost
                total[1] += tokens
                if row["user_id"] is not None:
                    _set(
                        pipe,
                        guard.keys.budget(tenant, row["user_id"], window.id),
                        cost,
                        tokens,
                        window,
                    )
                    written += 1
            for tenant, (tenant_cost, tenant_tokens) in tenants.items():
                _set(
                    pipe,
                    guard.keys.budget(tenant, None, window.id),
                    float(tenant_cost),
                    int(tenant_tokens),
                    window,
                )
                written += 1
            await pipe.execute()
    return written


def _set(pipe: Any, key: str, cost: float, tokens: int, window: Window) -> None:
    pipe.hset(key, mapping={"cost_nusd": round(cost * NANO), "tokens": tokens})
    pipe.expireat(key, int(window.end.timestamp()) + BUDGET_TTL_MARGIN_SECONDS)


__all__ = ["NANO", "BudgetGuard", "SpendReader", "Window", "reconcile", "window_of"]
