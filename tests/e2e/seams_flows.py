"""Workflows where the agent layer's parts meet in a worker process: ``ctx.tools`` under the tag
policy, OAuth-protected tools, and tools handed to ``ctx.llm`` (ORCH_WORKFLOWS=tests.e2e.seams_flows).

A job's intent is its workflow's name, so a ``function`` tag named like a workflow applies to that
workflow's jobs only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sdk import StepContext, step, workflow

GATE_TIMEOUT_SECONDS = 60.0
GATE_POLL_SECONDS = 0.05


@step(retries=2, retry_backoff_seconds=0.01)
async def listed_then_git(repo_path: str, ctx: StepContext) -> None:
    """Report the tools the submitter sees through ``ctx.tools``, then call git/git_log (the
    submitter's tags allow only time/*: refused, never retried)."""
    ctx.emit({"tools": sorted(t.name for t in await ctx.tools.list())})
    await ctx.tools.call("git/git_log", repo_path=repo_path, max_count=1)


@step(retries=2, retry_backoff_seconds=0.01)
async def scoped_git(repo_path: str, ctx: StepContext) -> None:
    """Under a scope ``max_count <= 5``: a call with 5 goes to mcp-server-git, one with 50 is
    refused before anything is sent."""
    ctx.emit({"tools": sorted(t.name for t in await ctx.tools.list())})
    log = await ctx.tools.call("git/git_log", repo_path=repo_path, max_count=5)
    ctx.emit({"log": log.text})
    await ctx.tools.call("git/git_log", repo_path=repo_path, max_count=50)


@step
async def model_uses_tools(tag: str, ctx: StepContext) -> dict[str, Any]:
    """Hand every tool the submitter may use to the model in one argument; call what it asks."""
    tools = await ctx.tools.list()
    result = await ctx.llm.complete(f"what time is it? {tag}", tools=tools, max_tokens=256)
    calls = []
    for use in result.tool_uses:
        out = await ctx.tools.call(use.name, **use.input)
        calls.append({"name": use.name, "input": use.input, "output": out.output})
    return {"offered": sorted(t.name for t in tools), "calls": calls}


async def _wait_for(gate: str) -> None:
    for _ in range(int(GATE_TIMEOUT_SECONDS / GATE_POLL_SECONDS)):  # bounded poll
        if await asyncio.to_thread(Path(gate).exists):
            return
        await asyncio.sleep(GATE_POLL_SECONDS)
    raise TimeoutError(f"gate {gate} never opened")


@step(retries=2, retry_backoff_seconds=0.01, timeout_seconds=90)
async def ping_twice(gate: str, ctx: StepContext) -> list[str]:
    """Ping the OAuth-protected server, wait for ``gate`` (the test lets the token fall due),
    ping again."""
    first = await ctx.tools.call("secure/ping")
    await _wait_for(gate)
    second = await ctx.tools.call("secure/ping")
    return [first.text, second.text]


@step(retries=2, retry_backoff_seconds=0.01)
async def ping_once(ctx: StepContext) -> str:
    """One call to the OAuth-protected server."""
    return (await ctx.tools.call("secure/ping")).text


tools_listed = workflow("e2e_tools_listed", listed_then_git)
git_history = workflow("e2e_git_history", scoped_git)
llm_tools = workflow("e2e_llm_tools", model_uses_tools)
oauth_twice = workflow("e2e_oauth_twice", ping_twice)
oauth_once = workflow("e2e_oauth_once", ping_once)
