"""``Workflow.run_local``: the worker's executor on the in-memory state store, with Redis and
PostgreSQL unreachable (``offline_settings`` points both at a closed port)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from orchestrator.config import Settings
from orchestrator.errors import AnswerValidationError, InputValidationError
from tests.sdk.test_seed_example import company_brief
from tests.worker import local_flows
from worker.local import LocalRun
from worker.testing import offline_settings, run_local

__all__ = ["offline_settings", "run_local"]  # the plugin's fixtures, used below


async def test_the_seed_example_runs_locally_with_no_redis_or_database(
    offline_settings: Settings,
) -> None:
    run = await company_brief.run_local(
        {"doc_id": "d1", "ticker": "ACME"}, settings=offline_settings
    )

    assert run.status == "succeeded"
    text = "context of d1 | ACME earned 42"
    assert run.result == {"render_doc": text.replace(" ", "")}  # str chunks are concatenated
    assert run.chunks["render_doc"] == text.split(" ")
    assert run.outputs["fetch_capiq"] == {"ticker": "ACME", "revenue": 42}
    assert run.event_types[0] == "job.queued" and run.event_types[-1] == "job.succeeded"
    assert [e.seq for e in run.events] == list(range(1, len(run.events) + 1))


async def test_fan_out_retry_ask_and_streaming_keep_their_semantics(
    run_local: Callable[..., Awaitable[LocalRun]],
) -> None:
    local_flows.CALLS.clear()

    run = await run_local(
        local_flows.pipeline,
        {"count": 3},
        answers={"approve": {"approved": True, "reviewer": "ada"}},
    )

    assert run.status == "succeeded", run.error
    assert run.outputs["fetch[0]"] == "ITEM-0" and run.outputs["fetch[2]"] == "ITEM-2"
    assert run.attempts["summarize"] == 3
    assert "step.retrying" in run.event_types
    assert run.answered == [("approve", 0, {"approved": True, "reviewer": "ada"})]
    assert run.event_types.count("job.waiting") == 1
    assert "".join(run.chunks["render"]) == "ITEM-0, ITEM-1, ITEM-2 published by ada"
    # Resuming after the answer re-ran only the asking step, never its upstream steps.
    assert local_flows.CALLS == {"list_items": 1, "fetch": 3, "summarize": 3, "approve": 2}


async def test_a_question_without_an_answer_stops_the_run_waiting(
    run_local: Callable[..., Awaitable[LocalRun]],
) -> None:
    run = await run_local(local_flows.pipeline, {"count": 1})

    assert run.status == "waiting"
    assert run.questions["approve"]["prompt"] == "Publish ITEM-0?"
    assert run.questions["approve"]["schema"]["required"] == ["approved"]


async def test_answers_may_be_computed_from_the_question(
    run_local: Callable[..., Awaitable[LocalRun]],
) -> None:
    def reviewer(step: str, prompt: str, schema: Any) -> dict[str, Any]:
        return {"approved": "ITEM-0" in prompt}

    run = await run_local(local_flows.pipeline, {"count": 1}, answers=reviewer)

    assert run.result == {"render": "ITEM-0 published by anon"}


async def test_bad_inputs_and_bad_answers_raise_their_api_errors(
    run_local: Callable[..., Awaitable[LocalRun]],
) -> None:
    with pytest.raises(InputValidationError) as bad_inputs:
        await run_local(local_flows.pipeline, {"count": "many"})
    with pytest.raises(AnswerValidationError) as bad_answer:
        await run_local(local_flows.pipeline, {"count": 1}, answers={"approve": {"ok": 1}})

    assert bad_inputs.value.code == "inputs_invalid"
    assert bad_answer.value.code == "answer_invalid"
