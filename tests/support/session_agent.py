"""A stand-in for the built-in ``agent`` workflow (issue 16), of the same shape: inputs ``task``,
``session_id`` and ``history`` (``[{role, content}]``). Named ``session_echo`` (not ``agent``, so
it never clashes with the built-in one): tests select it with ``ORCH_SESSIONS__WORKFLOW``. It streams its reply word by word, and asks a clarification when the task ends with
``?``: the agent's behaviour a session client sees, without an LLM."""

from __future__ import annotations

import asyncio
from typing import Any

from sdk import StepContext, step, workflow

CHUNK_PAUSE_SECONDS = 0.15
"""Between reply words: a reply takes a while, as a model's does (so clients can leave mid-task)."""


@step
async def clarify(task: str, ctx: StepContext) -> str:
    if task.rstrip().endswith("?"):
        answer = await ctx.ask(f"Clarify: {task}", schema={"type": "string", "minLength": 1})
        return str(answer)
    return ""


@step(depends_on=[clarify], streams=True)
async def reply(
    clarification: str, task: str, session_id: str, history: list[dict[str, Any]]
) -> Any:
    words = [f"echo({len(history)}):", *task.split()]
    if clarification:
        words += ["with", clarification]
    for i, word in enumerate(words):
        if i:
            await asyncio.sleep(CHUNK_PAUSE_SECONDS)
        yield word + " "


WORKFLOW = "session_echo"
agent = workflow(WORKFLOW, reply)
