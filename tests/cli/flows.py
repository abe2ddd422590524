"""Workflows of the CLI and SDK tests, run by real worker processes
(``ORCH_WORKFLOWS=tests.e2e.flows,tests.cli.flows``).

Steps coordinate with the test through files in ``marker_dir``: a gate the test creates to let a
step go on (bounded wait), and a switch that makes a step fail until the test flips it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from sdk import StepContext, step, workflow
from tests.e2e.flows import wait_for_gate


class Approval(BaseModel):
    """The answer the ``approve`` workflow asks for."""

    approved: bool
    note: str = ""


@step
async def draft(topic: str) -> str:
    return f"draft about {topic}"


@step(depends_on=[draft])
async def review(text: str, ctx: StepContext) -> dict[str, object]:
    answer = await ctx.ask("Publish this draft?", schema=Approval)
    return {"text": text, "approved": answer.approved, "note": answer.note}


approve = workflow("cli_approve", review)


@step
async def fragile(marker_dir: str) -> str:
    """Fails while ``<marker_dir>/broken`` exists."""
    if (Path(marker_dir) / "broken").exists():
        raise RuntimeError("the switch says broken")
    return "fixed"


flaky = workflow("cli_flaky", fragile)


@step
async def hold(marker_dir: str) -> str:
    """Waits for ``<marker_dir>/hold-gate`` (the test cancels it meanwhile)."""
    await wait_for_gate(marker_dir, "hold-gate")
    return "released"


held = workflow("cli_hold", hold)
