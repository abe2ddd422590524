"""``RedisStateStore`` against a real Redis: job hash, checkpoints, events, leases (DESIGN §3-4)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from orchestrator.errors import LeaseLostError, StateError
from orchestrator.events import Event
from orchestrator.keys import Keys
from orchestrator.serialization import dumps
from orchestrator.state import Lapsed, NewEvent, RedisStateStore, step_field
from orchestrator.state.base import Checkpoint
from orchestrator.types import JobStatus

BOUND_SECONDS = 5.0


async def wait_until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``condition`` until it holds; fail after ``BOUND_SECONDS``."""
    # Polling is the only way to observe a server-side change such as a key's expiry.
    async with asyncio.timeout(BOUND_SECONDS):
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def new_job(store: RedisStateStore, arq_job_id: str | None = None) -> str:
    job_id = str(uuid.uuid4())
    await store.create_job(
        job_id,
        workflow="company_brief",
        version="v1",
        inputs={"doc_id": "doc-7", "ticker": "ACME"},
        created_at=1700000000.5,
        arq_job_id=arq_job_id or f"arq-{job_id}",
        trace={"traceparent": "00-abc-def-01"},
    )
    return job_id


async def running_job(
    store: RedisStateStore, worker_id: str = "w1", lease_ttl_seconds: float = 30.0
) -> str:
    """A job leased by ``worker_id`` and marked running, as a worker starts it."""
    job_id = await new_job(store)
    assert await store.acquire_lease(job_id, worker_id, lease_ttl_seconds) == "OK"
    await store.update(
        job_id,
        {"status": JobStatus.RUNNING.value, "runs": 1},
        NewEvent("job.started", attempt=1),
        worker_id=worker_id,
    )
    return job_id


async def lapse(redis: Redis, keys: Keys, job_id: str) -> None:
    """Wait until the job's lease key has expired."""

    async def gone() -> bool:
        return await redis.exists(keys.lease(job_id)) == 0

    await wait_until(gone)


def succeeded(step: str) -> NewEvent:
    return NewEvent("step.succeeded", step=step, attempt=1, data={"output_bytes": 3})


# --- create_job, get_job ------------------------------------------------------------------


async def test_create_job_stores_a_queued_job_and_publishes_job_queued_with_seq_1(
    store: RedisStateStore,
) -> None:
    job_id = await new_job(store, arq_job_id="arq-1")

    job = await store.get_job(job_id)
    events = await store.read_events(job_id)

    assert job is not None
    assert job.status is JobStatus.QUEUED
    assert job.workflow == "company_brief"
    assert job.version == "v1"
    assert job.inputs == {"doc_id": "doc-7", "ticker": "ACME"}
    assert job.created_at == 1700000000.5
    assert job.arq_job_id == "arq-1"
    assert job.trace == {"traceparent": "00-abc-def-01"}
    assert [(e.type, e.seq, e.data) for e in events] == [
        ("job.queued", 1, {"workflow": "company_brief"})
    ]
    assert events[0].job_id == job_id
    assert events[0].step is None and events[0].attempt is None


async def test_create_job_returns_the_id_of_its_job_queued_event(store: RedisStateStore) -> None:
    job_id = str(uuid.uuid4())

    event_id = await store.create_job(
        job_id, workflow="w", version="v", inputs={}, created_at=1.0, arq_job_id="a"
    )

    assert [e.id for e in await store.read_events(job_id)] == [event_id]


async def test_get_job_of_an_unknown_job_is_none(store: RedisStateStore) -> None:
    assert await store.get_job(str(uuid.uuid4())) is None


