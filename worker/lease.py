"""The job lease heartbeat: keeps ``orch:lease:{job_id}`` alive and notices cancels (DESIGN §7)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from orchestrator.errors import StateError
from orchestrator.state.base import StateStore
from orchestrator.types import JobId

log = structlog.get_logger("worker.lease")


class LeaseHeartbeat:
    """Renews a held lease every third of its TTL until stopped.

    Args:
        store: The state store.
        job_id: The job whose lease this worker holds.
        worker_id: This worker.
        ttl_seconds: Lease lifetime; renewed every ``ttl_seconds / 3``.
        on_lost: Called once if another worker took the lease (the run must stop).
        on_cancel: Called once when a cancel of the job is requested.
        slot_key: The job's concurrency slot set, renewed with the lease.
    """

    def __init__(
        self,
        store: StateStore,
        job_id: JobId,
        worker_id: str,
        ttl_seconds: float,
        *,
        on_lost: Callable[[], None],
        on_cancel: Callable[[], None],
        slot_key: str | None = None,
    ) -> None:
        self._store = store
        self._job_id = job_id
        self._worker_id = worker_id
        self._ttl = ttl_seconds
        self._on_lost = on_lost
        self._on_cancel = on_cancel
        self._slot_key = slot_key
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start renewing in the background."""
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="lease")

    async def stop(self) -> None:
        """Stop renewing (the lease itself is released by the caller)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _beat(self) -> None:
        cancel_seen = False
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                answer = await self._store.renew_lease(
                    self._job_id, self._worker_id, self._ttl, self._slot_key
                )
            except StateError as exc:  # transient: the next beat retries before the TTL runs out
                log.warning("lease renewal failed", job_id=self._job_id, error=str(exc))
                continue
            if answer == "LOST":
                log.warning("lease lost to another worker", job_id=self._job_id)
                self._on_lost()
                return
            if answer == "CANCEL" and not cancel_seen:
                cancel_seen = True
                self._on_cancel()


__all__ = ["LeaseHeartbeat"]
