"""One Redis reader per job, shared by every client of that job that this gateway serves.

Each SSE or WebSocket client used to block on its own ``XREAD``: 100 clients of one job meant
100 Redis connections reading the same entries and 100 decodings of each. A :class:`StreamHub`
runs one follower task per job with subscribers; it decodes each entry once and hands the
:class:`Event` to every subscriber's queue.

Gapless by construction: a subscriber registers first and learns the feed's position ``P``
(the stream's last id when the feed started, or the last id it has read); it then replays from
Redis up to now, which covers everything up to ``P``; the feed delivers everything after ``P``;
the subscriber drops what it already replayed by id. A subscriber too slow to keep up
(``SUBSCRIBER_QUEUE_MAX`` events behind) is cut off: its client reconnects with
``Last-Event-ID`` and replays from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from redis.exceptions import RedisError

from orchestrator.errors import StateError
from orchestrator.events import Event
from orchestrator.state.redis import RedisStateStore
from orchestrator.types import JobId

log = structlog.get_logger("gateway.hub")

SUBSCRIBER_QUEUE_MAX = 10_000
FOLLOW_BLOCK_SECONDS = 5.0

_END = None  # queued to subscribers when the feed stops (job expired, or Redis failed)


class _Idle:
    """Queued to idle subscribers when a feed's read found nothing for a while (an SSE
    keep-alive comment is due)."""


IDLE = _Idle()

Item = Event | _Idle | None


class Subscription:
    """A subscriber's queue of live events; ``position`` is where its feed had read to."""

    def __init__(self, position: str) -> None:
        self.position = position
        self.queue: asyncio.Queue[Item] = asyncio.Queue(SUBSCRIBER_QUEUE_MAX)
        self.overflowed = False

    def offer(self, item: Item) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True

    def offer_idle(self) -> None:
        """Queue :data:`IDLE` unless something is queued already."""
        if self.queue.empty():
            self.offer(IDLE)

    async def next(self) -> Event | None:
        """The next live event; ``None`` when the feed ended or this subscriber fell behind."""
        while True:
            if self.overflowed and self.queue.empty():
                return None
            item = await self.queue.get()
            if not isinstance(item, _Idle):
                return item

    async def next_batch(self) -> list[Item]:
        """Wait for the next item, then take every item already queued behind it, in order
        (events, :data:`IDLE`, and ``None`` when the feed ended or this subscriber fell
        behind, which is then the last item)."""
        if self.overflowed and self.queue.empty():
            return [None]
        items = [await self.queue.get()]
        while items[-1] is not None and not self.queue.empty():
            items.append(self.queue.get_nowait())
        if items[-1] is not None and self.overflowed and self.queue.empty():
            items.append(None)
        return items


class _Feed:
    def __init__(self, store: RedisStateStore, job_id: JobId, position: str) -> None:
        self.store = store
        self.job_id = job_id
        self.position = position
        self.subscribers: set[Subscription] = set()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            while self.subscribers:
                events = await self.store.wait_events(
                    self.job_id, self.position, timeout_seconds=FOLLOW_BLOCK_SECONDS
                )
                if not events:
                    if await self.store.get_job(self.job_id) is None:
                        break  # the job's state expired: nothing more will come
                    for sub in list(self.subscribers):
                        sub.offer_idle()
                    continue
                for event in events:
                    self.position = event.id
                    for sub in list(self.subscribers):
                        sub.offer(event)
                if events[-1].is_terminal:
                    # Stop on our own: a feed cancelled while blocked in XREAD costs its Redis
                    # connection (redis-py drops it), so the next job's feed would reconnect.
                    # A retried job's later events get a new feed from its next subscriber.
                    break
        except (StateError, RedisError) as exc:
            log.warning("event feed failed", job_id=self.job_id, error=str(exc))
        finally:
            for sub in list(self.subscribers):
                sub.offer(_END)


class StreamHub:
    """Per-job event feeds of one gateway process.

    Args:
        store: The Redis state store.
    """

    def __init__(self, store: RedisStateStore) -> None:
        self.store = store
        self._feeds: dict[JobId, _Feed] = {}
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def subscribe(
        self, job_id: JobId, *, from_start: bool = False
    ) -> AsyncIterator[Subscription]:
        """Register for the job's live events (use before replaying stored ones).

        Args:
            job_id: The job.
            from_start: A new feed reads the job's events from its first one (position
                ``0-0``) instead of after its last stored one: for a job the caller has just
                created, whose events all come live, with no replay (and no read of the
                stream's last id). An existing feed is shared as it is: check
                ``Subscription.position``.

        Raises:
            StateError: Redis is unavailable.
        """
        async with self._lock:
            feed = self._feeds.get(job_id)
            if feed is None or feed.task is None or feed.task.done():
                position = "0-0" if from_start else await self._last_id(job_id)
                feed = _Feed(self.store, job_id, position)
                self._feeds[job_id] = feed
            sub = Subscription(feed.position)
            feed.subscribers.add(sub)
            if feed.task is None:
                feed.task = asyncio.get_running_loop().create_task(
                    feed.run(), name=f"feed:{job_id}"
                )
        try:
            yield sub
        finally:
            feed.subscribers.discard(sub)
            if not feed.subscribers:
                if feed.task is not None:
                    feed.task.cancel()
                if self._feeds.get(job_id) is feed:
                    del self._feeds[job_id]

    async def _last_id(self, job_id: JobId) -> str:
        try:
            last = await self.store.redis.xrevrange(self.store.keys.events(job_id), count=1)
        except RedisError as exc:
            raise StateError(f"Redis is unavailable: {exc}") from exc
        if not last:
            return "0-0"
        entry_id = last[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def close(self) -> None:
        """Stop every feed (gateway shutdown)."""
        for feed in list(self._feeds.values()):
            if feed.task is not None:
                feed.task.cancel()
        self._feeds.clear()


__all__ = ["IDLE", "StreamHub", "Subscription"]
