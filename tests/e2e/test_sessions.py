"""End to end: a plugin-like WebSocket client holds a session across two tasks, gateway and worker
as separate processes (DESIGN §18).

The session's messages run a stand-in of the agent workflow's shape (tests/support/session_agent:
inputs task, session_id, history; streams its reply; asks when the task ends with "?"), selected
by ``ORCH_SESSIONS__WORKFLOW`` (default ``agent``: the built-in agent once merged).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import wait_until
from tests.e2e.conftest import Stack, start_stack
from tests.support.session_agent import WORKFLOW

pytestmark = pytest.mark.e2e


@pytest.fixture
def session_stack(redis_url: str, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    with start_stack(redis_url, pg_url, tmp_path, workflows="tests.support.session_agent",
                     extra_env={"ORCH_SESSIONS__WORKFLOW": WORKFLOW}) as s:  # fmt: skip
        yield s


def socket(stack: Stack, sid: str, last_event_id: str | None = None) -> Any:
    url = stack.url.replace("http://", "ws://") + f"/v1/sessions/{sid}/ws"
    if last_event_id is not None:
        url += f"?last_event_id={last_event_id}"
    return ws_connect(url, additional_headers=stack.headers, open_timeout=10)


async def next_frame(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await ws.recv(decode=True))
    return frame


def is_event(frame: dict[str, Any]) -> bool:
    return "task_index" in frame


def ends_task(frame: dict[str, Any], index: int) -> bool:
    return frame.get("task_index") == index and frame["type"] == "job.succeeded"


async def until_second_task_ends(ws: ClientConnection) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        frame = await next_frame(ws)
        if is_event(frame):
            events.append(frame)
            if ends_task(frame, 1):
                return events


async def test_a_plugin_streams_asks_leaves_mid_task_and_resumes_exactly_across_two_tasks(
    session_stack: Stack,
) -> None:
    http = httpx.AsyncClient(base_url=session_stack.url, headers=session_stack.headers,
                             timeout=httpx.Timeout(30, read=60))  # fmt: skip
    async with http:
        r = await http.post("/v1/sessions", json={"on_busy": "enqueue", "metadata": {"app": "xl"}})
        assert r.status_code == 201, r.text
        sid = r.json()["session_id"]

        first: list[dict[str, Any]] = []
        accepted: list[dict[str, Any]] = []
        async with socket(session_stack, sid) as ws:
            await ws.send(json.dumps({"type": "interact", "message": "plan a trip?"}))
            replying = False
            while not (replying and len(accepted) == 2):  # then the plugin goes away mid-reply
                frame = await next_frame(ws)
                if not is_event(frame):
                    accepted.append(frame)  # may come after events: two tasks write the socket
                    continue
                first.append(frame)
                if frame["type"] == "job.waiting":  # the clarification, answered in place
                    assert frame["data"]["prompt"] == "Clarify: plan a trip?"
                    await ws.send(json.dumps({"type": "interact", "answer": "Rome"}))
                replying |= frame["type"] == "step.chunk" and frame["step"] == "reply"
        assert [a["type"] for a in accepted] == ["interact.accepted", "interact.accepted"]
        assert accepted[0]["action"] == "started" and accepted[1]["action"] == "answered"
        last_id = first[-1]["id"]

        # While it is away: the task goes on, and a second message is queued behind it.
        r = await http.post(f"/v1/sessions/{sid}/interact", json={"message": "and then"})
        assert r.status_code == 202, r.text

        async def both_done() -> bool:
            tasks = (await http.get(f"/v1/sessions/{sid}")).json()["tasks"]
            return len(tasks) == 2 and all(t["status"] == "succeeded" for t in tasks)

        await wait_until(both_done, timeout_seconds=60, what="two tasks")

        async with socket(session_stack, sid, last_id) as ws:
            missed = await until_second_task_ends(ws)
        async with socket(session_stack, sid) as ws:
            everything = await until_second_task_ends(ws)
        sse: list[dict[str, Any]] = []
        async with aconnect_sse(http, "GET", f"/v1/sessions/{sid}/events",
                                headers={"Last-Event-ID": last_id}) as source:  # fmt: skip
            async for message in source.aiter_sse():
                sse.append(json.loads(message.data))
                assert message.id == sse[-1]["id"]
                if ends_task(sse[-1], 1):
                    break

    ids = [e["id"] for e in everything]
    assert len(ids) == len(set(ids))
    assert [e["id"] for e in first + missed] == ids  # exactly what it missed: no gap, no repeat
    assert [e["id"] for e in sse] == [e["id"] for e in missed]
    assert any(e["task_index"] == 0 and e["type"] == "step.chunk" for e in missed)  # mid-task
    assert {e["task_index"] for e in missed} == {0, 1}

    def reply(index: int) -> str:
        return "".join(e["data"] for e in everything
                       if e["task_index"] == index and e["type"] == "step.chunk")  # fmt: skip

    assert reply(0) == "echo(0): plan a trip? with Rome "
    assert reply(1) == "echo(2): and then "
    assert everything[0]["session_id"] == sid
