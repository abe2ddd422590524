"""Budgets in the real Redis, reconciled from the real PostgreSQL ``llm_calls`` table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from orchestrator.config import LLMBudget
from orchestrator.keys import Keys
from orchestrator.llm import BudgetExceededError, Usage
from orchestrator.llm.budgets import BudgetGuard, reconcile, window_of
from orchestrator.llm.records import LLMCallRecord
from orchestrator.trace.store import TraceStore

NOW = datetime(2026, 12, 31, 22, 0, tzinfo=UTC)


def test_windows_are_utc_calendar_days_and_months() -> None:
    day, month = window_of("day", NOW), window_of("month", NOW)
    assert (day.id, day.end) == ("d20261231", datetime(2027, 1, 1, tzinfo=UTC))
    assert (month.id, month.start, month.end) == (
        "m202612",
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


async def test_a_spent_budget_refuses_until_its_window_resets(redis: Redis) -> None:
    keys = Keys(f"t{uuid.uuid4().hex[:8]}")
    guard = BudgetGuard(
        redis,
        keys,
        [
            LLMBudget(tenant="acme", window="day", max_cost_usd=1.0),
            LLMBudget(tenant="*", window="month", max_tokens=1000),
        ],
    )
    await guard.check("acme", "u1", now=NOW)
    await guard.add("acme", "u1", cost_usd=0.6, tokens=10, at=NOW)
    await guard.check("acme", "u1", now=NOW)
    await guard.add("acme", "u2", cost_usd=0.4, tokens=10, at=NOW)
    with pytest.raises(BudgetExceededError) as caught:
        await guard.check("acme", "u3", now=NOW)
    assert caught.value.retry_after_seconds == 2 * 3600
    assert caught.value.details["resets_at"] == "2027-01-01T00:00:00+00:00"
    assert (
        caught.value.details["metric"] == "cost_usd" and caught.value.details["scope"] == "tenant"
    )
    await guard.check("other", "u1", now=NOW)  # another tenant's day is untouched
    await guard.check("acme", "u1", now=NOW + timedelta(hours=3))  # the next day
    ttl = await redis.ttl(keys.budget("acme", None, "d20261231"))
    assert ttl > 0  # counters expire after their window (+ margin)


async def test_a_user_budget_limits_that_user_only(redis: Redis) -> None:
    guard = BudgetGuard(
        redis,
        Keys(f"t{uuid.uuid4().hex[:8]}"),
        [LLMBudget(tenant="acme", user="*", window="day", max_tokens=100)],
    )
    await guard.add("acme", "greedy", cost_usd=None, tokens=150, at=NOW)
    with pytest.raises(BudgetExceededError) as caught:
        await guard.check("acme", "greedy", now=NOW)
    assert caught.value.details["scope"] == "user" and caught.value.details["metric"] == "tokens"
    await guard.check("acme", "modest", now=NOW)


@pytest_asyncio.fixture(loop_scope="session")
async def store(pg_url: str) -> AsyncIterator[TraceStore]:
    s = TraceStore.from_url(pg_url)
    yield s
    await s.close()


async def test_reconcile_rebuilds_the_counters_from_the_llm_calls_table(
    redis: Redis, store: TraceStore
) -> None:
    tenant = f"rec-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    guard = BudgetGuard(
        redis,
        Keys(f"t{uuid.uuid4().hex[:8]}"),
        [LLMBudget(tenant=tenant, window="day", max_cost_usd=10)],
    )

    def row(user: str, cost: float | None, tokens: int) -> LLMCallRecord:
        return LLMCallRecord(str(uuid.uuid4()), "s", 1, 1, "wf", tenant, user, "anthropic",
                             "claude-sonnet-4-5", None, Usage(tokens, 0), cost, 10.0, 5.0,
                             "end_turn", now)  # fmt: skip

    await store.insert_llm_calls([row("a", 0.5, 100), row("a", None, 7), row("b", 0.25, 50)])
    await guard.add(tenant, "a", cost_usd=99.0, tokens=1, at=now)  # a counter gone wrong
    assert await reconcile(guard, store, now=now) >= 3
    assert await guard.spent(tenant, None, "day", now=now) == (pytest.approx(0.75), 157)
    assert await guard.spent(tenant, "a", "month", now=now) == (pytest.approx(0.5), 107)
    report = await store.usage_report(group_by="user", tenant_id=tenant)
    assert [(g["key"], g["calls"], g["unpriced_calls"]) for g in report] == [
        ("a", 2, 1),
        ("b", 1, 0),
    ]


async def test_the_cli_reconciles_the_counters(
    redis: Redis, store: TraceStore, redis_url: str, pg_url: str
) -> None:
    import asyncio
    import os
    import subprocess
    import sys

    tenant, prefix = f"cli-{uuid.uuid4().hex[:6]}", f"t{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    await store.insert_llm_calls([LLMCallRecord(
        str(uuid.uuid4()), "s", 1, 1, "wf", tenant, "u", "openai", "gpt-4.1", None,
        Usage(10, 5), 0.125, 1.0, 1.0, "stop", now)])  # fmt: skip
    env = {**os.environ, "ORCH_REDIS__URL": redis_url, "ORCH_DATABASE__URL": pg_url,
           "ORCH_STATE__KEY_PREFIX": prefix}  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "orchestrator.cli", "llm", "reconcile"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "budget counters written" in done.stdout
    guard = BudgetGuard(redis, Keys(prefix), [])
    assert await guard.spent(tenant, None, "day", now=now) == (pytest.approx(0.125), 15)
