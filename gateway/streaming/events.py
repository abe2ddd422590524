"""Replay a job's stored events, then follow new ones until the terminal event (DESIGN §6).

A client that connects late or reconnects with ``Last-Event-ID`` gets everything after that id,
and no event twice on one connection: the cursor only moves forward.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from orchestrator.errors import InputValidationError
from orchestrator.events import Event, parse_stream_id
from orchestrator.state.base import StateStore
from orchestrator.types import JobId

REPLAY_BATCH = 500
FOLLOW_BLOCK_SECONDS = 5.0


def check_event_id(value: str | None) -> str | None:
    """Validate a ``Last-Event-ID``.

    Raises:
        InputValidationError: Not a stream id (``<ms>-<n>``); code ``inputs_invalid``.
    """
    if value is None or value == "":
        return None
    try:
        parse_stream_id(value)
    except ValueError:
        raise InputValidationError(
            f"Last-Event-ID {value!r} is not an event id",
            details={"errors": [{"parameter": "Last-Event-ID", "type": "event_id",
                                 "message": "expected <ms>-<n>"}]},
        ) from None
    return value


async def job_events(
    store: StateStore, job_id: JobId, after: str | None = None
) -> AsyncIterator[Event]:
    """Yield the job's events after ``after`` (all when ``None``), ending after the terminal one.

    Ends early, without a terminal event, when the job's state has expired from Redis, and right
    after the replay when the job had already ended (the terminal status and event are written
    together, so a job seen ended has its terminal event stored).
    """
    state = await store.get_job(job_id)
    ended = state is None or state.status.is_terminal
    cursor = after
    while True:
        batch = await store.read_events(job_id, after=cursor, count=REPLAY_BATCH)
        for event in batch:
            yield event
            cursor = event.id
            if event.is_terminal:
                return
        if len(batch) < REPLAY_BATCH:
            break
    if ended:
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


__all__ = ["check_event_id", "job_events"]
