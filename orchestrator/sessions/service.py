"""Sessions: a conversation whose messages run tasks (jobs of ``sessions.workflow``) one at a
time, with a declared policy for a message that arrives while a task runs (DESIGN §18, §20).

- ``reject``: 409 ``session_busy``.
- ``enqueue``: the message waits; it starts when the running task ends.
- ``interrupt``: the running task is cancelled and the new one starts at once.

Each task is a job of the configured workflow (default ``agent``) with the inputs ``task`` (the
message), ``session_id`` and ``history`` (the earlier messages and replies, ``{role,
content}``), run as the session's owner. A queued message starts when anyone next touches the
session (a read, a message, an open event stream); the event streams of a session do so the
moment its task ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import structlog

from orchestrator.jobs.actor import Actor
from orchestrator.jobs.service import JobService
from orchestrator.sessions.errors import (
    NoOpenQuestionError,
    SessionBusyError,
    SessionNotVisibleError,
)
from orchestrator.sessions.history import SessionHistory
from orchestrator.sessions.state import OnBusy, SessionState, SessionStore, SessionTask
from orchestrator.state.records import JobState
from orchestrator.trace.records import AuditRecord
from orchestrator.types import JobStatus

log = structlog.get_logger("orchestrator.sessions")


def reply_of(result: Any) -> str:
    """A task's reply text from its job's result (``{sink: output}``): an ``AgentOutput``'s
    ``content``, a string output, else the output as JSON."""
    value = result
    if isinstance(result, dict) and len(result) == 1:
        value = next(iter(result.values()))
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"])
    return value if isinstance(value, str) else json.dumps(value, default=str)


@dataclass(slots=True)
class SessionView:
    """What ``GET /v1/sessions/{id}`` returns (see :meth:`SessionService.view`)."""

    state: SessionState
    status: str
    tasks: list[dict[str, Any]]
    question: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        s = self.state
        return {"session_id": s.id, "status": self.status, "intent": s.intent,
                "metadata": s.metadata, "on_busy": s.on_busy, "tasks": self.tasks,
                "queued": list(s.queue), "question": self.question,
                "created_at": s.created_at}  # fmt: skip


class SessionService:
    """Creates sessions, routes their messages and answers, and reports their state.

    Args:
        jobs: The gateway's job service (submit, cancel, answer).
        store: Live session states.
        history: The PostgreSQL record.
        workflow: The workflow a message runs (``sessions.workflow``).
    """

    def __init__(
        self, jobs: JobService, store: SessionStore, history: SessionHistory, *, workflow: str
    ) -> None:
        self.jobs = jobs
        self.store = store
        self.history = history
        self.workflow = workflow

    async def create(
        self, actor: Actor, *, intent: str | None, metadata: dict[str, Any], on_busy: OnBusy
    ) -> SessionView:
        """Open a session owned by ``actor`` (audited ``session.create``)."""
        state = SessionState(id=self.store.new_id(), tenant_id=actor.tenant_id, user_id=actor.id,
                             role=actor.role, intent=intent, metadata=metadata,
                             on_busy=on_busy)  # fmt: skip
        await self.history.create(state)
        await self.store.save(state)
        await self._audit(actor, "session.create", state, {"on_busy": on_busy})
        return await self.view(actor, state.id)

    async def get(self, actor: Actor, session_id: str) -> SessionState:
        """The session, if ``actor`` may see it (its tenant; a submitter: its own).

        Raises:
            SessionNotFoundError: Unknown, expired, or not visible (the same 404).
        """
        state = await self.store.get(session_id)
        visible = actor.all_tenants or (
            state.tenant_id == actor.tenant_id
            and (not actor.own_jobs_only or state.user_id == actor.id)
        )
        if not visible:
            raise SessionNotVisibleError("no such session", details={"session_id": session_id})
        return state

    async def view(self, actor: Actor, session_id: str) -> SessionView:
        """The session's status (``idle``, ``busy``, ``waiting``, ``error``), its tasks with
        their status and reply, and the open question; starts a queued message when due."""
        await self.advance(actor, session_id)
        state = await self.get(actor, session_id)
        tasks: list[dict[str, Any]] = []
        current: JobState | None = None
        for i, task in enumerate(state.tasks):
            job = await self.jobs.services.state.get_job(task.job_id)
            status = job.status.value if job else "expired"
            entry: dict[str, Any] = {"index": i, "task_id": task.job_id, "message": task.message,
                                     "status": status}  # fmt: skip
            if job is not None and job.status is JobStatus.SUCCEEDED:
                entry["reply"] = reply_of(job.result)
            if job is not None and job.status is JobStatus.FAILED:
                entry["error"] = job.error
            tasks.append(entry)
            current = job
        question = None
        status = "idle"
        if current is not None and not current.status.is_terminal:
            status = "waiting" if current.status is JobStatus.WAITING else "busy"
            if current.questions:
                step, q = next(iter(current.questions.items()))
                question = {"task_id": current.job_id, "step": step, **q}
        elif current is not None and current.status is JobStatus.FAILED:
            status = "error"
        return SessionView(state, status, tasks, question)

    async def message(self, actor: Actor, session_id: str, text: str) -> dict[str, Any]:
        """Send a message: start a task when idle; when busy, follow ``on_busy``.

        Returns:
            ``{"action": "started"|"enqueued"|"interrupted", "task_id"?, "position"?}``.

        Raises:
            SessionNotFoundError: 404. SessionBusyError: 409, busy and ``on_busy`` is reject.
        """
        await self.get(actor, session_id)
        async with self.store.locked(session_id):
            state = await self.store.get(session_id)
            running = await self._running(state)
            if running is None:
                job_id = await self._start(state, text)
                return {"action": "started", "task_id": job_id}
            if state.on_busy == "reject":
                raise SessionBusyError("a task is running in this session",
                                       details={"session_id": session_id, "task_id": running})  # fmt: skip
            if state.on_busy == "enqueue":
                state.queue.append(text)
                await self.store.save(state)
                await self.history.add(session_id, "user", text, None)
                return {"action": "enqueued", "position": len(state.queue)}
            owner = self._owner(state)
            try:
                await self.jobs.cancel(running, actor=owner)
            except Exception as exc:  # it ended meanwhile: nothing to interrupt
                log.info("interrupt found the task ended", task_id=running, error=str(exc))
            job_id = await self._start(state, text)
            return {"action": "interrupted", "task_id": job_id, "cancelled": running}

    async def answer(self, actor: Actor, session_id: str, answer: Any) -> dict[str, Any]:
        """Answer the open question of the session's running task.

        Raises:
            SessionNotFoundError: 404. NoOpenQuestionError: 409, no task waits for an answer.
            AnswerValidationError: 422, the answer does not match the question's schema.
        """
        state = await self.get(actor, session_id)
        if state.tasks:
            job = await self.jobs.services.state.get_job(state.tasks[-1].job_id)
            if job is not None and job.status is JobStatus.WAITING and job.questions:
                step = await self.jobs.answer(job.job_id, answer, actor=self._owner(state))
                return {"action": "answered", "task_id": job.job_id, "step": step}
        raise NoOpenQuestionError("no task of this session waits for an answer",
                                  details={"session_id": session_id})  # fmt: skip

    async def cancel(self, actor: Actor, session_id: str) -> dict[str, Any]:
        """Cancel the running task (and drop queued messages)."""
        await self.get(actor, session_id)
        async with self.store.locked(session_id):
            state = await self.store.get(session_id)
            state.queue.clear()
            await self.store.save(state)
            running = await self._running(state)
            if running is None:
                return {"action": "idle"}
            status = await self.jobs.cancel(running, actor=self._owner(state))
            return {"action": "cancelled", "task_id": running, "status": status}

    async def advance(self, actor: Actor, session_id: str) -> bool:
        """Start the next queued message when no task runs; record finished replies.

        Returns:
            Whether a task was started.
        """
        state = await self.get(actor, session_id)
        if not state.queue and all(t.recorded for t in state.tasks):
            return False
        async with self.store.locked(session_id):
            state = await self.store.get(session_id)
            await self._record_replies(state)
            if not state.queue or await self._running(state) is not None:
                await self.store.save(state)
                return False
            text = state.queue.pop(0)
            await self._start(state, text, recorded_message=True)
            return True

    # -- internals (called under the session's lock) ---------------------------------------

    @staticmethod
    def _owner(state: SessionState) -> Actor:
        return Actor(id=state.user_id, tenant_id=state.tenant_id, role=state.role)

    async def _running(self, state: SessionState) -> str | None:
        if not state.tasks:
            return None
        job = await self.jobs.services.state.get_job(state.tasks[-1].job_id)
        if job is None or job.status.is_terminal:
            return None
        return job.job_id

    async def _record_replies(self, state: SessionState) -> list[dict[str, str]]:
        """Write the replies of ended tasks to the history; return the conversation so far."""
        conversation: list[dict[str, str]] = []
        for task in state.tasks:
            conversation.append({"role": "user", "content": task.message})
            job = await self.jobs.services.state.get_job(task.job_id)
            if job is None or not job.status.is_terminal:
                continue
            reply = reply_of(job.result) if job.status is JobStatus.SUCCEEDED else ""
            if reply:
                conversation.append({"role": "assistant", "content": reply})
            if not task.recorded:
                if reply:
                    await self.history.add(state.id, "assistant", reply, task.job_id)
                task.recorded = True
        return conversation

    async def _start(
        self, state: SessionState, text: str, *, recorded_message: bool = False
    ) -> str:
        history = await self._record_replies(state)
        inputs = {"task": text, "session_id": state.id, "history": history}
        record, _ = await self.jobs.submit_once(self.workflow, inputs, actor=self._owner(state))
        state.tasks.append(SessionTask(job_id=record.id, message=text))
        await self.store.save(state)
        await self.store.announce(state, len(state.tasks) - 1)
        if not recorded_message:
            await self.history.add(state.id, "user", text, record.id)
        return record.id

    async def _audit(
        self, actor: Actor, action: str, state: SessionState, details: dict[str, Any]
    ) -> None:
        from datetime import UTC, datetime

        await self.jobs.services.trace.add_audit(AuditRecord(
            at=datetime.now(UTC), actor=actor.id, action=action, tenant_id=actor.tenant_id,
            details={"session_id": state.id, **details}, request_id=actor.request_id,
            client_ip=actor.client_ip,
        ))  # fmt: skip


__all__ = ["SessionService", "SessionView", "reply_of"]
