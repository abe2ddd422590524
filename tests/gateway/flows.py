"""Workflows of the gateway tests."""

from __future__ import annotations

from typing import Any

from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.dag.workflow import Workflow
from sdk import StepContext, step, workflow


@step
async def repeat(word: str, count: int, sep: str = " ") -> str:
    return sep.join([word] * count)


@step(parallel=True, retries=2, retry_backoff_seconds=0.5, timeout_seconds=5)
async def fetch(url: str) -> dict[str, Any]:
    return {"url": url, "size": len(url)}


@step(parallel=True)
def measure(url: str) -> int:
    return len(url)


@step(depends_on=[fetch, measure], streams=True)
async def render(page: dict[str, Any], size: int, ctx: StepContext) -> Any:
    ctx.emit({"stage": "rendering"})
    yield f"{page['url']}: "
    yield f"{size} bytes"


@step
async def always_fails() -> str:
    raise RuntimeError("no")


greeting = workflow("greeting", repeat)
pages = workflow("pages", render)


def named(name: str, *, fails: bool = False) -> Workflow:
    """A one-step workflow under a name of the test's own (for exact counts in a shared DB)."""
    return workflow(name, always_fails if fails else repeat)


def registry(*extra: Workflow) -> WorkflowRegistry:
    return WorkflowRegistry([greeting, pages, *extra])


@step
async def echo_any(text: str = "", ratio: float = 1.0, payload: Any = None) -> dict[str, Any]:
    return {"text": text, "ratio": ratio, "payload": payload}


echoing = workflow("echoing", echo_any)
"""Takes free-form inputs (a string, a float, any JSON): the target of hostile-input tests."""
