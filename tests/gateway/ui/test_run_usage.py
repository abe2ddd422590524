"""The run page shows the LLM layer's tokens and cost per step (issue 18, with issue 15's usage).

In-process stack (gateway app and worker in this loop, real Redis and PostgreSQL), the page read
as HTML through a logged-in session. What stands in for the Anthropic API is
tests/support/llm_server.py, reached over HTTP by the worker's real ``anthropic`` SDK
(``ORCH_LLM__ANTHROPIC_BASE_URL``); nothing is monkeypatched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from sdk import StepContext, step, workflow
from tests.conftest import wait_until
from tests.gateway.ui.test_pages import browser, log_in
from tests.support.jobs import wait_for_end
from tests.support.llm import LLMServer
from tests.support.stack import in_process_stack

CELL = re.compile(r"<t[dh][^>]*>(.*?)</t[dh]>", re.S)


@step
async def draft(ctx: StepContext) -> str:
    return (await ctx.llm.complete("usage-ui draft")).text


@step(depends_on=[draft])
async def review(draft: str, ctx: StepContext) -> str:
    first = await ctx.llm.complete("usage-ui review one")
    second = await ctx.llm.complete("usage-ui review two")
    return draft + first.text + second.text


@step
async def quiet() -> str:
    return "no model"


costed = workflow("ui_costed", draft, review)
silent = workflow("ui_silent", quiet)


def row(page: str, step_name: str) -> list[str]:
    """The cells of the usage table's row for ``step_name`` (``""``: the total)."""
    found = re.search(rf'<tr data-usage-step="{re.escape(step_name)}"[^>]*>(.*?)</tr>', page, re.S)
    assert found is not None, f"no usage row for {step_name!r}"
    return [re.sub(r"<[^>]+>", "", c).strip() for c in CELL.findall(found[1])]


async def test_the_run_page_shows_tokens_and_cost_per_step_from_the_jobs_usage(
    isolated_settings: Callable[..., Settings], llm_server: LLMServer
) -> None:
    llm_server.rule([{"text": "D", "usage": {"input_tokens": 1000, "output_tokens": 200}}],
                    match="usage-ui draft")  # fmt: skip
    llm_server.rule([{"text": "R", "usage": {"input_tokens": 300, "output_tokens": 40,
                                             "cache_read": 100}}], match="usage-ui review")  # fmt: skip
    settings = isolated_settings(llm={"anthropic_api_key": "test",
                                      "anthropic_base_url": llm_server.anthropic_url})  # fmt: skip
    async with in_process_stack(settings, WorkflowRegistry([costed, silent])) as stack:
        r = await stack.client.post("/v1/jobs", json={"workflow": "ui_costed", "inputs": {}})
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        assert (await wait_for_end(stack.services, job_id)).status.value == "succeeded"

        async def rows_written() -> bool:
            return bool((await stack.services.trace.job_usage(job_id))["calls"] == 3)

        await wait_until(rows_written, what="the llm_calls rows")
        api: dict[str, Any] = (await stack.client.get(f"/v1/jobs/{job_id}")).json()["usage"]
        r = await stack.client.post("/v1/jobs", json={"workflow": "ui_silent", "inputs": {}})
        assert r.status_code == 202, r.text
        quiet_id = r.json()["job_id"]
        assert (await wait_for_end(stack.services, quiet_id)).status.value == "succeeded"
        async with browser(stack) as client:
            await log_in(client, stack.key)
            page = (await client.get(f"/ui/runs/{job_id}")).text
            quiet_page = (await client.get(f"/ui/runs/{quiet_id}")).text

    steps = api["steps"]
    assert row(page, "draft")[:4] == ["draft", "1", "1000", "200"]
    # two calls of 300 input, 40 output and 100 cache-read tokens each
    assert row(page, "review")[:6] == ["review", "2", "600", "80", "200", "0"]
    for name in ("draft", "review"):
        assert steps[name]["cost_usd"] > 0
        assert row(page, name)[6] == f"{steps[name]['cost_usd']:.6f}"
    assert row(page, "")[:4] == ["Total", "3", "1600", "280"]
    assert row(page, "")[6] == f"{api['cost_usd']:.6f}"
    assert page.index('data-usage-step="draft"') < page.index('data-usage-step="review"')
    assert "data-usage-step" not in quiet_page and "data-usage-none" in quiet_page
