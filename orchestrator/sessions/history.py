"""A session's durable record in PostgreSQL: the ``sessions`` row and its messages, in order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.errors import TraceError
from orchestrator.sessions.state import SessionState
from orchestrator.trace.schema import session_messages, sessions


class SessionHistory:
    """Writes and reads sessions and their messages.

    Args:
        engine: The trace database's engine (migrated to head).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, state: SessionState) -> None:
        """Insert the session's row.

        Raises:
            TraceError: The database failed.
        """
        row = {"id": uuid.UUID(state.id), "tenant_id": state.tenant_id, "user_id": state.user_id,
               "intent": state.intent, "on_busy": state.on_busy, "metadata": state.metadata,
               "created_at": datetime.fromtimestamp(state.created_at, UTC)}  # fmt: skip
        await self._run(insert(sessions).values(**row))

    async def add(self, session_id: str, role: str, content: str, task_id: str | None) -> None:
        """Append one message (``role``: ``user`` or ``assistant``).

        Raises:
            TraceError: The database failed.
        """
        await self._run(insert(session_messages).values(
            session_id=uuid.UUID(session_id), role=role, content=content,
            task_id=uuid.UUID(task_id) if task_id else None, at=datetime.now(UTC),
        ))  # fmt: skip

    async def messages(self, session_id: str) -> list[dict[str, Any]]:
        """The session's messages, oldest first: ``{"role", "content", "task_id", "at"}``."""
        query = (select(session_messages)
                 .where(session_messages.c.session_id == uuid.UUID(session_id))
                 .order_by(session_messages.c.id))  # fmt: skip
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).mappings().all()
        except SQLAlchemyError as exc:
            raise TraceError(f"reading session messages failed: {exc}") from exc
        return [{"role": r["role"], "content": r["content"],
                 "task_id": str(r["task_id"]) if r["task_id"] else None,
                 "at": r["at"].isoformat()} for r in rows]  # fmt: skip

    async def _run(self, statement: Any) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(statement)
        except SQLAlchemyError as exc:
            raise TraceError(f"writing session history failed: {exc}") from exc


__all__ = ["SessionHistory"]
