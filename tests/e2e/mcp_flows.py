"""Workflows of the MCP end-to-end tests: steps that use ``ctx.tools`` in a worker process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sdk import StepContext, step, workflow

GATE_TIMEOUT_SECONDS = 60.0
GATE_POLL_SECONDS = 0.05


@step
async def use_tools(repo_path: str, ctx: StepContext) -> dict[str, Any]:
    """List the tools, then call one of each server: git and time (stdio), t (HTTP)."""
    names = sorted(t.name for t in await ctx.tools.list())
    log = await ctx.tools.call("git/git_log", repo_path=repo_path, max_count=2)
    now = await ctx.tools.call("time/get_current_time", {"timezone": "UTC"})
    echo = await ctx.tools.call("t/echo", text="from a step")
    many = await ctx.tools.call_many([("t/echo", {"text": "a"}), ("t/echo", {"text": "b"})])
    return {"names": names, "log": log.text, "timezone": now.output["timezone"],
            "echo": echo.text, "many": [r.text for r in many]}  # fmt: skip


@step(timeout_seconds=90)
async def count_three(gate: str, ctx: StepContext) -> list[Any]:
    """Three calls with a side effect; after the second it waits for ``gate`` to exist (the
    test kills the worker during that wait)."""
    counts = []
    for n in range(3):
        result = await ctx.tools.call("t/count")
        counts.append({"count": result.output["count"], "replayed": result.replayed})
        if n == 1:
            for _ in range(int(GATE_TIMEOUT_SECONDS / GATE_POLL_SECONDS)):  # bounded poll
                if await asyncio.to_thread(Path(gate).exists):
                    break
                await asyncio.sleep(GATE_POLL_SECONDS)
    return counts


tools_flow = workflow("e2e_tools", use_tools)
durable_tools = workflow("e2e_durable_tools", count_three)
