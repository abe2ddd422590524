"""Stream slots as a sorted set with heartbeat deadlines, on the real Redis (issue 11, defect 3)."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from orchestrator.auth.streams import StreamSlots
from tests.conftest import wait_until


def slot_key() -> str:
    return f"t{uuid.uuid4().hex[:10]}:streamslots:key:test"


async def test_the_cap_counts_open_slots_and_a_release_frees_one(redis: Redis) -> None:
    slots = StreamSlots(redis, ttl_seconds=30)
    key = slot_key()
    try:
        first = await slots.take(key, 2)
        second = await slots.take(key, 2)
        assert first is not None and second is not None
        assert await slots.take(key, 2) is None
        await first.release()
        await first.release()  # idempotent
        third = await slots.take(key, 2)
        assert third is not None
        await second.release()
        await third.release()
        assert await redis.exists(key) == 0  # the empty set is gone
    finally:
        await slots.close()


async def test_an_open_slot_is_renewed_and_a_leaked_one_lapses_by_itself(redis: Redis) -> None:
    key = slot_key()
    dead = StreamSlots(redis, ttl_seconds=0.6)  # the gateway that will die
    held = await dead.take(key, 1)
    assert held is not None
    first_deadline = await redis.zscore(key, held.member)
    assert first_deadline is not None

    async def renewed() -> bool:
        score = await redis.zscore(key, held.member)
        return score is not None and score > first_deadline

    await wait_until(renewed, timeout_seconds=5, what="the heartbeat to push the deadline out")
    await dead.close()  # the process dies: no heartbeat, no release

    alive = StreamSlots(redis, ttl_seconds=30)
    try:
        assert await alive.take(key, 1) is None  # still counted until its deadline

        async def lapsed() -> bool:
            slot = await alive.take(key, 1)
            if slot is not None:
                await slot.release()
            return slot is not None

        await wait_until(lapsed, timeout_seconds=5, what="the leaked slot to lapse")
    finally:
        await alive.close()


async def test_a_slot_released_soon_is_free_once_its_removal_ran(redis: Redis) -> None:
    slots = StreamSlots(redis, ttl_seconds=30)
    key = slot_key()
    try:
        slot = await slots.take(key, 1)
        assert slot is not None
        slot.release_soon()
        slot.release_soon()  # idempotent, also with release()
        await slot.release()

        async def freed() -> bool:
            return await redis.zcard(key) == 0

        await wait_until(freed, what="the slot's removal")
        again = await slots.take(key, 1)
        assert again is not None
        await again.release()
    finally:
        await slots.close()
