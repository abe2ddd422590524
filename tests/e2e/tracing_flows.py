"""The workflow of tests/e2e/test_tracing.py (ORCH_WORKFLOWS=tests.e2e.tracing_flows)."""

from __future__ import annotations

from sdk import StepContext, step, workflow


@step(retries=1, retry_backoff_seconds=0.01)
async def wobble(topic: str, ctx: StepContext) -> str:
    """Logs a line, then fails its first attempt."""
    ctx.logger.info("traced step says hello", topic=topic)
    if ctx.attempt == 1:
        raise RuntimeError("the first attempt fails")
    return topic


@step(depends_on=[wobble])
async def settle(wobble: str) -> str:
    return wobble.upper()


traced = workflow("e2e_traced", settle)
