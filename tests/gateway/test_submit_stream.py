"""``POST /v1/jobs`` with ``Accept: text/event-stream``: submit and stream in one request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from orchestrator.config import Settings
from sdk import AsyncClient
from tests.gateway import flows
from tests.support.jobs import wait_for_end
from tests.support.stack import in_process_stack

SettingsFactory = Callable[..., Settings]

PAGES = {"workflow": "pages", "inputs": {"url": "https://example.org"}}


async def test_a_streaming_submit_answers_with_every_event_of_the_new_job(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        events: list[dict[str, Any]] = []
        async with aconnect_sse(stack.client, "POST", "/v1/jobs", json=PAGES) as source:
            assert source.response.status_code == 200
            assert source.response.headers["content-type"].startswith("text/event-stream")
            location = source.response.headers["location"]
            async for message in source.aiter_sse():
                event = json.loads(message.data)
                assert message.id == event["id"]
                events.append(event)
        job_id = events[0]["job_id"]
        await wait_for_end(stack.services, job_id)
        stored = [e.to_dict() for e in await stack.services.state.read_events(job_id)]

    assert location == f"/v1/jobs/{job_id}"
    assert events == stored  # gapless and without duplicates, from job.queued on
    assert events[0]["type"] == "job.queued" and events[-1]["type"] == "job.succeeded"
    assert events[-1]["data"] == {"result": {"render": "https://example.org: 19 bytes"}}


async def test_a_bad_streaming_submit_is_the_same_4xx_json_and_leaves_no_job(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        response = await stack.client.post(
            "/v1/jobs", json={"workflow": "pages", "inputs": {}},
            headers={"Accept": "text/event-stream"},
        )
        rows, total = await stack.services.trace.list_jobs(tenant_id=stack.tenant, limit=10)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "inputs_invalid"
    assert (rows, total) == ([], 0)


async def test_the_sdk_runs_a_job_in_one_request_and_gets_its_result(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        assert stack.app is not None
        client = AsyncClient("http://gateway", api_key=stack.key,
                             transport=httpx.ASGITransport(app=stack.app))
        events = [e async for e in client.run("pages", {"url": "https://example.org"})]
        await client.aclose()

    assert events[0].type == "job.queued"
    assert events[-1].type == "job.succeeded"
    assert events[-1].data["result"] == {"render": "https://example.org: 19 bytes"}
    assert len({e.job_id for e in events}) == 1