async def test_the_job_and_events_keys_get_the_state_ttl_when_written(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await new_job(store)

    for key in (keys.job(job_id), keys.events(job_id)):
        assert 0 < await redis.ttl(key) <= store.ttl_seconds


async def test_create_jobs_creates_each_job_as_create_job_does(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    await store.create_jobs([
        (job_id, {"workflow": "w", "version": "v1", "inputs": {"n": n, "text": "é\u2028\"q\""},
                  "created_at": 1.5, "arq_job_id": job_id, "trace": {"traceparent": "t"},
                  "extra": {"priority": n, "tenant": "acme"}})
        for n, job_id in enumerate(ids)
    ])  # fmt: skip
    for n, job_id in enumerate(ids):
        job = await store.get_job(job_id)
        assert job is not None and job.status is JobStatus.QUEUED
        assert (job.workflow, job.version, job.created_at, job.arq_job_id) == ("w", "v1", 1.5, job_id)
        assert job.inputs == {"n": n, "text": "é\u2028\"q\""} and job.trace == {"traceparent": "t"}
        assert [(e.type, e.seq, e.data) for e in await store.read_events(job_id)] == [
            ("job.queued", 1, {"workflow": "w"})]  # fmt: skip
        assert (await redis.hget(keys.job(job_id), "tenant")) == b"acme"
        for key in (keys.job(job_id), keys.events(job_id)):
            assert 0 < await redis.ttl(key) <= store.ttl_seconds


# --- update, apply_many --------------------------------------------------------------------


async def test_update_sets_fields_and_publishes_its_event_together(store: RedisStateStore) -> None:
    job_id = await new_job(store)

    event_id = await store.update(
        job_id,
        {"status": "running", "started_at": 12.5, step_field("a", "status"): "running"},
        NewEvent("step.started", step="a", attempt=2, data={"k": [1, 2]}),
    )

    job = await store.get_job(job_id)
    events = await store.read_events(job_id)
    assert job is not None
    assert job.status is JobStatus.RUNNING
    assert job.started_at == 12.5
    assert job.steps["a"].status == "running"
    assert events[-1].id == event_id
    assert (events[-1].type, events[-1].step, events[-1].attempt, events[-1].seq) == (
        "step.started",
        "a",
        2,
        2,
    )
    assert events[-1].data == {"k": [1, 2]}


async def test_update_without_an_event_sets_fields_and_returns_none(
    store: RedisStateStore,
) -> None:
    job_id = await new_job(store)

    result = await store.update(job_id, {"runs": 3})

    job = await store.get_job(job_id)
    assert result is None
    assert job is not None and job.runs == 3
    assert len(await store.read_events(job_id)) == 1


async def test_seq_counts_every_event_from_1_without_gaps_under_concurrent_writes(
    store: RedisStateStore,
) -> None:
    job_id = await new_job(store)

    await asyncio.gather(
        *(
            store.update(job_id, {"n": i}, NewEvent("step.progress", step="a", data=i))
            for i in range(25)
        )
    )

    events = await store.read_events(job_id)
    assert [e.seq for e in events] == list(range(1, 27))


async def test_seq_continues_across_every_kind_of_write(store: RedisStateStore) -> None:
    job_id = await running_job(store)
    await store.apply_many(
        job_id, [({}, NewEvent("step.started", step="a")), ({}, None)], worker_id="w1"
    )
    await store.checkpoint(job_id, "a", b"1", {}, succeeded("a"), worker_id="w1")
    await store.finish(job_id, JobStatus.SUCCEEDED, ["a"], {}, None, worker_id="w1")

    events = await store.read_events(job_id)

    assert [(e.seq, e.type) for e in events] == [
        (1, "job.queued"),
        (2, "job.started"),
        (3, "step.started"),
        (4, "step.succeeded"),
        (5, "job.succeeded"),
    ]


async def test_apply_many_applies_its_writes_in_order(store: RedisStateStore) -> None:
    job_id = await new_job(store)
    writes = [
        ({"status": "running"}, NewEvent("job.started", attempt=1)),
        ({step_field("a", "status"): "running"}, NewEvent("step.started", step="a", attempt=1)),
        ({step_field("a", "status"): "succeeded"}, None),
        ({}, NewEvent("step.progress", step="a", data={"n": 1})),
    ]

    ids = await store.apply_many(job_id, writes)

    events = (await store.read_events(job_id))[1:]
    job = await store.get_job(job_id)
    assert ids[2] is None
    assert [e.id for e in events] == [ids[0], ids[1], ids[3]]
    assert [(e.seq, e.type) for e in events] == [
        (2, "job.started"),
        (3, "step.started"),
        (4, "step.progress"),
    ]
    assert job is not None and job.steps["a"].status == "succeeded"


async def test_apply_many_mixes_writes_and_checkpoints_and_skips_an_existing_checkpoint(
    store: RedisStateStore,
) -> None:
    job_id = await running_job(store)
    await store.checkpoint(job_id, "a", b"old", {}, succeeded("a"), worker_id="w1")
    writes: list[Any] = [
        ({step_field("b", "status"): "running"}, NewEvent("step.started", step="b", attempt=1)),
        Checkpoint("b", b"2", {step_field("b", "status"): "succeeded"}, succeeded("b")),
        Checkpoint("a", b"new", {step_field("a", "status"): "again"}, succeeded("a")),
        ({}, None),
    ]

    ids = await store.apply_many(job_id, writes, worker_id="w1")

    events = await store.read_events(job_id)
    assert ids[2] == "EXISTS" and ids[3] is None
    assert [e.id for e in events[-2:]] == ids[:2]
    assert [(e.type, e.step) for e in events[-2:]] == [("step.started", "b"),
                                                       ("step.succeeded", "b")]  # fmt: skip
    assert await store.load_checkpoints(job_id, ["a", "b"]) == {"a": b"old", "b": b"2"}
    job = await store.get_job(job_id)
    assert job is not None and "a" not in job.steps  # the skipped write set nothing


async def test_apply_many_of_no_writes_returns_an_empty_list(store: RedisStateStore) -> None:
    job_id = await new_job(store)

    assert await store.apply_many(job_id, []) == []


# --- checkpoint ----------------------------------------------------------------------------


async def test_checkpoint_writes_the_output_its_fields_and_its_event(
    store: RedisStateStore,
) -> None:
    job_id = await running_job(store)

    written = await store.checkpoint(
        job_id,
        "fetch",
        b'"hello"',
        {step_field("fetch", "status"): "succeeded", step_field("fetch", "finished_at"): 9.5},
        succeeded("fetch"),
        worker_id="w1",
    )

    job = await store.get_job(job_id)
    events = await store.read_events(job_id)
    assert written is True
    assert await store.load_checkpoints(job_id, ["fetch"]) == {"fetch": b'"hello"'}
    assert job is not None
    assert job.steps["fetch"].status == "succeeded"
    assert job.steps["fetch"].finished_at == 9.5
    assert (events[-1].type, events[-1].step, events[-1].attempt) == ("step.succeeded", "fetch", 1)


async def test_a_second_checkpoint_of_a_step_returns_false_and_changes_nothing(
    store: RedisStateStore,
) -> None:
    job_id = await running_job(store)
    await store.checkpoint(
        job_id, "fetch", b"1", {step_field("fetch", "attempt"): 1}, succeeded("fetch"),
        worker_id="w1",
    )  # fmt: skip
    events_before = await store.read_events(job_id)

    written = await store.checkpoint(
        job_id, "fetch", b"2", {step_field("fetch", "attempt"): 2}, succeeded("fetch"),
        worker_id="w1",
    )  # fmt: skip

    job = await store.get_job(job_id)
    assert written is False
    assert await store.load_checkpoints(job_id, ["fetch"]) == {"fetch": b"1"}
    assert await store.read_events(job_id) == events_before
    assert job is not None and job.steps["fetch"].attempt == 1


async def test_a_checkpoint_key_gets_the_state_ttl(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store)

    await store.checkpoint(job_id, "fetch", b"1", {}, succeeded("fetch"), worker_id="w1")

    assert 0 < await redis.ttl(keys.state(job_id, "fetch")) <= store.ttl_seconds


async def test_load_checkpoints_returns_only_the_steps_that_have_one(
    store: RedisStateStore,
) -> None:
    job_id = await running_job(store)
    await store.checkpoint(job_id, "a", b"[1]", {}, succeeded("a"), worker_id="w1")

    assert await store.load_checkpoints(job_id, ["a", "b"]) == {"a": b"[1]"}
    assert await store.load_checkpoints(job_id, []) == {}


# --- lease fencing -------------------------------------------------------------------------


async def test_update_by_a_worker_without_the_lease_raises_lease_lost_and_writes_nothing(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1")
    hash_before = await redis.hgetall(keys.job(job_id))
    events_before = await store.read_events(job_id)

    with pytest.raises(LeaseLostError) as info:
        await store.update(
            job_id, {"status": "failed"}, NewEvent("job.failed"), worker_id="intruder"
        )

    assert info.value.code == "lease_lost"
    assert isinstance(info.value, StateError)
    assert await redis.hgetall(keys.job(job_id)) == hash_before
    assert await store.read_events(job_id) == events_before


async def test_update_with_a_worker_id_on_a_job_with_no_lease_raises_lease_lost(
    store: RedisStateStore,
) -> None:
    job_id = await new_job(store)

    with pytest.raises(LeaseLostError):
        await store.update(job_id, {"status": "running"}, worker_id="w1")

    job = await store.get_job(job_id)
    assert job is not None and job.status is JobStatus.QUEUED


async def test_checkpoint_by_a_worker_without_the_lease_raises_lease_lost_and_writes_nothing(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1")
    hash_before = await redis.hgetall(keys.job(job_id))
    events_before = await store.read_events(job_id)

    with pytest.raises(LeaseLostError) as info:
        await store.checkpoint(
            job_id,
            "fetch",
            b"1",
            {step_field("fetch", "status"): "succeeded"},
            succeeded("fetch"),
            worker_id="intruder",
        )

    assert info.value.code == "lease_lost"
    assert await redis.exists(keys.state(job_id, "fetch")) == 0
    assert await redis.hgetall(keys.job(job_id)) == hash_before
    assert await store.read_events(job_id) == events_before


async def test_apply_many_by_a_worker_without_the_lease_raises_lease_lost_and_writes_nothing(
    store: RedisStateStore,
) -> None:
    job_id = await running_job(store, worker_id="w1")
    events_before = await store.read_events(job_id)

    with pytest.raises(LeaseLostError):
        await store.apply_many(
            job_id, [({"x": 1}, NewEvent("step.started", step="a"))], worker_id="intruder"
        )

    assert await store.read_events(job_id) == events_before


async def test_writes_by_the_lease_holder_succeed(store: RedisStateStore) -> None:
    job_id = await running_job(store, worker_id="w1")

    event_id = await store.update(
        job_id, {"x": 1}, NewEvent("step.started", step="a"), worker_id="w1"
    )

    assert event_id is not None


# --- acquire_lease, renew_lease, release_lease -----------------------------------------------


async def test_acquire_lease_on_a_queued_job_answers_ok_and_indexes_the_job_by_deadline(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await new_job(store)
    before_ms = int(time.time() * 1000)

    answer = await store.acquire_lease(job_id, "w1", 30.0)

    after_ms = int(time.time() * 1000)
    deadline = await redis.zscore(keys.leases(), job_id)
    assert answer == "OK"
    assert await redis.get(keys.lease(job_id)) == b"w1"
    assert 0 < await redis.pttl(keys.lease(job_id)) <= 30_000
    assert deadline is not None
    assert before_ms + 30_000 <= deadline <= after_ms + 30_000


async def test_acquire_lease_held_by_another_live_worker_answers_held(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await new_job(store)
    await store.acquire_lease(job_id, "w1", 30.0)

    assert await store.acquire_lease(job_id, "w2", 30.0) == "HELD"
    assert await redis.get(keys.lease(job_id)) == b"w1"


async def test_acquire_lease_again_by_its_holder_answers_ok(store: RedisStateStore) -> None:
    job_id = await new_job(store)
    await store.acquire_lease(job_id, "w1", 30.0)

    assert await store.acquire_lease(job_id, "w1", 30.0) == "OK"


async def test_acquire_lease_of_an_unknown_job_answers_missing(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = str(uuid.uuid4())

    assert await store.acquire_lease(job_id, "w1", 30.0) == "MISSING"
    assert await redis.exists(keys.lease(job_id)) == 0


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
async def test_acquire_lease_of_a_finished_job_answers_its_terminal_status(
    store: RedisStateStore, redis: Redis, keys: Keys, status: JobStatus
) -> None:
    job_id = await new_job(store)
    await store.finish(job_id, status, [], {}, None)

    assert await store.acquire_lease(job_id, "w1", 30.0) == status.value
    assert await redis.exists(keys.lease(job_id)) == 0


async def test_acquire_lease_after_the_previous_lease_lapsed_answers_ok(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=0.3)
    await lapse(redis, keys, job_id)

    assert await store.acquire_lease(job_id, "w2", 30.0) == "OK"
    assert await redis.get(keys.lease(job_id)) == b"w2"


async def test_renew_lease_by_its_holder_answers_ok_and_extends_it(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=1.0)

    answer = await store.renew_lease(job_id, "w1", 60.0)

    assert answer == "OK"
    assert 1_000 < await redis.pttl(keys.lease(job_id)) <= 60_000
    deadline = await redis.zscore(keys.leases(), job_id)
    assert deadline is not None and deadline > time.time() * 1000 + 1_000


async def test_renew_lease_answers_cancel_after_a_cancel_is_requested_on_a_running_job(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=1.0)
    assert await store.request_cancel(job_id, {"by": "test"}) == "requested"

    answer = await store.renew_lease(job_id, "w1", 60.0)

    assert answer == "CANCEL"
    assert await redis.pttl(keys.lease(job_id)) > 1_000


async def test_renew_lease_answers_lost_after_another_worker_takes_over(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=0.3)
    await lapse(redis, keys, job_id)
    assert await store.acquire_lease(job_id, "w2", 30.0) == "OK"

    answer = await store.renew_lease(job_id, "w1", 30.0)

    assert answer == "LOST"
    assert await redis.get(keys.lease(job_id)) == b"w2"
    with pytest.raises(LeaseLostError):
        await store.update(job_id, {"x": 1}, worker_id="w1")


async def test_renew_lease_of_a_lapsed_lease_answers_lost(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=0.3)
    await lapse(redis, keys, job_id)

    assert await store.renew_lease(job_id, "w1", 30.0) == "LOST"
    assert await redis.exists(keys.lease(job_id)) == 0


async def test_release_lease_frees_the_lease_and_drops_the_job_from_the_index(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1")

    await store.release_lease(job_id, "w1")

    assert await redis.exists(keys.lease(job_id)) == 0
    assert await redis.zscore(keys.leases(), job_id) is None
    assert await store.acquire_lease(job_id, "w2", 30.0) == "OK"


async def test_release_lease_by_another_worker_leaves_the_holders_lease(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1")

    await store.release_lease(job_id, "w2")

    assert await redis.get(keys.lease(job_id)) == b"w1"


# --- claim_lapsed --------------------------------------------------------------------------


async def test_claim_lapsed_claims_a_job_whose_lease_expired_exactly_once_when_racing(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=0.3)
    await lapse(redis, keys, job_id)
    now_ms = int(time.time() * 1000)

    first, second = await asyncio.gather(
        store.claim_lapsed(now_ms=now_ms, claim_seconds=30.0),
        store.claim_lapsed(now_ms=now_ms, claim_seconds=30.0),
    )

    assert [*first, *second] == [Lapsed(job_id, f"arq-{job_id}")]
    assert await redis.zscore(keys.leases(), job_id) == now_ms + 30_000
    assert await store.claim_lapsed(now_ms=now_ms + 1_000, claim_seconds=30.0) == []


async def test_claim_lapsed_returns_the_stored_arq_job_id(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await new_job(store, arq_job_id="arq-original")
    await store.acquire_lease(job_id, "w1", 0.3)
    await store.update(job_id, {"status": "running"}, worker_id="w1")
    await lapse(redis, keys, job_id)

    claimed = await store.claim_lapsed(now_ms=int(time.time() * 1000), claim_seconds=30.0)

    assert claimed == [Lapsed(job_id, "arq-original")]


async def test_claim_lapsed_can_claim_again_after_the_claim_window(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=0.3)
    await lapse(redis, keys, job_id)
    now_ms = int(time.time() * 1000)
    await store.claim_lapsed(now_ms=now_ms, claim_seconds=10.0)

    later = await store.claim_lapsed(now_ms=now_ms + 10_001, claim_seconds=10.0)

    assert later == [Lapsed(job_id, f"arq-{job_id}")]


async def test_claim_lapsed_skips_a_job_whose_lease_is_alive(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=30.0)
    # A reaper whose clock is past the deadline must still see that the lease key exists.
    far_future_ms = int(time.time() * 1000) + 120_000

    assert await store.claim_lapsed(now_ms=far_future_ms, claim_seconds=30.0) == []
    assert await redis.get(keys.lease(job_id)) == b"w1"


async def test_claim_lapsed_drops_a_waiting_job_from_the_index_without_claiming_it(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=0.3)
    await store.update(job_id, {"status": JobStatus.WAITING.value})
    await lapse(redis, keys, job_id)

    claimed = await store.claim_lapsed(now_ms=int(time.time() * 1000), claim_seconds=30.0)

    assert claimed == []
    assert await redis.zscore(keys.leases(), job_id) is None


async def test_claim_lapsed_returns_an_ended_job_whose_worker_died_before_freeing_the_lease(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    # The worker published the terminal event, then died before its trace row was written.
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=0.3)
    await store.finish(job_id, JobStatus.SUCCEEDED, [], {}, None, worker_id="w1")
    await lapse(redis, keys, job_id)
    now_ms = int(time.time() * 1000)

    claimed = await store.claim_lapsed(now_ms=now_ms, claim_seconds=30.0)

    assert claimed == [Lapsed(job_id, "", ended=True)]
    assert await redis.zscore(keys.leases(), job_id) == now_ms + 30_000  # until it is recorded
    await store.release_lease(job_id, "")
    assert await redis.zscore(keys.leases(), job_id) is None


async def test_claim_lapsed_takes_the_live_leases_of_its_own_stable_worker_id_only(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    mine = await running_job(store, worker_id="pod-0", lease_ttl_seconds=30.0)
    theirs = await running_job(store, worker_id="pod-1", lease_ttl_seconds=30.0)
    now_ms = int(time.time() * 1000)

    claimed = await store.claim_lapsed(now_ms=now_ms, claim_seconds=30.0, own_worker_id="pod-0")

    assert claimed == [Lapsed(mine, f"arq-{mine}")]
    assert await redis.exists(keys.lease(mine)) == 0  # any worker may take the resumed job
    assert await redis.get(keys.lease(theirs)) == b"pod-1"
    assert await store.claim_lapsed(now_ms=now_ms, claim_seconds=30.0, own_worker_id="") == []


# --- finish --------------------------------------------------------------------------------


async def test_finish_sets_the_status_and_publishes_the_terminal_event(
    store: RedisStateStore,
) -> None:
    job_id = await running_job(store, worker_id="w1")
    result = {"render": "done"}

    event_id = await store.finish(
        job_id,
        JobStatus.SUCCEEDED,
        [],
        {"result": dumps(result).decode()},
        {"result": result},
        worker_id="w1",
    )

    job = await store.get_job(job_id)
    last = (await store.read_events(job_id))[-1]
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED
    assert job.result == result
    assert job.finished_at is not None
    assert last.id == event_id
    assert (last.type, last.step, last.attempt, last.data) == (
        "job.succeeded",
        None,
        None,
        {"result": result},
    )
    assert last.is_terminal


async def test_finish_gives_the_job_its_events_and_every_listed_checkpoint_the_state_ttl(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1")
    for name in ("a", "b"):
        await store.checkpoint(job_id, name, b"1", {}, succeeded(name), worker_id="w1")
    ended = [
        keys.job(job_id),
        keys.events(job_id),
        keys.state(job_id, "a"),
        keys.state(job_id, "b"),
    ]
    # Drop the TTLs set on write, so the ones observed below can only come from finish().
    for key in ended:
        assert await redis.persist(key)

    await store.finish(job_id, JobStatus.FAILED, ["a", "b"], {}, {"error": "x"}, worker_id="w1")

    for key in ended:
        assert 0 < await redis.ttl(key) <= store.ttl_seconds, key


async def test_finish_keeps_the_lease_until_the_worker_releases_it_after_the_trace_row(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1")

    await store.finish(job_id, JobStatus.SUCCEEDED, [], {}, None, worker_id="w1")

    assert await redis.get(keys.lease(job_id)) == b"w1"
    assert await redis.zscore(keys.leases(), job_id) is not None
    await store.release_lease(job_id, "w1")
    assert await redis.exists(keys.lease(job_id)) == 0
    assert await redis.zscore(keys.leases(), job_id) is None


async def test_finish_by_a_worker_without_the_lease_raises_lease_lost_and_writes_nothing(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1")
    events_before = await store.read_events(job_id)

    with pytest.raises(LeaseLostError):
        await store.finish(job_id, JobStatus.FAILED, [], {}, None, worker_id="intruder")

    job = await store.get_job(job_id)
    assert job is not None and job.status is JobStatus.RUNNING
    assert await store.read_events(job_id) == events_before
    assert await redis.get(keys.lease(job_id)) == b"w1"


# --- request_cancel ------------------------------------------------------------------------


async def test_request_cancel_of_a_queued_job_cancels_it_and_publishes_job_cancelled(
    store: RedisStateStore,
) -> None:
    job_id = await new_job(store)

    answer = await store.request_cancel(job_id, {"by": "alice"})

    job = await store.get_job(job_id)
    events = await store.read_events(job_id)
    assert answer == "now_cancelled"
    assert job is not None
    assert job.status is JobStatus.CANCELLED
    assert job.finished_at is not None
    assert [(e.type, e.seq) for e in events] == [("job.queued", 1), ("job.cancelled", 2)]
    assert events[-1].data == {"by": "alice"}


async def test_request_cancel_of_a_running_job_answers_requested_and_flags_it(
    store: RedisStateStore,
) -> None:
    job_id = await running_job(store)
    events_before = await store.read_events(job_id)

    answer = await store.request_cancel(job_id, None)

    job = await store.get_job(job_id)
    assert answer == "requested"
    assert job is not None
    assert job.status is JobStatus.RUNNING
    assert job.cancel_requested is True
    assert await store.read_events(job_id) == events_before


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
async def test_request_cancel_of_a_finished_job_answers_its_terminal_status(
    store: RedisStateStore, status: JobStatus
) -> None:
    job_id = await new_job(store)
    await store.finish(job_id, status, [], {}, None)
    events_before = await store.read_events(job_id)

    assert await store.request_cancel(job_id, None) == status.value
    assert await store.read_events(job_id) == events_before


async def test_request_cancel_of_an_unknown_job_answers_missing_and_creates_nothing(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = str(uuid.uuid4())

    assert await store.request_cancel(job_id, None) == "missing"
    assert await redis.exists(keys.job(job_id), keys.events(job_id)) == 0


# --- read_events, wait_events, trimming ----------------------------------------------------


async def test_read_events_after_an_id_returns_only_later_events(store: RedisStateStore) -> None:
    job_id = await new_job(store)
    ids = [
        await store.update(job_id, {}, NewEvent("step.progress", step="a", data=i))
        for i in range(3)
    ]

    later = await store.read_events(job_id, after=ids[0])

    assert [e.id for e in later] == ids[1:]
    assert [e.data for e in later] == [1, 2]
    assert await store.read_events(job_id, after=ids[-1]) == []


async def test_read_events_returns_at_most_count_events_from_the_start(
    store: RedisStateStore,
) -> None:
    job_id = await new_job(store)
    for i in range(4):
        await store.update(job_id, {}, NewEvent("step.progress", data=i))

    first_two = await store.read_events(job_id, count=2)

    assert [e.seq for e in first_two] == [1, 2]


async def test_read_events_of_an_unknown_job_is_empty(store: RedisStateStore) -> None:
    assert await store.read_events(str(uuid.uuid4())) == []


async def test_read_events_after_a_malformed_id_raises_state_error(
    store: RedisStateStore,
) -> None:
    job_id = await new_job(store)

    with pytest.raises(StateError) as info:
        await store.read_events(job_id, after="not-an-id")

    assert info.value.code == "state_unavailable"


async def test_wait_events_returns_nothing_after_its_timeout_when_no_event_comes(
    store: RedisStateStore,
) -> None:
    job_id = await new_job(store)
    last = (await store.read_events(job_id))[-1].id

    async with asyncio.timeout(BOUND_SECONDS):
        assert await store.wait_events(job_id, last, timeout_seconds=0.2) == []


async def test_wait_events_returns_an_event_published_while_it_waits(
    store: RedisStateStore,
) -> None:
    job_id = await new_job(store)
    last = (await store.read_events(job_id))[-1].id
    waiter = asyncio.create_task(store.wait_events(job_id, last, timeout_seconds=BOUND_SECONDS))

    event_id = await store.update(job_id, {}, NewEvent("step.chunk", step="a", data="hello"))

    async with asyncio.timeout(BOUND_SECONDS):
        got = await waiter
    assert [(e.id, e.type, e.data) for e in got] == [(event_id, "step.chunk", "hello")]


async def test_wait_events_returns_stored_events_after_the_id_at_once(
    store: RedisStateStore,
) -> None:
    job_id = await new_job(store)
    first = (await store.read_events(job_id))[0].id
    event_id = await store.update(job_id, {}, NewEvent("step.progress", data=1))

    async with asyncio.timeout(BOUND_SECONDS):
        got = await store.wait_events(job_id, first, timeout_seconds=BOUND_SECONDS)

    assert [e.id for e in got] == [event_id]


async def test_events_maxlen_trims_the_stream_approximately_keeping_the_newest(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    maxlen = 10
    small = RedisStateStore(redis, keys=keys, ttl_seconds=store.ttl_seconds, events_maxlen=maxlen)
    job_id = await new_job(small)
    config = await redis.config_get("stream-node-max-entries")
    node_entries = int(
        config.get(b"stream-node-max-entries") or config.get("stream-node-max-entries") or 100
    )
    published = 3 * node_entries

    await small.apply_many(
        job_id, [({}, NewEvent("step.chunk", step="a", data=i)) for i in range(published)]
    )

    length = await redis.xlen(keys.events(job_id))
    events = await small.read_events(job_id)
    assert maxlen <= length <= maxlen + node_entries
    assert events[-1].data == published - 1
    assert events[-1].seq == published + 1
    assert [e.seq for e in events] == list(range(events[0].seq, published + 2))


async def test_an_event_round_trips_to_the_wire_shape(store: RedisStateStore) -> None:
    job_id = await new_job(store)

    event = (await store.read_events(job_id))[0]

    assert isinstance(event, Event)
    assert set(event.to_dict()) == {"id", "job_id", "type", "step", "attempt", "seq", "ts", "data"}
    assert event.ts == pytest.approx(time.time(), abs=60)


async def test_ping_succeeds_against_a_live_redis(store: RedisStateStore) -> None:
    await store.ping()


async def test_release_lease_by_a_worker_that_lost_the_lease_keeps_the_new_owner_indexed(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=0.3)
    await lapse(redis, keys, job_id)
    assert await store.acquire_lease(job_id, "w2", 30.0) == "OK"

    # The executor releases in a ``finally`` even after LeaseLostError (worker/executor.py).
    await store.release_lease(job_id, "w1")

    assert await redis.get(keys.lease(job_id)) == b"w2"
    assert await redis.zscore(keys.leases(), job_id) is not None


async def test_a_job_whose_new_owner_dies_right_after_the_old_owner_released_is_still_claimed(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1", lease_ttl_seconds=0.3)
    await lapse(redis, keys, job_id)
    assert await store.acquire_lease(job_id, "w2", 0.3) == "OK"
    await store.release_lease(job_id, "w1")

    await lapse(redis, keys, job_id)  # w2 dies before its first heartbeat
    claimed = await store.claim_lapsed(now_ms=int(time.time() * 1000), claim_seconds=30.0)

    assert claimed == [Lapsed(job_id, f"arq-{job_id}")]


# --- pickup --------------------------------------------------------------------------------


async def test_pickup_returns_the_job_and_takes_its_lease_in_one_call(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await new_job(store)

    state, answer = await store.pickup(job_id, "w1", 30.0)

    assert answer == "OK"
    assert state is not None and state.job_id == job_id and state.status is JobStatus.QUEUED
    assert await redis.get(keys.lease(job_id)) == b"w1"
    assert await redis.zscore(keys.leases(), job_id) is not None


async def test_pickup_of_a_job_held_elsewhere_returns_it_without_the_lease(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    job_id = await running_job(store, worker_id="w1")

    state, answer = await store.pickup(job_id, "w2", 30.0)

    assert answer == "HELD"
    assert state is not None and state.status is JobStatus.RUNNING
    assert await redis.get(keys.lease(job_id)) == b"w1"


async def test_pickup_of_an_ended_or_unknown_job_takes_no_lease(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    ended = await new_job(store)
    await store.update(ended, {"status": JobStatus.SUCCEEDED.value})

    state, answer = await store.pickup(ended, "w1", 30.0)
    missing, gone = await store.pickup(str(uuid.uuid4()), "w1", 30.0)

    assert answer == "succeeded" and state is not None
    assert await redis.exists(keys.lease(ended)) == 0
    assert (missing, gone) == (None, "MISSING")


async def test_release_leases_frees_many_in_one_call_but_never_another_workers(
    store: RedisStateStore, redis: Redis, keys: Keys
) -> None:
    mine = [await running_job(store, worker_id="w1") for _ in range(3)]
    theirs = await running_job(store, worker_id="w2")

    await store.release_leases([*((j, "w1") for j in mine), (theirs, "w1")])

    for job_id in mine:
        assert await redis.exists(keys.lease(job_id)) == 0
        assert await redis.zscore(keys.leases(), job_id) is None
    assert await redis.get(keys.lease(theirs)) == b"w2"
    assert await redis.zscore(keys.leases(), theirs) is not None
