"""``ctx.tools`` (StepTools): calls are durable (DESIGN §13): a later attempt replays finished
calls from their records instead of calling the (real, SDK-built) server again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.durable import CallJournal, MemoryCallStore
from orchestrator.errors import ToolNotFoundError
from orchestrator.jobs.actor import Actor
from orchestrator.mcp.config import parse_servers
from orchestrator.mcp.manager import McpManager
from orchestrator.mcp.step import StepTools, actor_of_principal
from tests.support.mcp_servers import HttpServer, http_config, http_test_server


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_test_server() as s:
        yield s


async def test_a_retried_attempt_replays_finished_calls_and_makes_only_the_new_one(
    server: HttpServer,
) -> None:
    server.reset()
    store = MemoryCallStore()
    actor = actor_of_principal({"tenant_id": "acme", "user_id": "user:bo", "role": "submitter"})
    async with McpManager(parse_servers([http_config("t", server.url)], source="t")) as m:
        first = StepTools(m, actor, journal=CallJournal(store, "job-1", "step"), job_id="job-1")
        a = await first.call("t/count")
        b = await first.call("t/count", {})

        second = StepTools(m, actor, journal=CallJournal(store, "job-1", "step"))
        again = [await second.call("t/count") for _ in range(3)]

    assert [a.output, b.output] == [{"count": 1}, {"count": 2}]
    assert [r.output for r in again] == [{"count": 1}, {"count": 2}, {"count": 3}]
    assert [r.replayed for r in again] == [True, True, False]
    assert server.stats()["count"] == 3


async def test_call_many_takes_sequence_numbers_in_issue_order_and_keeps_result_order(
    server: HttpServer,
) -> None:
    store = MemoryCallStore()
    actor = Actor(id="user:bo")
    async with McpManager(parse_servers([http_config("t", server.url)], source="t")) as m:
        tools = StepTools(m, actor, journal=CallJournal(store, "job-2", "s"))
        results = await tools.call_many(
            [
                ("t/sleep", {"ms": 60}),
                {"name": "t/echo", "arguments": {"text": "b"}},
                ("t/echo", {"text": "c"}),
            ]
        )
        replay = StepTools(m, actor, journal=CallJournal(store, "job-2", "s"))
        replayed = await replay.call_many(
            [("t/sleep", {"ms": 60}), ("t/echo", {"text": "b"}), ("t/echo", {"text": "c"})]
        )
        listed = {t.name for t in await tools.list()}

    assert [r.text for r in results] == ["slept 60", "b", "c"]
    assert [r.text for r in replayed] == ["slept 60", "b", "c"]
    assert all(r.replayed for r in replayed)
    assert "t/echo" in listed


async def test_a_failed_call_is_not_recorded_and_raises_its_code(server: HttpServer) -> None:
    store = MemoryCallStore()
    async with McpManager(parse_servers([http_config("t", server.url)], source="t")) as m:
        tools = StepTools(m, Actor(), journal=CallJournal(store, "job-3", "s"))
        with pytest.raises(ToolNotFoundError):
            await tools.call("t/missing")

    assert store.records == {}
