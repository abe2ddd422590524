"""Audit rows of tool calls, written off the call's path (DESIGN §14, §20).

Actions ``tool.call`` (actor, tenant, tool, SHA-256 digest of the arguments, outcome, duration)
and ``tool.refused`` (the deciding tag, and the argument and constraint of a scope violation).
Rows go to the trace store's ``audit_log`` through a queue drained by one background task, so a
tool call does not wait for a database round trip; :meth:`AuditWriter.flush` waits for them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from orchestrator.jobs.actor import Actor
from orchestrator.trace.records import AuditRecord
from orchestrator.types import JobId

log = structlog.get_logger("orchestrator.mcp.audit")

MAX_PENDING = 10_000
"""Rows queued at most; beyond, rows are dropped with a warning rather than blocking calls."""


def digest_of(arguments: Mapping[str, Any] | None) -> str:
    """SHA-256 (hex) of the arguments as canonical JSON: the audit log never holds the values."""
    canonical = json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, default=str)  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()


def tool_record(
    actor: Actor, action: str, details: dict[str, Any], *, job_id: JobId | None = None
) -> AuditRecord:
    """An ``audit_log`` row for ``actor``'s tool call."""
    return AuditRecord(
        at=datetime.now(UTC), actor=actor.id, action=action, tenant_id=actor.tenant_id,
        job_id=job_id, details=details, request_id=actor.request_id, client_ip=actor.client_ip,
    )  # fmt: skip


class AuditWriter:
    """Writes audit rows in the background.

    Args:
        write: The trace store's ``add_audit`` (``None``: rows are only logged at debug level).
    """

    def __init__(self, write: Callable[[AuditRecord], Awaitable[None]] | None) -> None:
        self._write = write
        self._queue: asyncio.Queue[AuditRecord] = asyncio.Queue(MAX_PENDING)
        self._task: asyncio.Task[None] | None = None

    def submit(self, record: AuditRecord) -> None:
        """Queue a row (never blocks, never raises)."""
        if self._write is None:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            log.warning("audit queue full; tool audit row dropped", action=record.action)

    async def _drain(self) -> None:
        assert self._write is not None
        while True:
            record = await self._queue.get()
            try:
                await self._write(record)
            except Exception as exc:  # an audit outage must not fail tool calls
                log.warning("tool audit write failed", action=record.action,
                            error=type(exc).__name__)  # fmt: skip
            finally:
                self._queue.task_done()

    async def flush(self, timeout_seconds: float = 10.0) -> None:
        """Wait (bounded) until every queued row is written."""
        if self._task is None:
            return
        try:
            async with asyncio.timeout(timeout_seconds):
                await self._queue.join()
        except TimeoutError:
            log.warning("tool audit rows still pending", pending=self._queue.qsize())

    async def close(self, timeout_seconds: float = 10.0) -> None:
        """Flush, then stop the background task."""
        await self.flush(timeout_seconds)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


__all__ = ["AuditWriter", "digest_of", "tool_record"]
