"""``orchestrator llm``: LLM budget counters (DESIGN §16)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from orchestrator.config import Settings
from orchestrator.errors import ConfigError

app = typer.Typer(help="LLM calls: budget counters.", no_args_is_help=True)


def register(
    root: typer.Typer, settings: Callable[[], Settings], run: Callable[[Any], Any]
) -> None:
    """Add the ``llm`` group to ``root`` (``settings`` and ``run`` are the CLI's helpers)."""

    @app.command()
    def reconcile() -> None:
        """Recompute today's and this month's budget counters in Redis from ``llm_calls``.

        Run it after a Redis loss, or on a schedule: the counters are a cache of the table.
        """
        written = run(_reconcile(settings()))
        typer.echo(f"{written} budget counters written")

    root.add_typer(app, name="llm")


async def _reconcile(settings: Settings) -> int:
    from redis.asyncio import Redis

    from orchestrator.keys import Keys
    from orchestrator.llm.budgets import BudgetGuard, reconcile
    from orchestrator.trace.store import TraceStore

    if not settings.redis.url or not settings.database.url:
        raise ConfigError("ORCH_REDIS__URL and ORCH_DATABASE__URL must be set",
                          details={"setting": "ORCH_REDIS__URL"})  # fmt: skip
    redis = Redis.from_url(settings.redis.url)
    trace = TraceStore.from_url(settings.database.url, pool_size=1)
    try:
        guard = BudgetGuard(redis, Keys(settings.state.key_prefix), settings.llm.budgets)
        return await reconcile(guard, trace)
    finally:
        await trace.close()
        await redis.aclose()


__all__ = ["register"]
