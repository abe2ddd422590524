"""What every adapter shares: step side effects for workload (f), and worker-process bookkeeping.

The step helpers are imported by worker processes of every system, so they stay dependency-free.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # worker processes import this module: keep psutil out of their start
    from benchmarks.procs import Child

KILL_WAIT_SECONDS = 60.0
"""How long the crash step waits for the workload to kill its worker."""


def mark(marker_dir: str, step: str) -> None:
    """Record one execution of ``step`` (a line in ``<marker_dir>/<step>``)."""
    with open(Path(marker_dir) / step, "a") as f:
        f.write(f"{time.time()}\n")


def wait_killed(marker_dir: str) -> None:
    """Block until ``<marker_dir>/killed`` exists (bounded): the crash step's pause."""
    path = Path(marker_dir) / "killed"
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.005)


async def wait_killed_async(marker_dir: str) -> None:
    """:func:`wait_killed` for async steps."""
    path = Path(marker_dir) / "killed"
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while not path.exists() and time.monotonic() < deadline:  # noqa: ASYNC110 (another process's file)
        await asyncio.sleep(0.005)


def payload(size_bytes: int) -> str:
    """A string of ``size_bytes`` ASCII characters (a step output of that size)."""
    return "x" * size_bytes


async def import_times(statement: str, env: Mapping[str, str], runs: int = 5) -> list[float]:
    """Seconds the imports of ``python -X importtime -c statement`` took beyond the
    interpreter's own start (the top-level entries summed, less those of ``-c pass``), ``runs``
    times; for workload (h).

    Raises:
        subprocess.CalledProcessError: The statement failed.
    """
    import os
    import subprocess
    import sys

    from benchmarks.procs import ROOT

    async def top_level_us(code: str) -> int:
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-X", "importtime", "-c", code],
            cwd=ROOT, env={**os.environ, **env}, capture_output=True, timeout=60, check=True,
        )
        total = 0
        for line in done.stderr.decode().splitlines():
            parts = line.split("|")
            if (len(parts) == 3 and line.startswith("import time:")
                    and parts[1].strip().isdigit() and not parts[2].startswith("  ")):
                total += int(parts[1])
        return total

    out: list[float] = []
    for _ in range(runs):
        out.append((await top_level_us(statement) - await top_level_us("pass")) / 1e6)
    return out


class WorkerProcesses:
    """Worker processes of one system: start, stop, kill, memory.

    Args:
        system: A short name for log files.
        log_dir: Where the workers log.
    """

    def __init__(self, system: str, log_dir: Path) -> None:
        self.system = system
        self.log_dir = log_dir
        self.children: list[Child] = []
        self._started = 0

    def spawn(self, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        """Start one worker process."""
        from benchmarks.procs import Child

        self._started += 1
        child = Child(f"{self.system}-worker-{self._started}", argv, env=env, log_dir=self.log_dir)
        self.children.append(child)
        return child

    async def start(
        self,
        count: int,
        command: Callable[[int], tuple[Sequence[str], Mapping[str, str]]],
        *,
        ready: str,
        timeout_seconds: float = 60.0,
        tail_chars: int = 2000,
    ) -> None:
        """Start ``count`` workers and wait until each has logged ``ready``.

        Args:
            count: How many.
            command: ``(argv, env)`` of the worker in slot ``n`` (1, 2, ... among the live
                workers, so a replacement started after :meth:`kill9` gets the dead one's slot).
            ready: The log text that says a worker is ready.
            timeout_seconds: Per worker.
            tail_chars: How much of the end of its log to search.

        Raises:
            RuntimeError: A worker did not get ready in time, or exited.
        """
        from benchmarks.procs import wait_for

        started = [self.spawn(*command(len(self.children) + 1)) for _ in range(count)]
        for child in started:
            await asyncio.to_thread(
                wait_for, lambda c=child: ready in c.tail(tail_chars),
                timeout_seconds=timeout_seconds, what=f"a {self.system} worker", children=[child],
            )

    def stop(self) -> None:
        """Stop all workers (SIGTERM, then SIGKILL after a few seconds)."""
        for child in self.children:
            child.stop(timeout_seconds=5)
        self.children.clear()

    def kill9(self) -> None:
        """``kill -9`` every worker process group."""
        for child in self.children:
            child.kill9()
        self.children.clear()

    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [c.pid for c in self.children if c.alive()]

    def rss_bytes(self) -> int:
        """Resident memory of all workers and their children, in bytes."""
        return sum(c.rss_bytes() for c in self.children)


class HasWorkers:
    """The :class:`~benchmarks.adapters.base.System` worker methods over ``self.workers``."""

    workers: WorkerProcesses

    async def stop_workers(self) -> None:
        await asyncio.to_thread(self.workers.stop)

    def worker_pids(self) -> list[int]:
        return self.workers.pids()

    def worker_rss_bytes(self) -> int:
        return self.workers.rss_bytes()

    async def kill_workers(self) -> None:
        self.workers.kill9()

    async def start_workers(self, n: int) -> None:
        raise NotImplementedError  # each system starts its own kind of worker

    async def idle_rss_mb(self, settle_seconds: float = 3.0) -> float:
        """RSS (MB) of one long-lived worker ``settle_seconds`` after its start, for (h)."""
        await self.start_workers(1)
        try:
            await asyncio.sleep(settle_seconds)
            rss = self.workers.rss_bytes()
        finally:
            await self.stop_workers()
        return round(rss / 2**20, 1)


__all__ = ["HasWorkers", "WorkerProcesses", "mark", "payload", "wait_killed", "wait_killed_async"]
