"""The HTTP API (v1) through the in-process stack, on real Redis and PostgreSQL (DESIGN §6)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from orchestrator.config import Settings
from orchestrator.services import Services
from orchestrator.types import JobStatus
from tests.gateway import flows
from tests.support.jobs import wait_for_end
from tests.support.stack import InProcessStack, in_process_stack

SettingsFactory = Callable[..., Settings]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the error envelope ``{"error": {"code", "message", "details"}}``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    assert response.headers.get("x-request-id")
    return dict(error)


async def submit(stack: InProcessStack, workflow: str, inputs: dict[str, Any] | None = None) -> str:
    response = await stack.client.post(
        "/v1/jobs", json={"workflow": workflow, "inputs": inputs or {}}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


async def job_count(services: Services) -> int:
    return (await services.trace.list_jobs(limit=1))[1]


async def job_keys(redis: Redis, settings: Settings) -> list[bytes]:
    return [k async for k in redis.scan_iter(match=f"{settings.state.key_prefix}:job:*")]


# -- submit ---------------------------------------------------------------------------------


async def test_a_valid_submit_is_accepted_with_the_job_id_and_a_location(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        response = await stack.client.post(
            "/v1/jobs", json={"workflow": "greeting", "inputs": {"word": "hi", "count": 2}}
        )

        assert response.status_code == 202, response.text
        body = response.json()
        assert set(body) == {"job_id", "status", "workflow", "created_at", "api_version"}
        assert body["status"] == "queued" and body["workflow"] == "greeting"
        assert body["api_version"] == "v1"
        assert str(uuid.UUID(body["job_id"])) == body["job_id"]
        assert response.headers["location"] == f"/v1/jobs/{body['job_id']}"
        view = (await stack.client.get(f"/v1/jobs/{body['job_id']}")).json()
        assert view["status"] == "queued"
        assert view["inputs"] == {"word": "hi", "count": 2}
        assert [(s["name"], s["status"]) for s in view["steps"]] == [("repeat", "pending")]


BAD_SUBMITS = [
    pytest.param(
        {"workflow": "no_such_workflow", "inputs": {}}, 404, "workflow_not_found", None,
        id="unknown-workflow",
    ),
    pytest.param(
        {"workflow": "greeting", "inputs": {"word": "hi"}}, 422, "inputs_invalid", "count",
        id="missing-input",
    ),
    pytest.param(
        {"workflow": "greeting", "inputs": {"word": "hi", "count": "many"}}, 422,
        "inputs_invalid", "count", id="ill-typed-input",
    ),
    pytest.param(
        {"workflow": "greeting", "inputs": {"word": "hi", "count": 1, "bogus": True}}, 422,
        "inputs_invalid", "bogus", id="unknown-input",
    ),
    pytest.param(b'{"workflow": "greeting", ', 422, "json_invalid", None, id="malformed-json"),
    pytest.param({"inputs": {}}, 422, "request_invalid", None, id="missing-workflow"),
    pytest.param(
        {"workflow": "greeting", "inputs": [1, 2]}, 422, "request_invalid", None,
        id="inputs-not-an-object",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "code", "parameter"), BAD_SUBMITS)
async def test_a_bad_submit_is_a_4xx_with_a_stable_code_and_leaves_no_job_behind(
    isolated_settings: SettingsFactory,
    redis: Redis,
    body: Any,
    status: int,
    code: str,
    parameter: str | None,
) -> None:
    settings = isolated_settings()
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        jobs_before = await job_count(stack.services)
        content = body if isinstance(body, bytes) else json.dumps(body).encode()

        response = await stack.client.post(
            "/v1/jobs", content=content, headers={"Content-Type": "application/json"}
        )

        error = assert_error(response, status, code)
        if parameter is not None:
            assert parameter in [e["parameter"] for e in error["details"]["errors"]]
        if code == "request_invalid":
            assert error["details"]["errors"]
        assert await job_count(stack.services) == jobs_before
        assert await job_keys(redis, settings) == []
        assert await redis.zcard(settings.queue.name) == 0


# -- reading jobs ---------------------------------------------------------------------------


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_an_unknown_job_is_job_not_found_on_every_job_route(
    isolated_settings: SettingsFactory, job_id: str
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        client = stack.client
        assert_error(await client.get(f"/v1/jobs/{job_id}"), 404, "job_not_found")
        assert_error(await client.post(f"/v1/jobs/{job_id}/cancel"), 404, "job_not_found")
        assert_error(
            await client.get(f"/v1/jobs/{job_id}/steps/repeat/output"), 404, "job_not_found"
        )
        assert_error(await client.get(f"/v1/jobs/{job_id}/events"), 404, "job_not_found")


async def test_the_output_of_an_unknown_or_unfinished_step_is_not_found(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        job_id = await submit(stack, "greeting", {"word": "hi", "count": 1})

        unknown = assert_error(
            await stack.client.get(f"/v1/jobs/{job_id}/steps/nope/output"), 404, "step_not_found"
        )
        assert unknown["details"]["step"] == "nope"
        assert_error(
            await stack.client.get(f"/v1/jobs/{job_id}/steps/repeat/output"), 404,
            "output_not_found",
        )  # fmt: skip


async def test_listing_jobs_pages_filters_and_counts(isolated_settings: SettingsFactory) -> None:
    tag = uuid.uuid4().hex[:8]
    ok_name, bad_name = f"list_ok_{tag}", f"list_bad_{tag}"
    registry = flows.registry(flows.named(ok_name), flows.named(bad_name, fails=True))
    async with in_process_stack(isolated_settings(), registry) as stack:
        ok_ids = [await submit(stack, ok_name, {"word": "w", "count": n}) for n in (1, 2, 3)]
        bad_ids = [await submit(stack, bad_name) for _ in range(2)]
        for job_id in [*ok_ids, *bad_ids]:
            await wait_for_end(stack.services, job_id)

        async def page(**params: Any) -> dict[str, Any]:
            response = await stack.client.get("/v1/jobs", params=params)
            assert response.status_code == 200, response.text
            return dict(response.json())

        everything = await page(workflow=ok_name)
        assert everything["total"] == 3
        assert [i["job_id"] for i in everything["items"]] == ok_ids[::-1]  # newest first
        assert {i["status"] for i in everything["items"]} == {"succeeded"}
        assert all(i["finished_at"] for i in everything["items"])

        first = await page(workflow=ok_name, limit=2, offset=0)
        second = await page(workflow=ok_name, limit=2, offset=2)
        assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
        assert (second["total"], second["limit"], second["offset"]) == (3, 2, 2)
        assert [i["job_id"] for i in first["items"] + second["items"]] == ok_ids[::-1]

        failed = await page(workflow=bad_name, status="failed")
        assert failed["total"] == 2
        assert {i["job_id"] for i in failed["items"]} == set(bad_ids)
        assert (await page(workflow=bad_name, status="succeeded"))["total"] == 0
        any_failed = await page(status="failed", limit=500)
        assert any_failed["total"] >= 2
        assert {i["status"] for i in any_failed["items"]} == {"failed"}
        assert set(bad_ids) <= {i["job_id"] for i in any_failed["items"]}

        assert_error(await stack.client.get("/v1/jobs", params={"status": "bogus"}), 422,
                     "request_invalid")  # fmt: skip
        assert_error(await stack.client.get("/v1/jobs", params={"limit": 0}), 422,
                     "request_invalid")  # fmt: skip


# -- workflows ------------------------------------------------------------------------------


async def test_workflows_are_listed_with_nodes_options_edges_and_inputs_schema(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        response = await stack.client.get("/v1/workflows")
        assert response.status_code == 200
        by_name = {w["name"]: w for w in response.json()["items"]}

        assert set(by_name) == {"greeting", "pages"}
        pages = by_name["pages"]
        nodes = {n["name"]: n for n in pages["nodes"]}
        assert list(nodes) == ["fetch", "measure", "render"]
        assert nodes["fetch"] == {
            "name": "fetch", "parallel": True, "streams": False, "retries": 2,
            "retry_backoff_seconds": 0.5, "timeout_seconds": 5, "cache_ttl_seconds": None,
            "kind": "async", "retry_max_backoff_seconds": 300.0, "retry_on": ["Exception"],
            "no_retry_on": [], "map_over": None, "max_concurrency": None,
        }  # fmt: skip
        assert nodes["measure"]["kind"] == "sync"
        assert (nodes["render"]["streams"], nodes["render"]["kind"]) == (True, "async_gen")
        assert sorted((e["from"], e["to"]) for e in pages["edges"]) == [
            ("fetch", "render"), ("measure", "render"),
        ]  # fmt: skip
        assert pages["sinks"] == ["render"]
        assert pages["inputs"]["properties"]["url"]["type"] == "string"
        assert pages["inputs"]["required"] == ["url"]
        greeting = by_name["greeting"]["inputs"]
        assert set(greeting["properties"]) == {"word", "count", "sep"}
        assert greeting["properties"]["count"]["type"] == "integer"
        assert sorted(greeting["required"]) == ["count", "word"]

        one = await stack.client.get("/v1/workflows/pages")
        assert one.status_code == 200 and one.json() == pages
        assert_error(await stack.client.get("/v1/workflows/nope"), 404, "workflow_not_found")


# -- system ---------------------------------------------------------------------------------


async def test_queue_depth_counts_due_jobs_and_not_deferred_ones(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:

        async def depth() -> int:
            response = await stack.client.get("/v1/system/queue-depth")
            assert response.status_code == 200
            return int(response.json()["depth"])

        assert await depth() == 0
        for n in (1, 2, 3):
            await submit(stack, "greeting", {"word": "w", "count": n})
        assert await depth() == 3

        later = str(uuid.uuid4())
        arq_id = await stack.services.queue.enqueue(
            later, arq_job_id=f"{later}:later", defer_seconds=600
        )
        assert arq_id == f"{later}:later"
        assert await depth() == 3


async def test_health_readiness_and_prometheus_metrics_answer(
    isolated_settings: SettingsFactory,
) -> None:
    name = f"metered_{uuid.uuid4().hex[:8]}"
    registry = flows.registry(flows.named(name))
    async with in_process_stack(isolated_settings(), registry, with_worker=False) as stack:
        client = stack.client

        health = await client.get("/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready",
                                "checks": {"redis": "ok", "database": "ok", "migrations": "ok"}}

        async def submitted() -> float:
            response = await client.get("/metrics")
            assert response.status_code == 200
            for family in text_string_to_metric_families(response.text):
                for sample in family.samples:
                    if (sample.name == "orchestrator_jobs_submitted_total"
                            and sample.labels.get("workflow") == name):  # fmt: skip
                        return float(sample.value)
            return 0.0

        assert await submitted() == 0.0
        await submit(stack, name, {"word": "w", "count": 1})
        await submit(stack, name, {"word": "w", "count": 2})
        assert await submitted() == 2.0


async def test_responses_carry_a_request_id_echoing_the_one_sent(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        sent = await stack.client.get("/healthz", headers={"X-Request-ID": "req-123"})
        assert sent.headers["x-request-id"] == "req-123"
        fresh = await stack.client.get("/healthz")
        other = await stack.client.get("/healthz")
        assert fresh.headers["x-request-id"]
        assert fresh.headers["x-request-id"] != other.headers["x-request-id"]
        failed = await stack.client.get(
            f"/v1/jobs/{uuid.uuid4()}", headers={"X-Request-ID": "req-404"}
        )
        assert failed.status_code == 404
        assert failed.headers["x-request-id"] == "req-404"


async def test_unknown_routes_and_methods_use_the_error_envelope(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        assert_error(await stack.client.get("/v1/nothing-here"), 404, "not_found")
        assert_error(await stack.client.delete("/v1/workflows"), 405, "method_not_allowed")


# -- SSE ------------------------------------------------------------------------------------


async def read_sse(client: httpx.AsyncClient, url: str, **headers: str) -> list[dict[str, Any]]:
    """Every event of a stream that ends; each SSE id must equal its event's id."""
    events = []
    async with aconnect_sse(client, "GET", url, headers=headers) as source:
        assert source.response.status_code == 200
        async for message in source.aiter_sse():
            event = json.loads(message.data)
            assert message.id == event["id"]
            events.append(event)
    return events


