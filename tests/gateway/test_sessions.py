"""Sessions through the in-process stack (gateway and a worker in this loop; real Redis and
PostgreSQL): messages run tasks of the configured workflow (a stand-in of the agent's shape,
tests/support/session_agent.py), each ``on_busy`` policy behaves as declared, answers reach
the open question, and another tenant's session is a 404 (DESIGN §18, §20)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio

from orchestrator.auth import ApiKeyStore
from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.sessions import SessionStore
from tests.conftest import wait_until
from tests.support.session_agent import WORKFLOW, agent
from tests.support.stack import InProcessStack, in_process_stack

SettingsFactory = Callable[..., Settings]


@pytest_asyncio.fixture(loop_scope="session")
async def stack(isolated_settings: SettingsFactory) -> AsyncIterator[InProcessStack]:
    settings = isolated_settings(sessions={"workflow": WORKFLOW})
    async with in_process_stack(settings, WorkflowRegistry([agent])) as s:
        yield s


async def open_session(stack: InProcessStack, on_busy: str = "reject") -> str:
    r = await stack.client.post("/v1/sessions", json={"on_busy": on_busy, "intent": "chat",
                                                      "metadata": {"sheet": "A1"}})  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "idle"
    return str(r.json()["session_id"])


async def say(stack: InProcessStack, sid: str, **body: Any) -> Any:
    return await stack.client.post(f"/v1/sessions/{sid}/interact", json=body)


async def session_of(stack: InProcessStack, sid: str) -> dict[str, Any]:
    body: dict[str, Any] = (await stack.client.get(f"/v1/sessions/{sid}")).json()
    return body


async def until(stack: InProcessStack, sid: str, status: str) -> dict[str, Any]:
    async def reached() -> bool:
        return (await session_of(stack, sid))["status"] == status

    await wait_until(reached, timeout_seconds=30, what=f"session {status}")
    return await session_of(stack, sid)


async def test_a_message_runs_a_task_whose_question_is_answered_in_place(
    stack: InProcessStack,
) -> None:
    sid = await open_session(stack)
    no_question = await say(stack, sid, answer="x")
    started = await say(stack, sid, message="book a room?")

    waiting = await until(stack, sid, "waiting")
    answered = await say(stack, sid, answer="Paris")
    done = await until(stack, sid, "idle")
    second = await say(stack, sid, message="thanks")
    await wait_until(lambda: _task_done(stack, sid, 1), timeout_seconds=30, what="second task")
    history = (await stack.client.get(f"/v1/sessions/{sid}/messages")).json()["items"]

    assert (
        no_question.status_code == 409 and no_question.json()["error"]["code"] == "no_open_question"
    )
    assert started.status_code == 202 and started.json()["action"] == "started"
    assert waiting["question"]["prompt"] == "Clarify: book a room?"
    assert answered.status_code == 202 and answered.json()["action"] == "answered"
    assert done["tasks"][0]["reply"] == "echo(0): book a room? with Paris "
    assert second.json()["action"] == "started"
    final = await session_of(stack, sid)
    # the second task saw the first exchange as its history
    assert final["tasks"][1]["reply"] == "echo(2): thanks "
    assert [(m["role"], m["content"]) for m in history][:2] == [
        ("user", "book a room?"),
        ("assistant", "echo(0): book a room? with Paris "),
    ]


async def _task_done(stack: InProcessStack, sid: str, index: int) -> bool:
    tasks = (await session_of(stack, sid))["tasks"]
    return len(tasks) > index and tasks[index]["status"] == "succeeded"


async def test_reject_refuses_a_message_while_a_task_runs(stack: InProcessStack) -> None:
    sid = await open_session(stack, "reject")
    await say(stack, sid, message="which one?")
    await until(stack, sid, "waiting")

    busy = await say(stack, sid, message="another")

    assert busy.status_code == 409 and busy.json()["error"]["code"] == "session_busy"
    assert len((await session_of(stack, sid))["tasks"]) == 1


async def test_enqueue_runs_the_message_after_the_current_task(stack: InProcessStack) -> None:
    sid = await open_session(stack, "enqueue")
    await say(stack, sid, message="which one?")
    await until(stack, sid, "waiting")

    queued = await say(stack, sid, message="next")
    held = await session_of(stack, sid)
    await say(stack, sid, answer="the red one")
    await wait_until(lambda: _task_done(stack, sid, 1), timeout_seconds=30, what="queued task")
    final = await session_of(stack, sid)
    first = (await stack.client.get(f"/v1/jobs/{final['tasks'][0]['task_id']}")).json()
    second = (await stack.client.get(f"/v1/jobs/{final['tasks'][1]['task_id']}")).json()

    assert queued.status_code == 202 and queued.json() == {"action": "enqueued", "position": 1}
    assert len(held["tasks"]) == 1 and held["queued"] == ["next"]
    assert final["tasks"][0]["status"] == "succeeded"
    assert second["created_at"] >= first["finished_at"]  # it started after the first ended
    assert final["tasks"][1]["reply"] == "echo(2): next "


async def test_interrupt_cancels_the_running_task_and_starts_the_new_one(
    stack: InProcessStack,
) -> None:
    sid = await open_session(stack, "interrupt")
    await say(stack, sid, message="which one?")
    await until(stack, sid, "waiting")

    interrupted = await say(stack, sid, message="never mind")
    await wait_until(lambda: _task_done(stack, sid, 1), timeout_seconds=30, what="new task")
    final = await session_of(stack, sid)

    assert interrupted.json()["action"] == "interrupted"
    assert final["tasks"][0]["status"] == "cancelled"
    assert final["tasks"][1]["reply"] == "echo(1): never mind "


async def test_another_tenants_session_is_a_404(stack: InProcessStack) -> None:
    sid = await open_session(stack)
    _, key = await ApiKeyStore(stack.services.trace.engine).create("other-tenant", "admin")
    other = {"Authorization": f"Bearer {key}"}

    seen = await stack.client.get(f"/v1/sessions/{sid}", headers=other)
    told = await stack.client.post(f"/v1/sessions/{sid}/interact", json={"message": "hi"},
                                   headers=other)  # fmt: skip
    unknown = await stack.client.get("/v1/sessions/not-a-session")

    audit = (await stack.client.get("/v1/audit", headers=other)).json()["items"]
    assert seen.status_code == 404 and seen.json()["error"]["code"] == "session_not_found"
    assert told.status_code == 404
    assert unknown.status_code == 404
    # the refusal is audited in the caller's tenant, as for another tenant's job
    assert any(row["details"].get("code") == "session_not_found" for row in audit)


async def test_a_queued_message_starts_when_its_task_ends_with_no_client_watching(
    stack: InProcessStack,
) -> None:
    """The worker ending the task starts the next one (worker/sessions.py): nothing reads the
    session through the API meanwhile."""
    store = SessionStore(stack.services.redis, stack.services.keys, ttl_seconds=600)
    sid = await open_session(stack, "enqueue")
    await say(stack, sid, message="which one?")
    await until(stack, sid, "waiting")
    await say(stack, sid, message="queued")
    await say(stack, sid, answer="blue")

    async def second_started() -> bool:
        return len((await store.get(sid)).tasks) == 2

    await wait_until(second_started, timeout_seconds=30, what="the queued task")
    assert (await store.get(sid)).queue == []
