"""The execution hook that starts a session's queued message when its task ends (DESIGN §18).

A message sent to a busy session with ``on_busy: enqueue`` waits in the session's state; the
worker that ends the running task starts the next one at once, whether or not a client is
connected (gateways also start it when a client next touches the session).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from orchestrator.jobs.actor import Actor
from orchestrator.services import Services
from orchestrator.types import JobStatus, JSONValue
from worker.hooks import ExecutionHook, JobRun

if TYPE_CHECKING:
    from orchestrator.sessions import SessionService

log = structlog.get_logger("worker.sessions")

INTERNAL = Actor(id="worker", all_tenants=True)
"""Who advances a session: the worker itself (the task runs as the session's owner)."""


class SessionHook(ExecutionHook):
    """Advances the session of an ended task of ``sessions.workflow``.

    Args:
        services: The worker's services.
    """

    def __init__(self, services: Services) -> None:
        self._services = services
        self._sessions: SessionService | None = None

    def _service(self) -> SessionService:
        if self._sessions is None:
            # imported on first use: a worker that runs no session task never imports SQLAlchemy
            from orchestrator.jobs.service import JobService
            from orchestrator.sessions import SessionHistory, SessionService, SessionStore

            settings = self._services.settings.sessions
            store = SessionStore(self._services.redis, self._services.keys,
                                 ttl_seconds=settings.ttl_seconds)  # fmt: skip
            self._sessions = SessionService(
                JobService(self._services), store, SessionHistory(self._services.trace.engine),
                workflow=settings.workflow,
            )  # fmt: skip
        return self._sessions

    async def on_job_end(
        self, run: JobRun, status: JobStatus, result: JSONValue, error: JSONValue
    ) -> None:
        """When a session's task ends, start the session's next queued message."""
        if run.workflow != self._services.settings.sessions.workflow:
            return
        try:
            state = await self._services.state.get_job(run.job_id)
            session_id = state.inputs.get("session_id") if state is not None else None
            if isinstance(session_id, str) and session_id:
                await self._service().advance(INTERNAL, session_id)
        except Exception as exc:  # a gateway starts it on the session's next use instead
            log.warning("session not advanced", job_id=run.job_id, error=str(exc))


__all__ = ["SessionHook"]