async def test_the_sse_stream_of_a_finished_job_replays_every_event_and_ends(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "pages", {"url": "https://example.org"})
        await wait_for_end(stack.services, job_id)
        stored = [e.to_dict() for e in await stack.services.state.read_events(job_id)]

        events = await read_sse(stack.client, f"/v1/jobs/{job_id}/events")

        assert events == stored
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert events[0]["type"] == "job.queued"
        assert events[-1]["type"] == "job.succeeded"
        assert events[-1]["data"] == {"result": {"render": "https://example.org: 19 bytes"}}
        assert [e["data"] for e in events if e["type"] == "step.chunk"] == [
            "https://example.org: ", "19 bytes",
        ]  # fmt: skip
        assert [e["data"] for e in events if e["type"] == "step.progress"] == [
            {"stage": "rendering"}
        ]
        for e in events:
            assert set(e) == {"id", "job_id", "type", "step", "attempt", "seq", "ts", "data"}
            assert e["job_id"] == job_id


async def test_the_sse_stream_resumes_after_last_event_id(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "pages", {"url": "https://example.org"})
        await wait_for_end(stack.services, job_id)
        stored = [e.to_dict() for e in await stack.services.state.read_events(job_id)]
        url = f"/v1/jobs/{job_id}/events"

        for k in (1, 3, len(stored) - 1):
            resumed = await read_sse(stack.client, url, **{"Last-Event-ID": stored[k - 1]["id"]})
            assert resumed == stored[k:], k
        by_query = await read_sse(stack.client, f"{url}?after={stored[1]['id']}")
        assert by_query == stored[2:]


