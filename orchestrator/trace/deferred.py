"""A trace store that loads SQLAlchemy and builds its engine on first use (worker start-up).

Importing SQLAlchemy and asyncpg is ~0.2 s of a worker's ~0.65 s start, and a worker's first
write to the trace store comes only after its first job's terminal event (DESIGN §3.3). A
KEDA one-job pod, or a worker replacing a crashed one, so starts its job that much sooner.
:meth:`DeferredTraceStore.build` may be called from a thread right after start-up, so that the
import runs while the worker waits on Redis rather than on the first write.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.trace.store import TraceStore


class DeferredTraceStore:
    """Stands for a :class:`~orchestrator.trace.store.TraceStore`, built on first use.

    Every attribute is the real store's; :meth:`close` closes it only if it was built.

    Args:
        url: The database URL, as ``TraceStore.from_url`` takes it.
        pool_size: Connections kept open (PostgreSQL).

    Raises:
        ConfigError: ``url`` is not a URL (``scheme://...``); a driver that is not installed
            is reported by the first use.
    """

    def __init__(self, url: str, *, pool_size: int) -> None:
        if "://" not in url:
            raise ConfigError(
                "the database URL is malformed", details={"setting": "ORCH_DATABASE__URL"}
            )
        self._url = url
        self._pool_size = pool_size
        self._real: TraceStore | None = None
        self._lock = threading.Lock()

    def build(self) -> TraceStore:
        """The real store, importing SQLAlchemy and creating the engine the first time.

        Raises:
            ConfigError: As ``TraceStore.from_url``.
        """
        with self._lock:
            if self._real is None:
                from orchestrator.trace.store import TraceStore

                self._real = TraceStore.from_url(self._url, pool_size=self._pool_size)
            return self._real

    @property
    def built(self) -> bool:
        """Whether the real store exists yet."""
        return self._real is not None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.build(), name)

    async def close(self) -> None:
        """Dispose of the real store's engine, if it was built."""
        if self._real is not None:
            await self._real.close()


async def ready(trace: Any) -> Any:
    """``trace`` itself, or, for a :class:`DeferredTraceStore`, its real store, built in a thread
    the first time: building imports SQLAlchemy and asyncpg (a second of CPU on a busy machine),
    which on the event loop would stop the worker's lease heartbeat for as long (a one-job
    worker with a short lease TTL lost its job's lease to its own reaper). Async users in a
    worker call this before their first use of the store.

    Raises:
        ConfigError: As ``TraceStore.from_url``.
    """
    if isinstance(trace, DeferredTraceStore):
        return trace._real if trace._real is not None else await asyncio.to_thread(trace.build)
    return trace


__all__ = ["DeferredTraceStore", "ready"]
