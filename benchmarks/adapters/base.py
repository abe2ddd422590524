"""The one interface every benchmarked system implements (STYLE rule 2: the seam's ``base.py``).

A :class:`System` starts and stops its own infrastructure and worker processes and offers the
primitives the workloads time: a workload (``benchmarks/workloads``) is ``run(system, params)
-> dict`` over these calls, so every system is measured by the same code. A system lists the
workloads it can express in ``workloads``; the runner skips the others (and says why).

Conventions: durations are seconds (floats) from ``time.perf_counter`` unless named otherwise;
every wait takes a timeout and raises ``TimeoutError`` when it passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class StreamResult:
    """What the clients of one streaming job saw (workload e).

    Attributes:
        latencies_ms: Yield-to-receive latency of every chunk at every client, in ms.
        lost: Chunks some client never received (summed over clients).
        duplicated: Chunks some client received more than once (summed over clients).
        client_procs: Processes the measuring clients ran in.
        late_connect: Some client connected after the first chunk was due (its early chunks
            then came from the replay, and their latency includes the wait).
    """

    latencies_ms: list[float] = field(default_factory=list)
    lost: int = 0
    duplicated: int = 0
    client_procs: int = 1
    late_connect: bool = False


@runtime_checkable
class System(Protocol):
    """A system under test, in one configuration (a *variant*).

    Attributes:
        name: The system (``agent-orchestrator``, ``arq``, ``celery``, ``dbos``).
        variant: ``default`` or ``tuned`` (its documented latency tuning), or another named set.
        workloads: The workload letters (``"a"``..``"f"``) it can express.
        config: The settings this variant runs with, as recorded in the report.
        notes: Why a workload is not expressible, by letter (shown in the report).
    """

    name: str
    variant: str
    workloads: frozenset[str]
    config: dict[str, Any]
    notes: dict[str, str]

    async def start(self) -> None:
        """Start the system's own infrastructure (gateway, schema); no worker yet."""

    async def stop(self) -> None:
        """Stop everything it started; safe to call twice and after a failed start."""

    async def start_workers(self, count: int) -> None:
        """Start ``count`` worker processes and wait until they can take work."""

    async def stop_workers(self) -> None:
        """Stop every worker process (gracefully, then by force)."""

    def worker_pids(self) -> list[int]:
        """Process ids of the running worker processes (their process groups)."""

    def worker_rss_bytes(self) -> int:
        """Resident memory of all worker processes and their children, in bytes."""

    async def kill_workers(self) -> None:
        """``kill -9`` every worker process group (workload f)."""

    async def diamond(self) -> float | None:
        """Run one no-op diamond A → {B, C} → D to its result (workload a).

        Returns:
            The time inside the worker(s) (first step start to last step end, or the job's
            started → succeeded events), in seconds, or ``None`` when not observable.
        """

    async def enqueue_noops(self, count: int) -> None:
        """Enqueue ``count`` single-step no-op jobs as fast as the client allows (workload b)."""

    async def noops_remaining(self) -> int:
        """How many of the enqueued no-op jobs have not finished yet."""

    async def fanout(self, width: int) -> None:
        """Run one job of ``width`` parallel no-op steps and a join, to its result (workload c)."""

    async def chain(self, length: int, size_bytes: int) -> None:
        """Run one chain of ``length`` steps, each output ``size_bytes`` long (workload d)."""

    async def stream(
        self, chunks: int, clients: int, transport: str, interval_ms: float
    ) -> StreamResult:
        """One streaming step yielding ``chunks`` chunks to ``clients`` clients (workload e).

        Args:
            transport: ``ws`` or ``sse``.
            interval_ms: Pause between two chunks, in ms.
        """

    async def crash_submit(self, marker_dir: str, length: int, crash_at: int) -> Any:
        """Submit a ``length``-step chain whose steps record each run under ``marker_dir``.

        Step ``crash_at`` writes its marker and then waits for the file ``<marker_dir>/killed``
        (bounded), so the workload can kill the worker while it runs (workload f).

        Returns:
            A handle for :meth:`crash_wait`.
        """

    async def crash_wait(self, handle: Any, timeout_seconds: float) -> bool:
        """Wait until the crash job ended successfully; ``False`` after the timeout."""


__all__ = ["StreamResult", "System"]
