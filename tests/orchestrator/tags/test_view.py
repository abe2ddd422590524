"""``StepPolicy`` (``ctx.policy``): lazy, live, and a refusal that stands without its audit row."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from orchestrator.errors import ToolForbiddenError, TraceError
from orchestrator.jobs import Actor
from orchestrator.keys import Keys
from orchestrator.tags import MemoryTagStore, TagCache, TagPolicy, TagResolver
from orchestrator.tags.view import StepPolicy
from orchestrator.trace.records import AuditRecord
from tests.orchestrator.tags.builders import make_tag

ALICE = Actor(id="user:alice", tenant_id="acme", role="submitter")


def view_on(redis: Redis, store: MemoryTagStore, audits: list[AuditRecord] | None) -> StepPolicy:
    cache = TagCache(redis, Keys(f"tv{uuid.uuid4().hex[:8]}"))
    policy = TagPolicy(TagResolver(store, cache, default_policy="allow"))

    async def sink(record: AuditRecord) -> None:
        if audits is None:
            raise TraceError("the database is down")
        audits.append(record)

    return StepPolicy(policy, ALICE, "wf", audit=sink, job_id=str(uuid.uuid4()), step="s")


async def test_nothing_is_resolved_before_the_step_asks(redis: Redis) -> None:
    view = view_on(redis, MemoryTagStore(), [])

    assert view.snapshot is None
    assert (await view.current()).intent == "wf"
    assert view.snapshot is not None


async def test_enforce_audits_and_raises_a_refusal(redis: Redis) -> None:
    store = MemoryTagStore()
    await store.put("acme", make_tag("no-git", "company", deny=["git/*"]), author="a")
    audits: list[AuditRecord] = []
    view = view_on(redis, store, audits)

    with pytest.raises(ToolForbiddenError) as caught:
        await view.enforce("git/git_log", {})

    assert caught.value.details == {"tool": "git/git_log", "tag": "no-git"}
    [row] = audits
    assert (row.action, row.actor, row.tenant_id) == ("tool.refused", "user:alice", "acme")
    assert row.details is not None and row.details["step"] == "s"
    assert (await view.enforce("time/now")).allowed


async def test_a_lost_audit_row_does_not_turn_a_refusal_into_another_error(redis: Redis) -> None:
    store = MemoryTagStore()
    await store.put("acme", make_tag("no-git", "company", deny=["git/*"]), author="a")
    view = view_on(redis, store, None)

    with pytest.raises(ToolForbiddenError):
        await view.enforce("git/git_log", {})
