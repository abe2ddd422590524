"""Workflows of the tag tests: steps that read ``ctx.policy`` and ``ctx.prompt``."""

from __future__ import annotations

from typing import Any

from orchestrator.dag.registry import WorkflowRegistry
from sdk import StepContext, step, workflow


@step
async def inspect_policy(ctx: StepContext) -> dict[str, Any]:
    """What the submitter may do, and the prompt it gets, as seen by a step."""
    return {
        "visible": await ctx.policy.visible(["git/git_log", "git/git_commit", "time/now"]),
        "tags": [t.name for t in (await ctx.policy.current()).tags],
        "intent": ctx.policy.intent,
        "prompt": await ctx.prompt(),
        "other_prompt": await ctx.prompt("summarize"),
        "user": ctx.policy.actor.id,
    }


@step(retries=3, retry_backoff_seconds=0.01)
async def call_git(ctx: StepContext) -> str:
    """Asks for git/git_log as its submitter; refused, it fails without retrying."""
    await ctx.policy.enforce("git/git_log", {"repo_path": ".", "max_count": 50})
    return "called"


@step
async def scoped_git(ctx: StepContext) -> dict[str, Any]:
    """A scope ``max_count <= 5``: 5 is allowed, 50 refused (decision level)."""
    five = await ctx.policy.decide("git/git_log", {"max_count": 5})
    fifty = await ctx.policy.decide("git/git_log", {"max_count": 50})
    return {
        "five": five.allowed,
        "fifty": [fifty.allowed, fifty.tag, fifty.argument, fifty.constraint],
    }


policy_probe = workflow("policy_probe", inspect_policy)
forbidden_call = workflow("forbidden_call", call_git)
scoped_call = workflow("scoped_call", scoped_git)


def registry() -> WorkflowRegistry:
    return WorkflowRegistry([policy_probe, forbidden_call, scoped_call])
