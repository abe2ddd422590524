"""A session's event stream: every event of its tasks, in order, in one id space (DESIGN §18).

A session event is its job event (DESIGN §6) plus ``session_id``, ``task_id`` and
``task_index``; its ``id`` is ``<task index>.<job stream id>`` (e.g. ``1.1733260000000-3``), so
ids grow across tasks and ``Last-Event-ID`` resumes in the middle of any task: the rest of that
task's events, then every later task's. Each task's events come from the job streams' own
machinery (:func:`gateway.streaming.events.job_events`: replay, then the stream hub live). The
stream never ends by itself: after the last task it waits for the next one (the session log).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gateway.streaming.events import check_event_id, job_events
from gateway.streaming.hub import StreamHub
from orchestrator.errors import InputValidationError
from orchestrator.jobs.actor import Actor
from orchestrator.serialization import dumps
from orchestrator.sessions import SessionService

WAIT_SECONDS = 5.0
"""How long one blocking read of the session log waits for a new task."""


def parse_session_event_id(value: str | None) -> tuple[int, str | None]:
    """``"<task index>.<stream id>"`` → ``(index, stream id)``; ``None`` → ``(0, None)``.

    Raises:
        InputValidationError: Not a session event id.
    """
    if not value:
        return 0, None
    index, _, job_id = value.partition(".")
    if not index.isdigit() or not job_id or len(index) > 9:
        raise InputValidationError(
            f"Last-Event-ID {value[:100]!r} is not a session event id",
            details={"errors": [{"parameter": "Last-Event-ID", "type": "event_id",
                                 "message": "expected <task index>.<ms>-<n>"}]},
        )  # fmt: skip
    return int(index), check_event_id(job_id)


async def session_events(
    sessions: SessionService,
    actor: Actor,
    session_id: str,
    after: str | None,
    hub: StreamHub | None,
) -> AsyncIterator[tuple[str, str]]:
    """Yield ``(id, event JSON)`` for every event of the session's tasks after ``after``.

    Raises:
        SessionNotFoundError: The session is gone (or not visible).
        InputValidationError: ``after`` is malformed.
    """
    index, job_after = parse_session_event_id(after)
    store = sessions.jobs.services.state
    while True:
        position = await sessions.store.log_position(session_id)  # before reading: no lost wakeup
        state = await sessions.get(actor, session_id)
        if index < len(state.tasks):
            task = state.tasks[index]
            async for event in job_events(store, task.job_id, job_after, hub):
                data: dict[str, Any] = event.to_dict()
                event_id = f"{index}.{event.id}"
                data.update(id=event_id, session_id=session_id, task_id=task.job_id,
                            task_index=index)  # fmt: skip
                yield event_id, dumps(data).decode()
            index, job_after = index + 1, None
            await sessions.advance(actor, session_id)  # a queued message starts now
            continue
        await sessions.store.wait_announcement(session_id, position, WAIT_SECONDS)


__all__ = ["parse_session_event_id", "session_events"]
