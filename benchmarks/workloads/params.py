"""Sample sizes: ``quick`` (a smoke run of a couple of minutes) and ``full`` (the issue's sizes).

Every loop is also bounded in time (``*_max_seconds``): a peer at its defaults polls every 0.5-1 s,
and 1,000 samples of it would take a quarter of an hour; the report shows the samples reached.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Params:
    """Sizes and bounds of one run."""

    mode: str = "full"
    diamond_warmup: int = 50
    diamond_samples: int = 1000
    diamond_max_seconds: float = 240.0
    noop_jobs: int = 10_000
    noop_workers: int = 2
    drain_max_seconds: float = 600.0
    fanout_width: int = 1000
    fanout_reps: int = 3
    fanout_workers: int = 2
    fanout_timeout_seconds: float = 180.0
    chain_lengths: list[int] = field(default_factory=lambda: [1, 10, 100])
    chain_sizes: list[int] = field(default_factory=lambda: [100, 10_000, 1_000_000])
    chain_reps: int = 3
    chain_max_seconds: float = 300.0
    stream_chunks: int = 1000
    stream_clients: list[int] = field(default_factory=lambda: [1, 10, 100])
    stream_transports: list[str] = field(default_factory=lambda: ["ws", "sse"])
    stream_interval_ms: float = 1.0
    # Also 100 WebSocket clients at a token stream's pace (an LLM yields ~20-100 chunks/s): 1 ms
    # apart, 100 clients are 100,000 messages/s, which this 2-core machine cannot carry whatever
    # the server; the paced case tells the transport's latency from the machine's saturation.
    stream_paced_interval_ms: float = 10.0
    crash_trials: int = 20
    crash_length: int = 10
    crash_at: int = 5
    crash_timeout_seconds: float = 60.0
    fixed_warmup: int = 50
    fixed_samples: int = 1000
    fixed_max_seconds: float = 120.0
    cold_runs: int = 20
    batch_jobs: int = 20_000
    batch_size: int = 1000

    def override(self, item: str) -> None:
        """Apply ``NAME=VALUE`` (lists comma-separated), typed like the current value.

        Raises:
            ValueError: Unknown name or a value of the wrong type.
        """
        name, sep, raw = item.partition("=")
        if not sep or not hasattr(self, name):
            raise ValueError(f"unknown parameter {name!r}; see benchmarks/workloads/params.py")
        current = getattr(self, name)
        if isinstance(current, list):
            kind = type(current[0]) if current else str
            setattr(self, name, [kind(x) for x in raw.split(",") if x])
        else:
            setattr(self, name, type(current)(raw))

    def as_dict(self) -> dict[str, Any]:
        """The parameters as JSON (recorded in the report)."""
        return asdict(self)


def quick() -> Params:
    """Small sizes: the whole matrix in a couple of minutes."""
    return Params(
        mode="quick",
        diamond_warmup=5,
        diamond_samples=40,
        diamond_max_seconds=8.0,
        noop_jobs=400,
        drain_max_seconds=30.0,
        fanout_width=100,
        fanout_reps=1,
        fanout_timeout_seconds=30.0,
        chain_lengths=[1, 10],
        chain_sizes=[100, 1_000_000],
        chain_reps=1,
        chain_max_seconds=20.0,
        stream_chunks=200,
        stream_clients=[1, 10],
        stream_paced_interval_ms=0.0,
        crash_trials=1,
        crash_timeout_seconds=10.0,
        fixed_warmup=5,
        fixed_samples=100,
        fixed_max_seconds=10.0,
        cold_runs=5,
        batch_jobs=4000,
    )


def full() -> Params:
    """The issue's sizes."""
    return Params()


__all__ = ["Params", "full", "quick"]
