"""Durable calls (DESIGN §13): one contract suite over the in-memory and the Redis call store."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from orchestrator.durable import (
    CallJournal,
    CallStore,
    MemoryCallStore,
    RedisCallStore,
    fingerprint_of,
)
from orchestrator.keys import Keys

REDIS_URL = os.environ.get("ORCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest_asyncio.fixture(loop_scope="session", params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CallStore]:
    if request.param == "memory":
        yield MemoryCallStore()
        return
    client = Redis.from_url(REDIS_URL)
    prefix = f"dc{uuid.uuid4().hex[:10]}"
    try:
        yield RedisCallStore(client, keys=Keys(prefix), ttl_seconds=60)
    finally:
        keys = [k async for k in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


class Counter:
    def __init__(self) -> None:
        self.n = 0

    async def __call__(self) -> dict[str, int]:
        self.n += 1
        return {"n": self.n}


async def test_a_later_attempt_replays_finished_calls_instead_of_calling_again(
    store: CallStore,
) -> None:
    server = Counter()
    first = CallJournal(store, "job-1", "fetch")
    assert await first.call("tool:a/b", {"x": 1}, server) == {"n": 1}
    assert await first.call("tool:a/b", {"x": 2}, server) == {"n": 2}

    second = CallJournal(store, "job-1", "fetch")
    assert await second.call("tool:a/b", {"x": 1}, server) == {"n": 1}
    assert await second.call("tool:a/b", {"x": 2}, server) == {"n": 2}
    assert await second.call("tool:a/b", {"x": 3}, server) == {"n": 3}
    assert server.n == 3
    assert second.replayed == 2
    assert second.mismatches == []


async def test_a_call_whose_request_changed_is_made_again_and_its_record_replaced(
    store: CallStore,
) -> None:
    server = Counter()
    await CallJournal(store, "job-2", "s").call("llm:m", {"prompt": "a"}, server)

    changed = CallJournal(store, "job-2", "s")
    assert await changed.call("llm:m", {"prompt": "b"}, server) == {"n": 2}
    assert changed.mismatches == [1]

    third = CallJournal(store, "job-2", "s")
    assert await third.call("llm:m", {"prompt": "b"}, server) == {"n": 2}
    assert server.n == 2


async def test_a_call_that_raised_is_not_recorded(store: CallStore) -> None:
    async def boom() -> None:
        raise ConnectionError("server went away")

    journal = CallJournal(store, "job-3", "s")
    with pytest.raises(ConnectionError):
        await journal.call("tool:a/b", {}, boom)
    assert await store.get_call("job-3", "s", 1) is None


async def test_records_are_per_step_and_per_fan_out_instance(store: CallStore) -> None:
    server = Counter()
    await CallJournal(store, "job-4", "m[0]").call("tool:a/b", {}, server)
    await CallJournal(store, "job-4", "m[1]").call("tool:a/b", {}, server)
    await CallJournal(store, "job-5", "m[0]").call("tool:a/b", {}, server)
    assert server.n == 3


async def test_sequence_numbers_follow_the_order_calls_were_issued_not_finished(
    store: CallStore,
) -> None:
    journal = CallJournal(store, "job-6", "s")
    slots = [journal.slot("tool:t", {"i": i}) for i in range(3)]
    for slot in reversed(slots):  # finish in reverse
        assert await slot.lookup() is None
        await slot.record({"i": slot.seq}, 1.0)
    assert [s.seq for s in slots] == [1, 2, 3]
    replay = CallJournal(store, "job-6", "s")
    assert [await replay.call("tool:t", {"i": i}, Counter()) for i in range(3)] == [
        {"i": 1}, {"i": 2}, {"i": 3},
    ]  # fmt: skip


def test_fingerprints_ignore_key_order_and_differ_by_kind() -> None:
    assert fingerprint_of("k", {"a": 1, "b": [1, 2]}) == fingerprint_of("k", {"b": [1, 2], "a": 1})
    assert fingerprint_of("k", {"a": 1}) != fingerprint_of("j", {"a": 1})
    assert fingerprint_of("k", {"a": 1}) != fingerprint_of("k", {"a": 2})


async def test_redis_records_carry_the_state_ttl() -> None:
    client = Redis.from_url(REDIS_URL)
    keys = Keys(f"dc{uuid.uuid4().hex[:10]}")
    try:
        store = RedisCallStore(client, keys=keys, ttl_seconds=123)
        await CallJournal(store, "job-7", "s").call("tool:a/b", {}, Counter())
        ttl = await client.ttl(keys.call("job-7", "s", 1))
        assert 0 < ttl <= 123
    finally:
        await client.delete(keys.call("job-7", "s", 1))
        await client.aclose()
