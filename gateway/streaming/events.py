"""Replay a job's stored events, then follow new ones until the terminal event (DESIGN §6).

A client that connects late or reconnects with ``Last-Event-ID`` gets everything after that id,
and no event twice on one connection: the cursor only moves forward.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from gateway.streaming.hub import IDLE, StreamHub, Subscription
from orchestrator.errors import InputValidationError
from orchestrator.events import Event, parse_stream_id
from orchestrator.state.base import StateStore
from orchestrator.types import JobId

_STREAM_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?", re.ASCII)
_MAX_ID_PART = 2**64 - 1
REPLAY_BATCH = 500
FOLLOW_BLOCK_SECONDS = 5.0


def check_event_id(value: str | None) -> str | None:
    """Validate a ``Last-Event-ID``.

    Raises:
        InputValidationError: Not a stream id (``<ms>-<n>``, each an unsigned 64-bit number);
            code ``inputs_invalid``, ``details["errors"][0]["parameter"] == "Last-Event-ID"``.
    """
    if value is None or value == "":
        return None
    # Redis stream ids are two unsigned 64-bit numbers; anything else makes XRANGE fail.
    if _STREAM_ID.fullmatch(value) is None or max(parse_stream_id(value)) > _MAX_ID_PART:
        raise InputValidationError(
            f"Last-Event-ID {value!r} is not an event id",
            details={"errors": [{"parameter": "Last-Event-ID", "type": "event_id",
                                 "message": "expected <ms>-<n>"}]},
        )
    return value


async def job_events(
    store: StateStore, job_id: JobId, after: str | None = None, hub: StreamHub | None = None
) -> AsyncIterator[Event]:
    """Yield the job's events after ``after`` (all when ``None``), ending after the terminal one.

    The live part comes from the gateway's :class:`StreamHub` when given (one Redis reader per
    job, whatever the number of clients), else from this client's own blocking reads. Ends
    early, without a terminal event, when the job's state has expired from Redis, and right
    after the replay when the job had already ended (the terminal status and event are written
    together, so a job seen ended has its terminal event stored). A terminal event followed by
    more events (the job was retried) does not end the stream.
    """
    if hub is None:
        async for event in _follow_alone(store, job_id, after):
            yield event
        return
    async with hub.subscribe(job_id) as sub:
        state = await store.get_job(job_id)
        ended = state is None or state.status.is_terminal
        cursor = after
        last: Event | None = None
        async for event, final in _replay(store, job_id, after, ended):
            yield event
            cursor, last = event.id, event
            if final:
                return
        if ended or await _ended_with(store, job_id, last):
            return
        seen = parse_stream_id(cursor) if cursor else (0, 0)
        while (live := await sub.next()) is not None:
            if parse_stream_id(live.id) <= seen:
                continue  # already replayed
            yield live
            if live.is_terminal:
                return


async def job_event_batches(
    store: StateStore,
    job_id: JobId,
    after: str | None = None,
    hub: StreamHub | None = None,
    *,
    new_job: bool = False,
) -> AsyncIterator[tuple[list[Event], bool]]:
    """:func:`job_events` in batches: the events that are ready together (a replayed page, or
    the live events queued behind the one awaited), in order, each once; an empty batch means
    nothing came for a while (time for a keep-alive). Ends as :func:`job_events` does.

    Yields ``(batch, final)``: ``final`` when nothing follows the batch (it ends with the
    terminal event that ends the stream), so that a transport can end its response in the
    same write. A stream that ends otherwise (the job's state expired) ends after a batch
    not marked final.

    A transport writes a batch in one send: 100 clients of a job yielding a chunk per
    millisecond cost a send per client per batch, not per event.

    With ``new_job`` (the caller has just created the job, ``after`` is ``None``) and a hub, the
    job's feed reads it from its first event and nothing is replayed: the stream's set-up is no
    round trip instead of three (its last id, the job's state, the stored events).
    """
    if hub is None:
        async for event in job_events(store, job_id, after):
            yield [event], False
        return
    async with hub.subscribe(job_id, from_start=new_job and after is None) as sub:
        if new_job and after is None and sub.position == "0-0":
            async for live in _live_batches(sub, (0, 0)):
                yield live
            return
        state = await store.get_job(job_id)
        ended = state is None or state.status.is_terminal
        cursor = after
        last: Event | None = None
        batch: list[Event] = []
        async for event, final in _replay(store, job_id, after, ended):
            batch.append(event)
            cursor, last = event.id, event
            if final:
                yield batch, True
                return
            if len(batch) >= REPLAY_BATCH:
                yield batch, False
                batch = []
        if batch:
            yield batch, False
        if ended or await _ended_with(store, job_id, last):
            return
        async for live in _live_batches(sub, parse_stream_id(cursor) if cursor else (0, 0)):
            yield live


async def _live_batches(
    sub: Subscription, seen: tuple[int, int]
) -> AsyncIterator[tuple[list[Event], bool]]:
    """The subscriber's live events after stream id ``seen``, in batches, until the terminal
    event (its batch is final) or the feed's end; an empty batch when the feed was idle."""
    while True:
        batch: list[Event] = []
        for item in await sub.next_batch():
            if item is None:
                if batch:
                    yield batch, False
                return
            if item is IDLE:
                continue
            assert isinstance(item, Event)
            position = parse_stream_id(item.id)
            if position <= seen:
                continue  # already replayed (or sent)
            seen = position
            batch.append(item)
            if item.is_terminal:
                yield batch, True
                return
        yield batch, False


async def _replay(
    store: StateStore, job_id: JobId, after: str | None, ended: bool
) -> AsyncIterator[tuple[Event, bool]]:
    """Stored events after ``after``, each with whether it ends the stream."""
    cursor = after
    while True:
        batch = await store.read_events(job_id, after=cursor, count=REPLAY_BATCH)
        for i, event in enumerate(batch):
            last_stored = i == len(batch) - 1 and len(batch) < REPLAY_BATCH
            yield event, event.is_terminal and last_stored and ended
            cursor = event.id
        if len(batch) < REPLAY_BATCH:
            return


async def _ended_with(store: StateStore, job_id: JobId, last: Event | None) -> bool:
    """Whether the replay's last event ended the job (it may have ended during the replay)."""
    if last is None or not last.is_terminal:
        return False
    state = await store.get_job(job_id)
    return state is None or state.status.is_terminal


async def _follow_alone(
    store: StateStore, job_id: JobId, after: str | None
) -> AsyncIterator[Event]:
    state = await store.get_job(job_id)
    ended = state is None or state.status.is_terminal
    cursor = after
    last: Event | None = None
    async for event, final in _replay(store, job_id, after, ended):
        yield event
        cursor, last = event.id, event
        if final:
            return
    if ended or await _ended_with(store, job_id, last):
        return
    position = cursor or "0-0"
    while True:
        batch = await store.wait_events(job_id, position, timeout_seconds=FOLLOW_BLOCK_SECONDS)
        if not batch:
            if await store.get_job(job_id) is None:
                return
            continue
        for event in batch:
            yield event
            position = event.id
            if event.is_terminal:
                return


__all__ = ["check_event_id", "job_event_batches", "job_events"]
