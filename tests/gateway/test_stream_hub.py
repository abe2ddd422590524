"""The stream hub: one Redis reader per job for all its clients, gapless; retried jobs' streams."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from gateway.streaming.events import job_event_batches, job_events
from gateway.streaming.hub import StreamHub
from orchestrator.config import Settings
from orchestrator.state.base import NewEvent
from orchestrator.types import JobStatus
from tests.conftest import wait_until
from tests.support.jobs import submit, wait_for_end
from tests.support.stack import in_process_stack
from tests.worker import control_flows as flows

SettingsFactory = Callable[..., Settings]


async def test_a_hundred_clients_of_one_job_share_one_feed_and_each_gets_every_event_once(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        store = stack.services.state
        hub = StreamHub(store)
        job_id = str(uuid.uuid4())
        await store.create_job(job_id, workflow="w", version="", inputs={},
                               created_at=time.time(), arq_job_id=job_id)
        await store.update(job_id, {"status": "running"}, NewEvent("job.started"))

        clients = [
            asyncio.ensure_future(_collect(job_events(store, job_id, None, hub)))
            for _ in range(100)
        ]

        async def all_subscribed() -> bool:
            feed = hub._feeds.get(job_id)
            return feed is not None and len(feed.subscribers) == 100
        await wait_until(all_subscribed, what="100 subscribers on one feed")
        assert len(hub._feeds) == 1
        for i in range(50):
            await store.update(job_id, {}, NewEvent("step.chunk", "s", 1, f"c{i}"))
        await store.finish(job_id, JobStatus.SUCCEEDED, [], {}, {"result": {}})
        received = await asyncio.wait_for(asyncio.gather(*clients), 10)

        expected = [e.id for e in await store.read_events(job_id)]
        assert len(expected) == 53
        assert all([e.id for e in events] == expected for events in received)
        assert hub._feeds == {}  # the feed stopped with its last subscriber


async def test_the_stream_of_a_retried_job_goes_on_past_its_first_end(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "retryable")
        await wait_for_end(stack.services, job_id)
        retried = await stack.client.post(f"/v1/jobs/{job_id}/retry")
        assert retried.status_code == 202
        hub = StreamHub(stack.services.state)
        events = await asyncio.wait_for(
            _collect(job_events(stack.services.state, job_id, None, hub)), 10
        )
        kinds = [e.type for e in events if e.type.startswith("job.")]
        assert kinds == ["job.queued", "job.started", "job.failed", "job.queued", "job.started",
                         "job.succeeded"]


async def _collect(events):  # type: ignore[no-untyped-def]
    return [e async for e in events]


async def test_batched_delivery_keeps_every_event_once_in_order_for_slow_and_fast_clients(
    isolated_settings: SettingsFactory,
) -> None:
    """The SSE path's batches (``job_event_batches``): a client that reads while events arrive
    and one that starts reading only after many are queued behind it both get the stored
    stream exactly, once each, in order; a batch never ends past the terminal event."""
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        store = stack.services.state
        hub = StreamHub(store)
        job_id = str(uuid.uuid4())
        await store.create_job(job_id, workflow="w", version="", inputs={},
                               created_at=time.time(), arq_job_id=job_id)
        await store.update(job_id, {"status": "running"}, NewEvent("job.started"))
        fast = job_event_batches(store, job_id, None, hub)
        slow = job_event_batches(store, job_id, None, hub)
        first_fast, final_fast = await anext(fast)  # the replay: both subscribed, caught up
        first_slow, final_slow = await anext(slow)
        assert not final_fast and not final_slow  # the job runs: more follows
        fast_task = asyncio.ensure_future(_collect_batches(fast))
        for i in range(300):
            await store.update(job_id, {}, NewEvent("step.chunk", "s", 1, f"c{i}"))
        await store.finish(job_id, JobStatus.SUCCEEDED, [], {}, {"result": {}})
        slow_batches = await asyncio.wait_for(_collect_batches(slow), 10)
        fast_batches = await asyncio.wait_for(fast_task, 10)

        expected = [e.id for e in await store.read_events(job_id)]
        for first, batches in ((first_fast, fast_batches), (first_slow, slow_batches)):
            ids = [e.id for batch in [first, *batches] for e in batch]
            assert ids == expected
            assert batches[-1][-1].is_terminal
        assert max(len(b) for b in slow_batches) > 1  # it was behind: events came together
        frame = slow_batches[-1][-1].sse_frame()
        assert frame.startswith(f"id: {expected[-1]}\ndata: {{".encode()) and frame.endswith(b"}\n\n")
        assert frame.count(b"\n") == 3


async def test_a_new_jobs_stream_reads_from_its_first_event_without_a_replay(
    isolated_settings: SettingsFactory,
) -> None:
    """A submit answered with SSE (``new_job``): the job's feed starts at its first event, so
    every event arrives live and nothing is read back; a second client of the same job, whose
    feed already exists, still gets every event (it replays)."""
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        store = stack.services.state
        hub = StreamHub(store)
        job_id = str(uuid.uuid4())
        await store.create_job(job_id, workflow="w", version="", inputs={},
                               created_at=time.time(), arq_job_id=job_id)
        first = asyncio.ensure_future(
            _collect_batches(job_event_batches(store, job_id, None, hub, new_job=True)))
        async def has_feed() -> bool:
            return job_id in hub._feeds

        await wait_until(has_feed, what="the new job's feed")
        feed = hub._feeds[job_id]

        async def read_queued() -> bool:
            return feed.position != "0-0"

        await wait_until(read_queued, what="the feed read job.queued")
        second = asyncio.ensure_future(
            _collect_batches(job_event_batches(store, job_id, None, hub, new_job=True)))
        async def two() -> bool:
            return len(feed.subscribers) == 2

        await wait_until(two, what="two subscribers")
        await store.update(job_id, {"status": "running"}, NewEvent("job.started"))
        await store.finish(job_id, JobStatus.SUCCEEDED, [], {}, {"result": {}})
        batches = await asyncio.wait_for(asyncio.gather(first, second), 10)

    ids = [[e.id for batch in client for e in batch] for client in batches]
    assert ids[0] == ids[1] and len(ids[0]) == 3
    assert [e.type for batch in batches[0] for e in batch] == [
        "job.queued", "job.started", "job.succeeded"]


async def _collect_batches(batches):  # type: ignore[no-untyped-def]
    """The non-empty batches, checking that the last one, and only it, is marked final (it
    ends with the terminal event: the SSE response ends its body with it)."""
    got = [(batch, final) async for batch, final in batches if batch]
    assert [final for _, final in got] == [False] * (len(got) - 1) + [True]
    assert got[-1][0][-1].is_terminal
    return [batch for batch, _ in got]
