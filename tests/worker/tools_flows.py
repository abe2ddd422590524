"""Workflows of the ``ctx.tools`` worker tests (servers configured by each test)."""

from __future__ import annotations

from typing import Any

from orchestrator.dag.registry import WorkflowRegistry
from sdk import StepContext, step, workflow


@step(retries=1, retry_backoff_seconds=0.01)
async def unreachable(ctx: StepContext) -> Any:
    """A server that cannot be reached: ``mcp_unavailable``, which the step's retries retry."""
    return (await ctx.tools.call("down/echo", text="x")).text


@step(retries=2, retry_backoff_seconds=0.01)
async def bad_arguments(ctx: StepContext) -> Any:
    """Arguments failing the schema: ``tool_arguments_invalid``, never retried."""
    return (await ctx.tools.call("t/echo", text=3)).text


@step(retries=2, retry_backoff_seconds=0.01)
async def counted(ctx: StepContext) -> Any:
    """One call of ``t/count`` (refused by the test's policy: ``tool_forbidden``, not retried)."""
    return (await ctx.tools.call("t/count")).output


@step
async def echoed(ctx: StepContext) -> Any:
    """One successful call (its span is checked)."""
    return (await ctx.tools.call("t/echo", {"text": "traced"})).text


def registry() -> WorkflowRegistry:
    return WorkflowRegistry([
        workflow("tools_unreachable", unreachable),
        workflow("tools_bad_arguments", bad_arguments),
        workflow("tools_counted", counted),
        workflow("tools_echoed", echoed),
    ])  # fmt: skip
