"""Agent tasks in PostgreSQL (or SQLite): ``agent_runs`` and ``messages`` (DESIGN §17).

A task is a job (``task_id = job_id``); its status is the job's (the ``jobs`` table, joined),
never copied here. Writes are idempotent, so a step that runs again (retry, resume) writes the
same rows again harmlessly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, select, true, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.errors import TraceError
from orchestrator.trace.schema import agent_runs, jobs, messages


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A task as stored, with its job's status.

    Attributes:
        task_id: The job's id.
        status: The job's status (``queued`` ... ``cancelled``).
        selected_agent: The agent the router named (``None`` before routing).
        confidence, reasoning, routed_at: The routing decision.
        accepted: Whether the decision passed the threshold (``None`` before routing).
        result: The ``AgentOutput`` as JSON, once the agent replied.
    """

    task_id: str
    tenant_id: str | None
    user_id: str | None
    session_id: str | None
    task: str
    status: str
    selected_agent: str | None
    confidence: float | None
    reasoning: str | None
    accepted: bool | None
    routed_at: datetime | None
    result: Any
    created_at: datetime


class AgentStore:
    """Reads and writes agent tasks.

    Args:
        engine: The trace store's engine, or a function returning it (a worker builds its
            trace store lazily).
    """

    def __init__(self, engine: AsyncEngine | Callable[[], AsyncEngine]) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine."""
        return self._engine if isinstance(self._engine, AsyncEngine) else self._engine()

    async def create(
        self, task_id: str, *, task: str, tenant_id: str | None, user_id: str | None,
        session_id: str | None,
    ) -> None:  # fmt: skip
        """Record a new task and its user message (a repeat is a no-op).

        Raises:
            TraceError: The database failed.
        """
        now = datetime.now(UTC)
        tid = uuid.UUID(task_id)
        try:
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(insert(agent_runs).values(
                        task_id=tid, tenant_id=tenant_id, user_id=user_id, session_id=session_id,
                        task=task, created_at=now))  # fmt: skip
            except IntegrityError:
                return  # recorded already (the gateway and the route step both record it)
            await self._message(tid, "user", task, session_id, tenant_id, now)
        except SQLAlchemyError as exc:
            raise TraceError(f"cannot record the task: {exc}") from exc

    async def record_route(
        self, task_id: str, *, agent_name: str, confidence: float, reasoning: str,
        accepted: bool, task: str, tenant_id: str | None, user_id: str | None,
        session_id: str | None,
    ) -> None:  # fmt: skip
        """Store the routing decision (creating the task's row when the ``agent`` workflow was
        submitted some other way, e.g. ``POST /v1/jobs``).

        Raises:
            TraceError: The database failed.
        """
        await self.create(task_id, task=task, tenant_id=tenant_id, user_id=user_id,
                          session_id=session_id)  # fmt: skip
        try:
            async with self.engine.begin() as conn:
                await conn.execute(update(agent_runs).where(
                    agent_runs.c.task_id == uuid.UUID(task_id)).values(
                    selected_agent=agent_name[:200], confidence=confidence, reasoning=reasoning,
                    accepted=accepted, routed_at=datetime.now(UTC)))  # fmt: skip
        except SQLAlchemyError as exc:
            raise TraceError(f"cannot record the routing decision: {exc}") from exc

    async def record_output(self, task_id: str, output: dict[str, Any]) -> None:
        """Store the agent's output and its reply message.

        Raises:
            TraceError: The database failed.
        """
        tid = uuid.UUID(task_id)
        try:
            async with self.engine.begin() as conn:
                row = (await conn.execute(select(agent_runs.c.session_id, agent_runs.c.tenant_id)
                                          .where(agent_runs.c.task_id == tid))).first()  # fmt: skip
                await conn.execute(update(agent_runs).where(agent_runs.c.task_id == tid)
                                   .values(result=output))  # fmt: skip
            session_id, tenant_id = (row.session_id, row.tenant_id) if row else (None, None)
            await self._message(tid, "assistant", str(output.get("content", "")), session_id,
                                tenant_id, datetime.now(UTC))  # fmt: skip
        except SQLAlchemyError as exc:
            raise TraceError(f"cannot record the agent's output: {exc}") from exc

    async def _message(
        self, tid: uuid.UUID, role: str, content: str, session_id: str | None,
        tenant_id: str | None, at: datetime,
    ) -> None:  # fmt: skip
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(messages).values(
                    task_id=tid, session_id=session_id, tenant_id=tenant_id, role=role,
                    content=content, created_at=at))  # fmt: skip
        except IntegrityError:
            pass  # written by an earlier attempt

    async def get(self, task_id: str, *, tenant_id: str | None) -> TaskRow | None:
        """The task (with its job's status), when it belongs to ``tenant_id`` (``None``: any).

        Raises:
            TraceError: The database failed.
        """
        try:
            tid = uuid.UUID(task_id)
        except ValueError:
            return None
        query = _select().where(agent_runs.c.task_id == tid)
        if tenant_id is not None:
            query = query.where(agent_runs.c.tenant_id == tenant_id)
        try:
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).first()
        except SQLAlchemyError as exc:
            raise TraceError(f"cannot read the task: {exc}") from exc
        return _row(row) if row is not None else None

    async def list_tasks(
        self, *, tenant_id: str | None, user_id: str | None = None, status: str | None = None,
        agent_type: str | None = None, since: datetime | None = None,
        until: datetime | None = None, limit: int = 50, offset: int = 0,
    ) -> tuple[list[TaskRow], int]:  # fmt: skip
        """Tasks newest first, filtered; and how many match in all.

        Raises:
            TraceError: The database failed.
        """
        conds = []
        if tenant_id is not None:
            conds.append(agent_runs.c.tenant_id == tenant_id)
        if user_id is not None:
            conds.append(agent_runs.c.user_id == user_id)
        if status is not None:
            conds.append(jobs.c.status == status)
        if agent_type is not None:
            conds.append(agent_runs.c.selected_agent == agent_type)
            conds.append(agent_runs.c.accepted.is_(True))
        if since is not None:
            conds.append(agent_runs.c.created_at >= since)
        if until is not None:
            conds.append(agent_runs.c.created_at < until)
        where = and_(true(), *conds)
        try:
            async with self.engine.connect() as conn:
                total = (await conn.execute(select(func.count()).select_from(
                    agent_runs.join(jobs, jobs.c.id == agent_runs.c.task_id)).where(where))).scalar_one()  # fmt: skip
                rows = (await conn.execute(_select().where(where).order_by(
                    agent_runs.c.created_at.desc()).limit(limit).offset(offset))).all()  # fmt: skip
        except SQLAlchemyError as exc:
            raise TraceError(f"cannot list tasks: {exc}") from exc
        return [_row(r) for r in rows], int(total)

    async def counts(self, *, tenant_id: str | None = None) -> list[dict[str, Any]]:
        """Tasks by agent and status: ``[{"agent", "status", "count"}]``.

        Raises:
            TraceError: The database failed.
        """
        agent = case((agent_runs.c.accepted.is_(True), agent_runs.c.selected_agent), else_=None)
        query = (select(agent, jobs.c.status, func.count())
                 .select_from(agent_runs.join(jobs, jobs.c.id == agent_runs.c.task_id))
                 .group_by(agent, jobs.c.status))  # fmt: skip
        if tenant_id is not None:
            query = query.where(agent_runs.c.tenant_id == tenant_id)
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        except SQLAlchemyError as exc:
            raise TraceError(f"cannot count tasks: {exc}") from exc
        return [{"agent": r[0] or "unrouted", "status": r[1], "count": int(r[2])} for r in rows]


def _select() -> Any:
    return select(agent_runs, jobs.c.status).select_from(
        agent_runs.join(jobs, jobs.c.id == agent_runs.c.task_id)
    )


def _row(row: Any) -> TaskRow:
    m = row._mapping
    return TaskRow(
        task_id=str(m["task_id"]), tenant_id=m["tenant_id"], user_id=m["user_id"],
        session_id=m["session_id"], task=m["task"], status=m["status"],
        selected_agent=m["selected_agent"], confidence=m["confidence"], reasoning=m["reasoning"],
        accepted=m["accepted"], routed_at=m["routed_at"], result=m["result"], created_at=m["created_at"],
    )  # fmt: skip


__all__ = ["AgentStore", "TaskRow"]
