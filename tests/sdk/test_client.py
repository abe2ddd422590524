"""The SDK's `Client` and `AsyncClient`: every route against a real gateway and worker
(separate processes), typed answers, typed errors carrying the API's code."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from sdk import (
    ApiError,
    AsyncClient,
    BadRequestError,
    Client,
    ConflictError,
    Event,
    Job,
    NotFoundError,
    Trace,
    TransportError,
    WorkflowInfo,
)
from tests.conftest import wait_until
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
WAIT_SECONDS = 30.0
STEPS = {"fetch_left", "fetch_right", "combine", "render"}


async def _status_is(client: AsyncClient, job_id: str, status: str) -> bool:
    return (await client.get(job_id)).status == status


def brief_inputs(tmp_path: Path, topic: str) -> dict[str, object]:
    return {"marker_dir": str(tmp_path), "topic": topic, "chunks": 2}


def test_the_sync_client_covers_every_route(live_stack: Stack, tmp_path: Path) -> None:
    with Client(live_stack.url, api_key=live_stack.key) as client:
        flows = client.workflows()
        assert all(isinstance(w, WorkflowInfo) for w in flows)
        assert "e2e_brief" in {w.name for w in flows}
        assert client.workflow("e2e_brief").inputs["required"] == ["marker_dir", "topic"]

        events = list(client.run("e2e_brief", brief_inputs(tmp_path, "sync")))
        assert all(isinstance(e, Event) for e in events)
        assert events[0].type == "job.queued" and events[-1].type == "job.succeeded"
        job_id = events[0].job_id
        assert [e.seq for e in events] == list(range(1, len(events) + 1))

        replay = list(client.events(job_id))
        assert [e.id for e in replay] == [e.id for e in events]
        after = list(client.events(job_id, last_event_id=events[2].id))
        assert [e.seq for e in after] == [e.seq for e in events[3:]]

        job = client.get(job_id)
        assert isinstance(job, Job) and job.finished and job.status == "succeeded"
        assert {s.name for s in job.steps} == STEPS
        assert client.step_output(job_id, "combine").output == "left about sync x3"
        assert job_id in {j.job_id for j in client.list(workflow="e2e_brief", limit=50).items}

        deadline = time.monotonic() + WAIT_SECONDS
        while len((trace := client.trace(job_id)).steps) < len(STEPS):
            assert time.monotonic() < deadline
            time.sleep(0.05)  # step runs reach the trace store in batches
        assert isinstance(trace, Trace) and {a.step for a in trace.steps} == STEPS

        submitted = client.submit(
            "e2e_brief",
            brief_inputs(tmp_path, "sync"),
            idempotency_key=f"k-{tmp_path.name}",
            priority=5,
        )
        again = client.submit(
            "e2e_brief", brief_inputs(tmp_path, "sync"), idempotency_key=f"k-{tmp_path.name}"
        )
        assert again.job_id == submitted.job_id and again.replayed and not submitted.replayed


def test_the_sync_client_controls_jobs(live_stack: Stack, tmp_path: Path) -> None:
    with Client(live_stack.url, api_key=live_stack.key) as client:
        held = client.submit("cli_hold", {"marker_dir": str(tmp_path)})
        with client.events(held.job_id) as stream:  # closes cleanly before the end
            assert next(s for s in stream if s.type == "step.started").step == "hold"
        assert client.cancel(held.job_id).status == "cancelling"
        while client.get(held.job_id).status != "cancelled":
            time.sleep(0.05)  # bounded by the test timeout; the cancel is cooperative
        with pytest.raises(ConflictError) as conflict:  # a finished job (even hard=true): 409
            client.cancel(held.job_id, hard=True)
        assert client.retry(held.job_id).steps == ["hold"]
        (tmp_path / "hold-gate").touch()
        # A stream from the start runs past the first run's job.cancelled to the retry's end.
        kinds = [e.type for e in client.events(held.job_id)]
        assert kinds.index("job.cancelled") < len(kinds) - 1 and kinds[-1] == "job.succeeded"
        assert conflict.value.code == "job_state_conflict" and conflict.value.status_code == 409

        asking = client.submit("cli_approve", {"topic": "sdk"})
        waiting = next(e for e in client.events(asking.job_id) if e.type == "job.waiting")
        assert waiting.data["prompt"] == "Publish this draft?"
        with pytest.raises(BadRequestError) as bad:
            client.answer(asking.job_id, {"approved": "perhaps"})
        assert bad.value.code == "answer_invalid"
        assert client.answer(asking.job_id, {"approved": True}, step="review").step == "review"
        assert list(client.events(asking.job_id))[-1].data["result"]["review"]["approved"] is True


def test_errors_are_typed_and_carry_the_api_code_and_details(live_stack: Stack) -> None:
    with Client(live_stack.url, api_key=live_stack.key) as client:
        with pytest.raises(NotFoundError) as unknown_job:
            client.get("00000000-0000-0000-0000-000000000000")
        with pytest.raises(NotFoundError) as unknown_flow:
            client.submit("no_such_flow")
        with pytest.raises(BadRequestError) as bad_inputs:
            client.submit("e2e_brief", {"topic": 3})
    assert unknown_job.value.code == "job_not_found"
    assert "e2e_brief" in unknown_flow.value.details["known"]
    assert bad_inputs.value.code == "inputs_invalid"
    assert {e["parameter"] for e in bad_inputs.value.details["errors"]} == {"marker_dir", "topic"}
    with pytest.raises(TransportError) as down, Client("http://127.0.0.1:9", api_key="x") as c:
        c.workflows()
    assert down.value.code == "gateway_unreachable"
    assert isinstance(down.value, ApiError)


async def test_the_async_client_covers_every_route(live_stack: Stack, tmp_path: Path) -> None:
    async with AsyncClient(live_stack.url, api_key=live_stack.key) as client:
        assert "cli_approve" in {w.name for w in await client.workflows()}
        assert (await client.workflow("cli_approve")).sinks == ["review"]
        events = [e async for e in client.run("e2e_brief", brief_inputs(tmp_path, "async"))]
        job_id = events[0].job_id
        assert events[-1].type == "job.succeeded"
        assert [e.id async for e in client.events(job_id)] == [e.id for e in events]
        assert (await client.get(job_id)).result["render"].startswith("[0] left about async")
        assert (await client.step_output(job_id, "fetch_right")).output == {"count": 3}
        page = await client.list(status="succeeded", limit=500)
        assert job_id in {j.job_id for j in page.items} and page.total >= 1
        deadline = time.monotonic() + WAIT_SECONDS
        while len((await client.trace(job_id)).steps) < len(STEPS):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)  # step runs reach the trace store in batches

        held = await client.submit("cli_hold", {"marker_dir": str(tmp_path)})
        async with client.events(held.job_id) as stream:  # closes cleanly before the end
            async for event in stream:
                if event.type == "step.started":
                    break
        assert (await client.cancel(held.job_id)).job_id == held.job_id
        await wait_until(lambda: _status_is(client, held.job_id, "cancelled"), what="cancelled")
        (tmp_path / "hold-gate").touch()
        assert (await client.retry(held.job_id)).steps == ["hold"]
        assert [e.type async for e in client.events(held.job_id)][-1] == "job.succeeded"

        asking = await client.submit("cli_approve", {"topic": "async"})
        async for event in client.events(asking.job_id):
            if event.type == "job.waiting":
                break
        assert (
            await client.answer(asking.job_id, {"approved": False, "note": "no"})
        ).step == "review"
        with pytest.raises(NotFoundError) as missing:
            await client.step_output(asking.job_id, "nope")
        assert missing.value.code == "step_not_found"