async def test_a_reconnect_after_the_terminal_event_gets_204_so_eventsource_stops(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "greeting", {"word": "w", "count": 1})
        await wait_for_end(stack.services, job_id)
        last = (await stack.services.state.read_events(job_id))[-1]
        assert last.type == "job.succeeded"

        response = await asyncio.wait_for(
            stack.client.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": last.id}),
            timeout=3.0,
        )

        assert response.status_code == 204
        assert response.text == ""


@pytest.mark.parametrize("last_event_id", ["banana", "12-x", "1-2-3"])
async def test_an_invalid_last_event_id_is_inputs_invalid(
    isolated_settings: SettingsFactory, last_event_id: str
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        job_id = await submit(stack, "greeting", {"word": "w", "count": 1})

        response = await stack.client.get(
            f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": last_event_id}
        )

        error = assert_error(response, 422, "inputs_invalid")
        assert error["details"]["errors"][0]["parameter"] == "Last-Event-ID"


async def test_a_queued_job_is_read_with_its_status_from_redis_and_row_from_postgres(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        job_id = await submit(stack, "pages", {"url": "u"})
        row = await stack.services.trace.get_job(job_id)
        assert row is not None and row.status is JobStatus.QUEUED
        view = (await stack.client.get(f"/v1/jobs/{job_id}")).json()
        assert view["job_id"] == job_id and view["workflow"] == "pages"
        assert [s["name"] for s in view["steps"]] == ["fetch", "measure", "render"]
        assert {s["status"] for s in view["steps"]} == {"pending"}
        assert view["result"] is None and view["error"] is None
