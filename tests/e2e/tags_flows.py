"""Workflows of the tag tests that run in a separate worker process
(ORCH_WORKFLOWS=tests.e2e.tags_flows)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from sdk import StepContext, step, workflow

WATCH_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.01


@step
async def watch_policy(marker_dir: str, ctx: StepContext) -> dict[str, Any]:
    """Read ``ctx.policy`` until its decision on ``time/now`` changes; report when it saw it.

    Writes ``<marker_dir>/watching`` once it has its first decision, so the test changes the
    tag only after the step runs (the worker process is then the one that must notice).
    """
    first = await ctx.policy.decide("time/now")
    (Path(marker_dir) / "watching").write_text(str(first.allowed))
    deadline = time.monotonic() + WATCH_TIMEOUT_SECONDS
    polls = 0
    while time.monotonic() < deadline:
        decision = await ctx.policy.decide("time/now")
        polls += 1
        if decision.allowed != first.allowed:
            return {"seen_at": time.time(), "first": first.allowed,
                    "now": decision.allowed, "tag": decision.tag, "polls": polls,
                    "prompt": await ctx.prompt()}  # fmt: skip
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError("the policy never changed")


e2e_policy_watch = workflow("e2e_policy_watch", watch_policy)


@step(retries=2, retry_backoff_seconds=0.01)
async def use_tools(ctx: StepContext) -> list[str]:
    """Lists what its submitter may use, then asks for git/git_log (refused: never retried)."""
    visible = await ctx.policy.visible(["time/get_current_time", "time/convert_time",
                                        "git/git_log"])  # fmt: skip
    ctx.emit({"visible": visible})
    await ctx.policy.enforce("git/git_log", {"repo_path": "."})
    return visible


e2e_use_tools = workflow("e2e_use_tools", use_tools)
