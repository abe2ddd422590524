"""Measure the import time of the worker's and the gateway's entry points (``python -X importtime``).

A KEDA worker pod is started from zero for each job, so what ``orchestrator worker --one-job``
imports before it takes the job is latency on every job. Usage::

    .venv/bin/python deploy/tools/importtime.py [--runs 5]

It prints, per entry point, the best total of ``-X importtime`` over the runs (milliseconds), the
slowest top-level imports, and whether a module that has no business in the worker (the gateway,
FastAPI, uvicorn, anthropic, elastic-apm, the kubernetes client) was imported.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass

ENTRY_POINTS = {
    # What `orchestrator worker --one-job` imports: the CLI module, then the worker runner.
    "worker": ["orchestrator.cli.main", "worker.runner"],
    # What `orchestrator gateway` imports: the CLI module, uvicorn and the app factory.
    "gateway": ["orchestrator.cli.main", "uvicorn", "gateway.app"],
}
KEPT_OUT_OF_THE_WORKER = ("gateway", "fastapi", "starlette", "uvicorn", "anthropic", "elasticapm",
                          "kubernetes", "mcp")
LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


@dataclass(frozen=True)
class ImportProfile:
    """One ``-X importtime`` run.

    Attributes:
        total_ms: The sum of the top-level imports' cumulative times.
        top: The slowest top-level imports as ``(module, cumulative_ms)``.
        modules: Every module imported.
    """

    total_ms: float
    top: list[tuple[str, float]]
    modules: frozenset[str]


def profile(modules: list[str], python: str = sys.executable) -> ImportProfile:
    """Import ``modules`` in a fresh interpreter with ``-X importtime`` and parse its report.

    Args:
        modules: Module names, imported in order.
        python: The interpreter.

    Returns:
        The profile of that run.

    Raises:
        subprocess.CalledProcessError: An import failed.
    """
    code = "; ".join(f"import {m}" for m in modules)
    result = subprocess.run([python, "-X", "importtime", "-c", code], capture_output=True,
                            text=True, check=True, timeout=120)
    top: list[tuple[str, float]] = []
    names: set[str] = set()
    for line in result.stderr.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        names.add(match[4])
        if len(match[3]) == 1:  # one space: a top-level import of the -c code
            top.append((match[4], int(match[2]) / 1000))
    top.sort(key=lambda item: item[1], reverse=True)
    return ImportProfile(sum(ms for _, ms in top), top[:5], frozenset(names))


def best_of(modules: list[str], runs: int) -> ImportProfile:
    """The fastest of ``runs`` profiles (the others paid for a cold disk cache)."""
    return min((profile(modules) for _ in range(runs)), key=lambda p: p.total_ms)


def unwanted_in_worker(profile_: ImportProfile) -> list[str]:
    """The modules of :data:`KEPT_OUT_OF_THE_WORKER` (or their submodules) that were imported."""
    return sorted(m for m in profile_.modules if m.split(".")[0] in KEPT_OUT_OF_THE_WORKER)


def main(argv: list[str] | None = None) -> int:
    """Print the import time of each entry point; exit 1 if the worker imports what it must not."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="Runs per entry point; best wins.")
    args = parser.parse_args(argv)
    status = 0
    for name, modules in ENTRY_POINTS.items():
        result = best_of(modules, args.runs)
        slowest = ", ".join(f"{m} {ms:.0f}" for m, ms in result.top)
        print(f"{name:8s} {result.total_ms:7.0f} ms   ({slowest})")
        if name == "worker" and unwanted_in_worker(result):
            print(f"         imports {', '.join(unwanted_in_worker(result))}")
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
